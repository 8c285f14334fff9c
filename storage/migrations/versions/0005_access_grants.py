"""access grants and their log, linked accounts

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 18:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

from storage.types import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "access_grants",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("user_id", BigId, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("ref", sa.String(64), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("opened", sa.Integer(), nullable=False),
        sa.Column("paid_until", UTCDateTime(), nullable=True),
        sa.Column("close_at", UTCDateTime(), nullable=True),
        sa.Column("invite_link", sa.String(200), nullable=True),
        sa.Column("applied", sa.Boolean(), nullable=False),
        sa.Column("last_result", sa.String(300), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("checked_at", UTCDateTime(), nullable=True),
    )
    op.create_index(
        "uq_access_grants_user_resource",
        "access_grants",
        ["user_id", "kind", "ref"],
        unique=True,
    )
    op.create_index("ix_access_grants_close_at", "access_grants", ["close_at"])
    op.create_table(
        "access_log",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("grant_id", BigId, sa.ForeignKey("access_grants.id"), nullable=True),
        sa.Column("user_id", BigId, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("action", sa.String(30), nullable=False),
        sa.Column("reason", sa.String(60), nullable=False),
        sa.Column("result", sa.String(300), nullable=False),
    )
    op.create_index("ix_access_log_grant_id", "access_log", ["grant_id"])
    op.create_index("ix_access_log_user_id", "access_log", ["user_id"])
    op.create_table(
        "link_codes",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("code", sa.String(16), nullable=False, unique=True),
        sa.Column("user_id", BigId, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("platform", sa.String(20), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_link_codes_user_id", "link_codes", ["user_id"])
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("linked_to", BigId, nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_users_linked_to_users"), "users", ["linked_to"], ["id"]
        )
        batch_op.create_index(batch_op.f("ix_users_linked_to"), ["linked_to"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_users_linked_to"))
        batch_op.drop_constraint(batch_op.f("fk_users_linked_to_users"), type_="foreignkey")
        batch_op.drop_column("linked_to")
    op.drop_table("link_codes")
    op.drop_table("access_log")
    op.drop_table("access_grants")
