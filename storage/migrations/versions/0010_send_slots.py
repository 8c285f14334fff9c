"""send_slots: the platforms' send limits shared by every worker (next free slot per key)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 04:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "send_slots",
        sa.Column("key", sa.String(120), primary_key=True),
        sa.Column("next_at", sa.Float(), nullable=False),
        sa.Column("held_until", sa.Float(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("send_slots")
