"""The runs of Strata's engine on preduplets too, and why an engine run failed.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ledger_learnuplets") as batch:
        batch.add_column(sa.Column("error", sa.Text(), nullable=True))
    with op.batch_alter_table("ledger_preduplets") as batch:
        batch.add_column(sa.Column("run_id", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("error", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ledger_preduplets") as batch:
        batch.drop_column("error")
        batch.drop_column("run_id")
    with op.batch_alter_table("ledger_learnuplets") as batch:
        batch.drop_column("error")
