"""outbox priority: the relay claims urgent notices (countdown warnings) first

The claim's index gains the priority between the platform and the due time, so each
(platform, priority) is one indexed range in due order.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 06:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(
            sa.Column("priority", sa.SmallInteger(), nullable=False, server_default="1")
        )
    op.create_index(
        "ix_outbox_status_platform_priority_next",
        "outbox",
        ["status", "chat_platform", "priority", "next_attempt_at", "id"],
    )
    op.drop_index("ix_outbox_status_platform_next", table_name="outbox")


def downgrade() -> None:
    op.create_index(
        "ix_outbox_status_platform_next",
        "outbox",
        ["status", "chat_platform", "next_attempt_at", "id"],
    )
    op.drop_index("ix_outbox_status_platform_priority_next", table_name="outbox")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("priority")
