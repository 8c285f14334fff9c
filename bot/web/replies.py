"""What the dashboard says after an action, in the operator's language: why the operator desk
refused it (`AdminError.code` and its params, as `error_text` words a `ShopError` for
customers) and what was done. The chat and the terminal keep the desk's English words."""

from __future__ import annotations

from bot.i18n import _
from bot.web.pages import status_name
from tools.admin.desk import AdminError


def refusal(exc: AdminError) -> str:
    """The desk's refusal, translated; its English text when the code is new to us."""
    texts = {
        "not_a_reference": _("Not a customer: {ref} (use telegram:123 or @name)."),
        "no_user": _("There is no customer {ref}."),
        "several_users": _("{ref} names more than one customer: {names}. Use platform:id."),
        "not_linked": _("{ref} is not linked to another account."),
        "unknown_plan": _("There is no plan {plan}. Plans: {valid}."),
        "bad_days": _("Days: a whole number from 1 to {most}."),
        "nothing_to_revoke": _("{ref} has no plan to end."),
        "no_payment": _("There is no payment #{payment_id}."),
        "nothing_to_resend": _("Payment #{payment_id} has no notification to send again."),
    }
    template = texts.get(exc.code)
    if template is None:
        return str(exc)
    try:
        return template.format(**exc.params)
    except (KeyError, IndexError):
        return str(exc)


def done(action: str, query: dict[str, str]) -> str | None:
    """The message for a finished action (`?done=ACTION` on the page it leads to), or None."""
    payment = query.get("payment", "")
    if action == "grant":
        return _("Plan {plan} granted; the customer is told.").format(plan=query.get("plan", ""))
    if action == "revoke":
        return _("Every plan of this customer has ended; the customer is told.")
    if action == "resend":
        return _("The last notification of payment #{id} is queued again.").format(id=payment)
    if action == "settle":
        return _("Payment #{id} is marked as handled.").format(id=payment)
    if action == "reconcile":
        status = status_name(query.get("status", ""))
        texts = {
            "agrees": _("Payment #{id} agrees with the provider."),
            "applied": _("Payment #{id} was updated from the provider: {status}."),
            "left": _(
                "The provider says {status}; payment #{id} never moves backwards, so it was "
                "left as it is."
            ),
            "unreadable": _("The provider could not be read for payment #{id}. Try again later."),
        }
        template = texts.get(query.get("result", ""))
        return template.format(id=payment, status=status) if template else None
    return None
