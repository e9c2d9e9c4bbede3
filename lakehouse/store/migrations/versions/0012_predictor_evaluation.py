"""A predictor's evaluation after training (its state, error and run) and its latest tuning
run.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("predictors") as batch:
        batch.add_column(sa.Column("evaluation_status", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("evaluation_error", sa.Text(), nullable=True))
        batch.add_column(sa.Column("evaluation_run_id", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("tuning_run_id", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("predictors") as batch:
        batch.drop_column("tuning_run_id")
        batch.drop_column("evaluation_run_id")
        batch.drop_column("evaluation_error")
        batch.drop_column("evaluation_status")
