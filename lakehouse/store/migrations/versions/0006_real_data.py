"""Null markers and a usability threshold per template; row counts of verdicts and trainings.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("templates", schema=None) as batch_op:
        batch_op.add_column(sa.Column("null_markers", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("min_usability", sa.Float(), nullable=True))
    with op.batch_alter_table("datasets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("total_rows", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("passed_rows", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("usability_threshold", sa.Float(), nullable=True))
    with op.batch_alter_table("predictors", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rows_used", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("rows_rejected", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("predictors", schema=None) as batch_op:
        batch_op.drop_column("rows_rejected")
        batch_op.drop_column("rows_used")
    with op.batch_alter_table("datasets", schema=None) as batch_op:
        batch_op.drop_column("usability_threshold")
        batch_op.drop_column("passed_rows")
        batch_op.drop_column("total_rows")
    with op.batch_alter_table("templates", schema=None) as batch_op:
        batch_op.drop_column("min_usability")
        batch_op.drop_column("null_markers")
