"""Accounts get several API keys (hashed, named, with their last use, revocable) and can be
disabled

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("hint", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"],
                                name=op.f("fk_api_keys_account_id_accounts"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_keys_account_id"), ["account_id"], unique=False)
    # Every account's one key so far becomes its first key.
    op.execute("INSERT INTO api_keys (id, account_id, name, key_hash, hint, created_at) "
               "SELECT 'key_' || id, id, 'first key', api_key_hash, 'vf_', created_at "
               "FROM accounts")
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_constraint("uq_accounts_api_key_hash", type_="unique")
        batch_op.drop_column("api_key_hash")


def downgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("api_key_hash", sa.String(length=64), nullable=True))
    op.execute("UPDATE accounts SET api_key_hash = (SELECT key_hash FROM api_keys WHERE "
               "api_keys.account_id = accounts.id ORDER BY created_at LIMIT 1)")
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.create_unique_constraint("uq_accounts_api_key_hash", ["api_key_hash"])
        batch_op.drop_column("disabled_at")
    op.drop_table("api_keys")
