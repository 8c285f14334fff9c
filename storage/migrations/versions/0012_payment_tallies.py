"""payment tallies the overview reads, kept by triggers; indexes for the median, attention, top-ups

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 06:40:00.000000

`payment_tallies` holds, per quarter hour (UTC epoch seconds, a multiple of 900: every zone's
midnight falls on one), what the purchases (top-ups excluded) add to the stats: `created` rows
count payments by the status they have now, `paid` rows count finished ones by plan, coin,
price and settlement currencies with their amounts. A trigger on `payments` writes one row
per change (`sign` -1 for what a row stopped adding, +1 for what it adds now), so every write
path (the app, a bulk insert, a hand-made UPDATE) keeps it exact in its own transaction, with
no row that two transactions would both update. Readers sum every row; `storage.tallies.fold`
merges rows into one per key now and then. Amounts are copied, never added, in SQL: SQLite
keeps money as text.
"""

import sqlalchemy as sa
from alembic import op

from storage.types import Money

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# what makes a payment count (or change what it counts) in the tallies
WATCHED = (
    "parent_payment_id, created_at, status, paid_at, plan, pay_currency, price_currency, "
    "price_amount, actually_paid, outcome_amount, outcome_currency, fee_currency, fee_deposit, "
    "fee_withdrawal, fee_service"
)
COLUMNS = (
    "kind, slot, sign, folded, status, plan, coin, price_currency, price_amount, "
    "outcome_currency, fee_currency, n, paid, outcome, fee_deposit, fee_withdrawal, fee_service"
)


def _rows(row: str, sign: int, slot_of) -> str:
    """The SELECT of a payment's tally rows (`row` is NEW, OLD or a table alias)."""
    return (
        f"SELECT 'created', {slot_of(f'{row}.created_at')}, {sign}, 0, {row}.status, NULL, "
        "NULL, NULL, NULL, NULL, NULL, 1, NULL, NULL, NULL, NULL, NULL "
        f"WHERE {row}.parent_payment_id IS NULL "
        f"UNION ALL SELECT 'paid', {slot_of(f'{row}.paid_at')}, {sign}, 0, NULL, {row}.plan, "
        f"{row}.pay_currency, {row}.price_currency, {row}.price_amount, {row}.outcome_currency, "
        f"{row}.fee_currency, 1, {row}.actually_paid, {row}.outcome_amount, {row}.fee_deposit, "
        f"{row}.fee_withdrawal, {row}.fee_service "
        f"WHERE {row}.parent_payment_id IS NULL AND {row}.status = 'finished' "
        f"AND {row}.paid_at IS NOT NULL"
    )


def _sqlite_slot(column: str) -> str:
    return f"(CAST(strftime('%s', {column}) AS INTEGER) / 900) * 900"


def _pg_slot(column: str) -> str:
    return f"(floor(extract(epoch FROM {column}) / 900) * 900)::bigint"


def upgrade() -> None:
    op.create_table(
        "payment_tallies",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("slot", sa.BigInteger(), nullable=False),
        sa.Column("sign", sa.Integer(), nullable=False),
        sa.Column("folded", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(20)),
        sa.Column("plan", sa.String(40)),
        sa.Column("coin", sa.String(20)),
        sa.Column("price_currency", sa.String(10)),
        sa.Column("price_amount", Money()),
        sa.Column("outcome_currency", sa.String(20)),
        sa.Column("fee_currency", sa.String(20)),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.Column("paid", Money()),
        sa.Column("outcome", Money()),
        sa.Column("fee_deposit", Money()),
        sa.Column("fee_withdrawal", Money()),
        sa.Column("fee_service", Money()),
    )
    op.create_index("ix_payment_tallies_slot", "payment_tallies", ["slot"])
    op.create_index("ix_payment_tallies_folded", "payment_tallies", ["folded", "id"])
    insert = f"INSERT INTO payment_tallies ({COLUMNS}) "
    if op.get_bind().dialect.name == "sqlite":
        slot = _sqlite_slot
        op.execute(
            "CREATE TRIGGER payment_tallies_insert AFTER INSERT ON payments BEGIN "
            f"{insert}{_rows('NEW', 1, slot)}; END"
        )
        op.execute(
            f"CREATE TRIGGER payment_tallies_update AFTER UPDATE OF {WATCHED} ON payments BEGIN "
            f"{insert}{_rows('OLD', -1, slot)}; {insert}{_rows('NEW', 1, slot)}; END"
        )
        op.execute(
            "CREATE TRIGGER payment_tallies_delete AFTER DELETE ON payments BEGIN "
            f"{insert}{_rows('OLD', -1, slot)}; END"
        )
        # the median time to pay walks this index in order instead of sorting every payment
        op.execute(
            "CREATE INDEX ix_payments_time_to_pay ON payments "
            "((julianday(paid_at) - julianday(created_at)) * 86400, paid_at) "
            "WHERE status = 'finished' AND parent_payment_id IS NULL"
        )
    else:
        slot = _pg_slot
        op.execute(
            "CREATE FUNCTION payment_tallies_track() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN "
            f"IF TG_OP <> 'INSERT' THEN {insert}{_rows('OLD', -1, slot)}; END IF; "
            f"IF TG_OP <> 'DELETE' THEN {insert}{_rows('NEW', 1, slot)}; END IF; "
            "RETURN NULL; END $$"
        )
        op.execute(
            "CREATE TRIGGER payment_tallies_track AFTER INSERT OR DELETE OR UPDATE OF "
            f"{WATCHED} ON payments FOR EACH ROW EXECUTE FUNCTION payment_tallies_track()"
        )
        op.execute(
            "CREATE INDEX ix_payments_time_to_pay ON payments "
            "((extract(epoch FROM paid_at - created_at)), paid_at) INCLUDE (created_at) "
            "WHERE status = 'finished' AND parent_payment_id IS NULL"
        )
    # what may need a human: a handful of rows, not every payment touched in the period
    # (as SQLAlchemy writes the query's condition: SQLite matches it term by term)
    late = "late = 1" if op.get_bind().dialect.name == "sqlite" else "late"
    op.execute(
        "CREATE INDEX ix_payments_attention ON payments (updated_at, id) "
        f"WHERE parent_payment_id IS NULL AND ({late} OR surplus IS NOT NULL OR status IN "
        "('failed', 'refunded', 'partially_paid', 'confirming', 'confirmed', 'sending'))"
    )
    # a payment's top-ups (its story, and every top-up's IPN): the few rows that have a parent
    op.create_index(
        "ix_payments_parent",
        "payments",
        ["parent_payment_id"],
        sqlite_where=sa.text("parent_payment_id IS NOT NULL"),
        postgresql_where=sa.text("parent_payment_id IS NOT NULL"),
    )
    op.execute(f"{insert}{_rows('p', 1, slot).replace('WHERE', 'FROM payments p WHERE')}")


def downgrade() -> None:
    op.drop_index("ix_payments_parent", table_name="payments")
    op.drop_index("ix_payments_attention", table_name="payments")
    op.drop_index("ix_payments_time_to_pay", table_name="payments")
    if op.get_bind().dialect.name == "sqlite":
        for name in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER payment_tallies_{name}")
    else:
        op.execute("DROP TRIGGER payment_tallies_track ON payments")
        op.execute("DROP FUNCTION payment_tallies_track()")
    op.drop_table("payment_tallies")
