"""indexes so that nothing costs more as history grows

The relay's claim reads only its own platforms' due rows (status, platform, due time, id: the
claim's order, so no other plan looks cheaper; it replaces the (status, due time) index); pruning
finds delivered outbox rows and old provider events by age; `/metrics` counts only open
payments (by status).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 03:00:00.000000
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_outbox_status_platform_next",
        "outbox",
        ["status", "chat_platform", "next_attempt_at", "id"],
    )
    # the claim's old index: with it, PostgreSQL would sometimes read a platform's rows in
    # due order across all platforms (a LIMIT plan filtering on the platform)
    op.drop_index("ix_outbox_status_next", table_name="outbox")
    op.create_index("ix_outbox_status_sent", "outbox", ["status", "sent_at"])
    op.create_index("ix_payment_events_received", "payment_events", ["received_at"])
    op.create_index("ix_payments_status", "payments", ["status"])


def downgrade() -> None:
    op.drop_index("ix_payments_status", table_name="payments")
    op.drop_index("ix_payment_events_received", table_name="payment_events")
    op.drop_index("ix_outbox_status_sent", table_name="outbox")
    op.create_index("ix_outbox_status_next", "outbox", ["status", "next_attempt_at"])
    op.drop_index("ix_outbox_status_platform_next", table_name="outbox")
