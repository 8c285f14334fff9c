"""The console adapter: two consoles on one database each deliver only their own user's
notifications."""

from __future__ import annotations

import io
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select

from bot.adapters.console import ConsoleAdapter
from bot.app import App
from bot.messages import Incoming
from storage.models import OutboxItem, Payment
from tests.conftest import ManualClock, make_config
from tests.helpers import payment_id_in, settle
from tools.providers.base import ProviderEvent


class Console(ConsoleAdapter):
    """A console whose terminal is a string: `say` types a line, `text` is what it shows."""

    def __init__(self, user: str, tmp_path: Path) -> None:
        super().__init__(
            user,
            locale="en",
            qr_dir=tmp_path / "qr",
            files_dir=tmp_path,
            stdin=io.StringIO(""),
            stdout=io.StringIO(),
        )

    @property
    def text(self) -> str:
        return self.stdout.getvalue()


async def _console_app(db_url: str, user: str, tmp_path: Path, clock: ManualClock):
    console = Console(user, tmp_path)
    app = App(make_config(db_url), adapters=[console], clock=clock)
    await app.start(background=False)
    return app, console


async def test_two_consoles_on_one_database_keep_their_messages(
    db_url: str, tmp_path: Path, clock: ManualClock
) -> None:
    """`paybot chat` (the customer) and `paybot chat --user admin` (the operator) at once:
    the customer's countdown, expiry and payment notices reach only the customer's terminal,
    the operator's alert only the operator's, whichever relay looks first."""
    shop, alice = await _console_app(db_url, "alice", tmp_path, clock)
    office, admin = await _console_app(db_url, "admin", tmp_path, clock)
    try:
        await shop.handle(Incoming("console", "alice", "alice", text="/buy pro sol"))
        expiring = payment_id_in(alice.text)
        await shop.handle(Incoming("console", "alice", "alice", text="/buy pro eth"))
        overpaid = payment_id_in(alice.text.split(f"#{expiring}")[-1])
        async with shop.db.sessions() as session:
            payment = await session.get(Payment, overpaid)
        await shop.events.apply_event(
            ProviderEvent(payment.provider_payment_id, "finished", payment.pay_amount * 2), "ipn"
        )
        # the operator's relay looks first, at every step: it must leave the customer's rows
        for _ in range(16):
            while await office.notifier.drain():
                pass
            await settle(shop, clock, 60, step=60)
        assert f"Payment #{overpaid} is complete" in alice.text
        assert f"Payment #{expiring}: 5 minutes left" in alice.text
        assert f"Payment #{expiring} expired" in alice.text
        assert "[to " not in alice.text and "overpaid" not in alice.text.lower()
        assert f"#{overpaid}" in admin.text and "overpaid" in admin.text.lower()
        assert "expired" not in admin.text and "[to " not in admin.text
        async with shop.db.sessions() as session:
            pending = (
                await session.scalars(select(OutboxItem).where(OutboxItem.status == "pending"))
            ).all()
        assert pending == []
        assert await shop.settled("console", "alice") and await office.settled("console", "admin")
    finally:
        await office.stop()
        await shop.stop()


async def test_a_console_leaves_the_other_users_notifications_pending(
    db_url: str, tmp_path: Path, clock: ManualClock
) -> None:
    """With no operator console running, the customer's console does not print the alert
    (and does not wait for it either): it stays for `paybot chat --user admin`."""
    shop, alice = await _console_app(db_url, "alice", tmp_path, clock)
    try:
        await shop.handle(Incoming("console", "alice", "alice", text="/buy pro eth"))
        paid = payment_id_in(alice.text)
        async with shop.db.sessions() as session:
            payment = await session.get(Payment, paid)
        extra = payment.pay_amount + Decimal("1")
        await shop.events.apply_event(
            ProviderEvent(payment.provider_payment_id, "finished", extra), "ipn"
        )
        await settle(shop, clock)
        assert f"Payment #{paid} is complete" in alice.text and "[to " not in alice.text
        async with shop.db.sessions() as session:
            waiting = (
                await session.scalars(
                    select(OutboxItem.chat_id).where(OutboxItem.status == "pending")
                )
            ).all()
        assert waiting == ["admin"]
        assert await shop.settled("console", "alice")
    finally:
        await shop.stop()
