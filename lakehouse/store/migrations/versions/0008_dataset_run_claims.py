"""A dataset's claim on its next run, held from the request's first commit to its run's start.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("datasets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("run_claim", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("run_claimed_at", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("datasets", schema=None) as batch_op:
        batch_op.drop_column("run_claimed_at")
        batch_op.drop_column("run_claim")
