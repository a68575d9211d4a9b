"""A deleted profile leaves its jobs behind (profile and project set to null) and accounts get
quotas (the longest video, items per batch, running jobs at once)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def _point_jobs_at(column: str, table: str, ondelete: str, nullable: bool) -> None:
    name = f"fk_jobs_{column}_{table}"
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_constraint(name, type_="foreignkey")
        batch_op.alter_column(column, existing_type=sa.String(length=40), nullable=nullable)
        batch_op.create_foreign_key(name, table, [column], ["id"], ondelete=ondelete)


def upgrade() -> None:
    _point_jobs_at("profile_id", "profiles", "SET NULL", True)
    _point_jobs_at("project_id", "projects", "SET NULL", True)
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("quotas", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.execute("DELETE FROM jobs WHERE profile_id IS NULL OR project_id IS NULL")
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_column("quotas")
    _point_jobs_at("project_id", "projects", "CASCADE", False)
    _point_jobs_at("profile_id", "profiles", "CASCADE", False)
