"""send_slots: the platforms' send limits shared by every worker (next free slot per key, and
until when a send in flight holds it); on PostgreSQL the function that books a send in one
round trip

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

# Book one send under keys (storage/send_slots.py): create the keys it has never seen, lock them
# in key order, decide, book; one statement for the client, its own transaction. A queued key's
# next_at is its theoretical arrival time (GCRA): a send may start up to `burst` seconds before
# it, and moves it one step on from the later of it and the send's start.
BOOK = """
CREATE FUNCTION send_slots_book(
    p_keys varchar[], p_steps float8[], p_holds float8[], p_queued boolean[], p_bursts float8[]
) RETURNS TABLE (
    key varchar, next_at float8, held_until float8, now float8, queue_at float8,
    hold_at float8, booked bigint
) LANGUAGE sql VOLATILE AS $$
INSERT INTO send_slots (key, next_at)
SELECT k, 0 FROM unnest(p_keys) AS k ORDER BY k
ON CONFLICT DO NOTHING;
WITH v AS (
    SELECT * FROM unnest(p_keys, p_steps, p_holds, p_queued, p_bursts)
        AS v(key, step, hold, queued, burst)
), cur AS (
    SELECT s.key, s.next_at, s.held_until FROM send_slots AS s
    WHERE s.key = ANY(p_keys) ORDER BY s.key FOR UPDATE
), d AS (
    SELECT c.t,
        greatest(c.t, max(cur.next_at - v.burst) FILTER (WHERE v.queued)) AS queue_at,
        greatest(c.t, max(cur.next_at) FILTER (WHERE NOT v.queued)) AS hold_at,
        coalesce(bool_or(cur.held_until > c.t), false) AS held
    FROM cur JOIN v USING (key),
        (SELECT CAST(extract(epoch FROM clock_timestamp()) AS float8) AS t) AS c
    GROUP BY c.t
), upd AS (
    UPDATE send_slots AS s
    SET next_at = CASE WHEN v.queued THEN greatest(s.next_at, d.queue_at) ELSE d.queue_at END
        + v.step,
        held_until = CASE WHEN v.hold > 0 THEN d.t + v.hold END
    FROM d, v
    WHERE s.key = v.key AND NOT d.held AND d.hold_at <= d.queue_at
    RETURNING s.key
)
SELECT cur.key, cur.next_at, cur.held_until, d.t, d.queue_at, d.hold_at,
    (SELECT count(*) FROM upd)
FROM cur, d;
$$
"""


def upgrade() -> None:
    op.create_table(
        "send_slots",
        sa.Column("key", sa.String(120), primary_key=True),
        sa.Column("next_at", sa.Float(), nullable=False),
        sa.Column("held_until", sa.Float(), nullable=True),
    )
    if op.get_bind().dialect.name == "postgresql":  # SQLite is one worker: no shared limits
        op.execute(BOOK)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "DROP FUNCTION send_slots_book(varchar[], float8[], float8[], boolean[], float8[])"
        )
    op.drop_table("send_slots")
