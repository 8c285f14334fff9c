"""pending questions of the offline assistant

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 20:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

from storage.types import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "pending_questions",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("chat_platform", sa.String(20), nullable=False),
        sa.Column("chat_id", sa.String(64), nullable=False),
        sa.Column("user_id", BigId, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("tool", sa.String(40), nullable=False),
        sa.Column("code", sa.String(40), nullable=False),
        sa.Column("slot", sa.String(20), nullable=False),
        sa.Column("args", sa.JSON(), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("strikes", sa.Integer(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
    )
    op.create_index(
        "uq_pending_questions_chat_user",
        "pending_questions",
        ["chat_platform", "chat_id", "user_id"],
        unique=True,
    )
    op.create_index("ix_pending_questions_user_id", "pending_questions", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_pending_questions_user_id", table_name="pending_questions")
    op.drop_index("uq_pending_questions_chat_user", table_name="pending_questions")
    op.drop_table("pending_questions")
