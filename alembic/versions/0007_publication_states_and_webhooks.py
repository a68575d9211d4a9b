"""Publications keep their state at the destination (upload, post id, published or failed);
webhook deliveries are logged and retried

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("publications", schema=None) as batch_op:
        # Rows written before states existed were finished copies to the export folder.
        batch_op.add_column(sa.Column("state", sa.String(length=16), nullable=False,
                                      server_default="published"))
        batch_op.add_column(sa.Column("post_id", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("url", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("error", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("details", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("profile_id", sa.String(length=40), nullable=True),
        sa.Column("event", sa.String(length=40), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"],
                                name=op.f("fk_webhook_deliveries_account_id_accounts"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["profile_id"], ["profiles.id"],
                                name=op.f("fk_webhook_deliveries_profile_id_profiles"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
        # One delivery per event of a job, batch or publication, however often it is raised.
        sa.UniqueConstraint("event", "subject", name="uq_webhook_deliveries_event_subject"),
    )
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_webhook_deliveries_account_id"), ["account_id"],
                              unique=False)
        batch_op.create_index("ix_webhook_deliveries_due", ["status", "next_attempt_at"],
                              unique=False)


def downgrade() -> None:
    op.drop_table("webhook_deliveries")
    with op.batch_alter_table("publications", schema=None) as batch_op:
        for name in ("updated_at", "details", "error", "url", "post_id", "state"):
            batch_op.drop_column(name)
