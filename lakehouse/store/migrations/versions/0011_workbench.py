"""The workbench profile's projects, datasets and models; when a user last logged in; the
share of rows a predictor holds out to test its model.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("predictors") as batch:
        batch.add_column(sa.Column("test_share", sa.Float(), nullable=True))
    op.create_table(
        "workbench_projects",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("icon", sa.String(length=64), nullable=True),
        sa.Column("color", sa.String(length=32), nullable=True),
        sa.Column("metadata", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_workbench_projects_tenant_id_tenants")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_workbench_projects_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workbench_projects")),
    )
    op.create_index(
        op.f("ix_workbench_projects_tenant_id"), "workbench_projects", ["tenant_id"], unique=False
    )
    op.create_table(
        "workbench_datasets",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=36), nullable=True),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("table_name", sa.String(length=64), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("file_type", sa.String(length=16), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("profile", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_workbench_datasets_tenant_id_tenants")
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["workbench_projects.id"],
            name=op.f("fk_workbench_datasets_project_id_workbench_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["datasets.id"],
            name=op.f("fk_workbench_datasets_dataset_id_datasets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workbench_datasets")),
        sa.UniqueConstraint("dataset_id", name=op.f("uq_workbench_datasets_dataset_id")),
        sa.UniqueConstraint("tenant_id", "table_name", name="uq_workbench_datasets_table"),
    )
    op.create_index(
        op.f("ix_workbench_datasets_tenant_id"), "workbench_datasets", ["tenant_id"], unique=False
    )
    op.create_index(
        op.f("ix_workbench_datasets_project_id"),
        "workbench_datasets",
        ["project_id"],
        unique=False,
    )

    op.create_table(
        "workbench_models",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=36), nullable=False),
        sa.Column("dataset_id", sa.String(length=36), nullable=True),
        sa.Column("predictor_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("template_id", sa.String(length=64), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("test_share", sa.Float(), nullable=False),
        sa.Column("target_column", sa.String(length=255), nullable=True),
        sa.Column("feature_columns", sa.JSON(), nullable=False),
        sa.Column("feature_types", sa.JSON(), nullable=False),
        sa.Column("sample_request", sa.JSON(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("training_ms", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_workbench_models_tenant_id_tenants")
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["workbench_projects.id"],
            name=op.f("fk_workbench_models_project_id_workbench_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["workbench_datasets.id"],
            name=op.f("fk_workbench_models_dataset_id_workbench_datasets"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["predictor_id"],
            ["predictors.id"],
            name=op.f("fk_workbench_models_predictor_id_predictors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workbench_models")),
        sa.UniqueConstraint("predictor_id", name=op.f("uq_workbench_models_predictor_id")),
    )
    op.create_index(
        op.f("ix_workbench_models_tenant_id"), "workbench_models", ["tenant_id"], unique=False
    )
    op.create_index(
        op.f("ix_workbench_models_project_id"), "workbench_models", ["project_id"], unique=False
    )


def downgrade() -> None:
    op.drop_table("workbench_models")
    op.drop_table("workbench_datasets")
    op.drop_table("workbench_projects")
    with op.batch_alter_table("predictors") as batch:
        batch.drop_column("test_share")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("last_login_at")
