"""the dashboard's sign-in links and sessions; payments by update time; settled attention

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 03:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

from storage.types import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "web_sign_ins",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("operator", sa.String(100), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("token_hash", name="uq_web_sign_ins_token_hash"),
    )
    op.create_table(
        "web_sessions",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("session_hash", sa.String(64), nullable=False),
        sa.Column("operator", sa.String(100), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.Column("user_agent", sa.String(200), nullable=False),
        sa.UniqueConstraint("session_hash", name="uq_web_sessions_session_hash"),
    )
    op.create_index("ix_web_sessions_operator", "web_sessions", ["operator"])
    op.create_index("ix_payments_updated_at", "payments", ["updated_at"])
    op.create_table(
        "attention_settled",
        sa.Column("payment_id", BigId, sa.ForeignKey("payments.id"), primary_key=True),
        sa.Column("settled_at", UTCDateTime(), nullable=False),
        sa.Column("settled_by", sa.String(100), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("attention_settled")
    op.drop_index("ix_payments_updated_at", table_name="payments")
    op.drop_index("ix_web_sessions_operator", table_name="web_sessions")
    op.drop_table("web_sessions")
    op.drop_table("web_sign_ins")
