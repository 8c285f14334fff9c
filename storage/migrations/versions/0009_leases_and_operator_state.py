"""leases for connections one worker owns; operator alert state shared by the workers

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 03:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

from storage.types import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("owner", sa.String(100), nullable=False),
        sa.Column("acquired_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "operator_state",
        sa.Column("key", sa.String(100), primary_key=True),
        sa.Column("since", UTCDateTime(), nullable=True),
        sa.Column("alerted_at", UTCDateTime(), nullable=True),
        sa.Column("marks", sa.JSON(), nullable=False),
        sa.Column("detail", sa.String(300), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("operator_state")
    op.drop_table("leases")
