"""The stats chart: daily revenue above, payments per day by status below, as a PNG.

Drawn with matplotlib's object API on the Agg canvas (no pyplot state, no display), so it is
safe in a server process. Amounts are plotted as floats: a picture, never a money path.
"""

from __future__ import annotations

import io

from tools.admin.stats import Stats

STATUS_COLOURS = {  # finished green, open amber/blue, closed grey/red
    "finished": "#2e7d32",
    "partially_paid": "#f9a825",
    "waiting": "#90caf9",
    "confirming": "#42a5f5",
    "confirmed": "#1e88e5",
    "sending": "#1565c0",
    "expired": "#9e9e9e",
    "cancelled": "#616161",
    "failed": "#c62828",
    "refunded": "#6a1b9a",
}


def stats_chart(stats: Stats, shop_name: str) -> bytes:
    from matplotlib.figure import Figure  # imported when first drawn: a heavy import

    days = [d.day for d in stats.days]
    labels = [d.strftime("%m-%d") for d in days]
    positions = range(len(days))
    figure = Figure(figsize=(8, 5.5), dpi=100, layout="constrained")
    revenue, payments = figure.subplots(2, 1, sharex=True)
    revenue.bar(positions, [float(d.revenue) for d in stats.days], color="#2e7d32")
    revenue.set_ylabel(stats.currency)
    revenue.set_title(f"{shop_name}: revenue per day ({stats.period.name}, {stats.period.zone})")
    bottom = [0] * len(days)
    for status, colour in STATUS_COLOURS.items():
        counts = [d.created.get(status, 0) for d in stats.days]
        if any(counts):
            payments.bar(positions, counts, bottom=bottom, color=colour, label=status)
            bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
    payments.set_title("payments created per day, by status")
    payments.set_ylabel("payments")
    payments.yaxis.get_major_locator().set_params(integer=True)
    if any(bottom):
        payments.legend(fontsize="small", ncols=3)
    step = max(1, len(days) // 15)  # at most ~15 dates under the bars
    payments.set_xticks(list(positions)[::step], labels[::step], rotation=45, ha="right")
    if not days:
        payments.text(0.5, 0.5, "no payments yet", ha="center", transform=payments.transAxes)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
