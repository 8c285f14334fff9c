"""subscription notices and revocations

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 13:05:00.000000
"""

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("activations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("revoked_by", sa.String(length=100), nullable=True))
        batch_op.add_column(
            sa.Column("next_notice_at", storage.types.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(
            sa.Column("notices_sent", sa.String(length=100), nullable=False, server_default="")
        )
        batch_op.create_index(
            batch_op.f("ix_activations_next_notice_at"), ["next_notice_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("activations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_activations_next_notice_at"))
        batch_op.drop_column("notices_sent")
        batch_op.drop_column("next_notice_at")
        batch_op.drop_column("revoked_by")
