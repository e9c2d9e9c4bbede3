"""Datasets and their uploaded files.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "datasets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("dataset_name", sa.String(length=255), nullable=False),
        sa.Column("usage", sa.String(length=8), nullable=False),
        sa.Column("template_id", sa.Integer(), nullable=True),
        sa.Column("iceberg_table_name", sa.String(length=64), nullable=False),
        sa.Column("data_source", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.String(length=150), nullable=False),
        sa.Column("validation_status", sa.String(length=16), nullable=False),
        sa.Column("validation_error", sa.Text(), nullable=True),
        sa.Column("dataset_usability", sa.Float(), nullable=True),
        sa.Column("last_run_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["template_id"], ["templates.id"], name=op.f("fk_datasets_template_id_templates")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_datasets_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_datasets")),
        sa.UniqueConstraint("tenant_id", "dataset_name", name="uq_datasets_tenant_name"),
        sa.UniqueConstraint("tenant_id", "iceberg_table_name", name="uq_datasets_tenant_table"),
    )
    with op.batch_alter_table("datasets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_datasets_template_id"), ["template_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_datasets_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "data_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("stored_path", sa.String(length=512), nullable=False),
        sa.Column("file_format", sa.String(length=16), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("total_fields", sa.Integer(), nullable=False),
        sa.Column("total_records", sa.Integer(), nullable=False),
        sa.Column("error_report", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["datasets.id"],
            name=op.f("fk_data_files_dataset_id_datasets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_data_files_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_files")),
    )
    with op.batch_alter_table("data_files", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_data_files_dataset_id"), ["dataset_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_data_files_tenant_id"), ["tenant_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("data_files", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_data_files_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_data_files_dataset_id"))

    op.drop_table("data_files")
    with op.batch_alter_table("datasets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_datasets_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_datasets_template_id"))

    op.drop_table("datasets")
