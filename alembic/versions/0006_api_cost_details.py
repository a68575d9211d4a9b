"""api_costs rows say what was used: the unit, tokens in and out, the unit prices, the time

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_costs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("unit", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("prompt_tokens", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("completion_tokens", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("price_input_per_1k", sa.Numeric(12, 6), nullable=True))
        batch_op.add_column(sa.Column("price_output_per_1k", sa.Numeric(12, 6), nullable=True))
        batch_op.add_column(sa.Column("seconds", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_costs", schema=None) as batch_op:
        for name in ("seconds", "price_output_per_1k", "price_input_per_1k",
                     "completion_tokens", "prompt_tokens", "unit"):
            batch_op.drop_column(name)
