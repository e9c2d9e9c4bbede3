"""The workbench's deployments and their API keys, request counts shared by every API process,
and the deployment and latency of a real-time call.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "workbench_deployments",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=36), nullable=False),
        sa.Column("model_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_workbench_deployments_tenant_id_tenants")
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["workbench_projects.id"],
            name=op.f("fk_workbench_deployments_project_id_workbench_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["workbench_models.id"],
            name=op.f("fk_workbench_deployments_model_id_workbench_models"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workbench_deployments")),
    )
    for column in ("tenant_id", "project_id", "model_id"):
        op.create_index(
            op.f(f"ix_workbench_deployments_{column}"), "workbench_deployments", [column]
        )
    op.create_table(
        "workbench_api_keys",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("deployment_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("key_prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("key_salt", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_workbench_api_keys_tenant_id_tenants")
        ),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["workbench_deployments.id"],
            name=op.f("fk_workbench_api_keys_deployment_id_workbench_deployments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workbench_api_keys")),
    )
    for column in ("tenant_id", "deployment_id", "key_prefix"):
        op.create_index(op.f(f"ix_workbench_api_keys_{column}"), "workbench_api_keys", [column])
    op.create_table(
        "rate_windows",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("window", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("previous", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_rate_windows")),
    )
    with op.batch_alter_table("predictions") as batch:
        batch.add_column(sa.Column("deployment_id", sa.String(length=36), nullable=True))
        batch.add_column(sa.Column("latency_ms", sa.Float(), nullable=True))
        batch.create_index(batch.f("ix_predictions_deployment_id"), ["deployment_id"])
        batch.create_foreign_key(
            batch.f("fk_predictions_deployment_id_workbench_deployments"),
            "workbench_deployments",
            ["deployment_id"],
            ["id"],
            ondelete="CASCADE",
        )


def downgrade() -> None:
    with op.batch_alter_table("predictions") as batch:
        batch.drop_constraint(
            batch.f("fk_predictions_deployment_id_workbench_deployments"), type_="foreignkey"
        )
        batch.drop_index(batch.f("ix_predictions_deployment_id"))
        batch.drop_column("latency_ms")
        batch.drop_column("deployment_id")
    op.drop_table("rate_windows")
    op.drop_table("workbench_api_keys")
    op.drop_table("workbench_deployments")
