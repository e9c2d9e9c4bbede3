"""Predictors and the log of their predictions.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "predictors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("predictor_name", sa.String(length=255), nullable=False),
        sa.Column("table_name", sa.String(length=64), nullable=False),
        sa.Column("domain", sa.String(length=255), nullable=False),
        sa.Column("problem_type", sa.String(length=32), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=True),
        sa.Column("columns", sa.JSON(), nullable=False),
        sa.Column("algorithm", sa.String(length=32), nullable=False),
        sa.Column("is_incremental", sa.Boolean(), nullable=False),
        sa.Column("shap_enabled", sa.Boolean(), nullable=False),
        sa.Column("preprocess_id", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.String(length=150), nullable=False),
        sa.Column("training_status", sa.String(length=16), nullable=False),
        sa.Column("training_error", sa.Text(), nullable=True),
        sa.Column("last_run_id", sa.String(length=64), nullable=True),
        sa.Column("trained_algorithm", sa.String(length=32), nullable=True),
        sa.Column("mlflow_run_id", sa.String(length=64), nullable=True),
        sa.Column("model_version", sa.Integer(), nullable=True),
        sa.Column("accuracy", sa.Float(), nullable=True),
        sa.Column("shap_status", sa.String(length=16), nullable=True),
        sa.Column("shap_error", sa.Text(), nullable=True),
        sa.Column("shap_run_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["datasets.id"],
            name=op.f("fk_predictors_dataset_id_datasets"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_predictors_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_predictors")),
        sa.UniqueConstraint("tenant_id", "predictor_name", name="uq_predictors_tenant_name"),
        sa.UniqueConstraint("tenant_id", "table_name", name="uq_predictors_tenant_table"),
    )
    with op.batch_alter_table("predictors", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_predictors_dataset_id"), ["dataset_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_predictors_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "predictions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("predictor_id", sa.Integer(), nullable=False),
        sa.Column("prediction_type", sa.String(length=16), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=True),
        sa.Column("input_data", sa.JSON(), nullable=False),
        sa.Column("output", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("no_of_records", sa.Integer(), nullable=True),
        sa.Column("model_version", sa.Integer(), nullable=True),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.Column("result_path", sa.String(length=512), nullable=True),
        sa.Column("created_by", sa.String(length=150), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["predictor_id"],
            ["predictors.id"],
            name=op.f("fk_predictions_predictor_id_predictors"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_predictions_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_predictions")),
    )
    with op.batch_alter_table("predictions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_predictions_predictor_id"), ["predictor_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_predictions_tenant_id"), ["tenant_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("predictions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_predictions_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_predictions_predictor_id"))

    op.drop_table("predictions")
    with op.batch_alter_table("predictors", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_predictors_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_predictors_dataset_id"))

    op.drop_table("predictors")
