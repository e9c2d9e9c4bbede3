"""The orchestrator profile's ledger (workflows, problems, algos, data, learnuplets and
preduplets, per tenant), and a stable uuid for every uploaded file.

Revision ID: 0009
Revises: 0008
"""

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ledger_algos",
        sa.Column("problem", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("timestamp_upload", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("uuid", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_ledger_algos_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_algos")),
        sa.UniqueConstraint("tenant_id", "uuid", name="uq_ledger_algos_uuid"),
    )
    with op.batch_alter_table("ledger_algos", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_algos_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "ledger_data",
        sa.Column("problems", sa.JSON(), nullable=False),
        sa.Column("timestamp_upload", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("uuid", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_ledger_data_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_data")),
        sa.UniqueConstraint("tenant_id", "uuid", name="uq_ledger_data_uuid"),
    )
    with op.batch_alter_table("ledger_data", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_data_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "ledger_learnuplets",
        sa.Column("problem", sa.String(length=255), nullable=False),
        sa.Column("workflow", sa.String(length=255), nullable=False),
        sa.Column("algo", sa.String(length=255), nullable=False),
        sa.Column("model_start", sa.String(length=255), nullable=True),
        sa.Column("model_end", sa.String(length=255), nullable=False),
        sa.Column("train_data", sa.JSON(), nullable=False),
        sa.Column("test_data", sa.JSON(), nullable=False),
        sa.Column("worker", sa.String(length=255), nullable=True),
        sa.Column("perf", sa.Float(), nullable=True),
        sa.Column("train_perf", sa.JSON(), nullable=True),
        sa.Column("test_perf", sa.JSON(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("timestamp_creation", sa.BigInteger(), nullable=False),
        sa.Column("timestamp_done", sa.BigInteger(), nullable=True),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.Column("registered_model", sa.String(length=255), nullable=True),
        sa.Column("registered_version", sa.Integer(), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("uuid", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_ledger_learnuplets_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_learnuplets")),
        sa.UniqueConstraint("tenant_id", "uuid", name="uq_ledger_learnuplets_uuid"),
    )
    with op.batch_alter_table("ledger_learnuplets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_learnuplets_algo"), ["algo"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_ledger_learnuplets_tenant_id"), ["tenant_id"], unique=False
        )

    op.create_table(
        "ledger_preduplets",
        sa.Column("problem", sa.String(length=255), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("timestamp_request", sa.BigInteger(), nullable=False),
        sa.Column("model", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("worker", sa.String(length=255), nullable=True),
        sa.Column("timestamp_done", sa.BigInteger(), nullable=True),
        sa.Column("workflow", sa.String(length=255), nullable=False),
        sa.Column("prediction_storage_uuid", sa.String(length=255), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("uuid", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_ledger_preduplets_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_preduplets")),
        sa.UniqueConstraint("tenant_id", "uuid", name="uq_ledger_preduplets_uuid"),
    )
    with op.batch_alter_table("ledger_preduplets", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ledger_preduplets_tenant_id"), ["tenant_id"], unique=False
        )

    op.create_table(
        "ledger_problems",
        sa.Column("workflow", sa.String(length=255), nullable=False),
        sa.Column("test_dataset", sa.JSON(), nullable=False),
        sa.Column("size_train_dataset", sa.Integer(), nullable=False),
        sa.Column("timestamp_upload", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("uuid", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_ledger_problems_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_problems")),
        sa.UniqueConstraint("tenant_id", "uuid", name="uq_ledger_problems_uuid"),
    )
    with op.batch_alter_table("ledger_problems", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ledger_problems_tenant_id"), ["tenant_id"], unique=False
        )

    op.create_table(
        "ledger_workflows",
        sa.Column("target", sa.String(length=255), nullable=False),
        sa.Column("problem_type", sa.String(length=32), nullable=False),
        sa.Column("metric", sa.String(length=32), nullable=False),
        sa.Column("timestamp_upload", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("uuid", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_ledger_workflows_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_workflows")),
        sa.UniqueConstraint("tenant_id", "uuid", name="uq_ledger_workflows_uuid"),
    )
    with op.batch_alter_table("ledger_workflows", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ledger_workflows_tenant_id"), ["tenant_id"], unique=False
        )

    # Files uploaded before get their uuid here, then it is required.
    with op.batch_alter_table("data_files", schema=None) as batch_op:
        batch_op.add_column(sa.Column("uuid", sa.String(length=36), nullable=True))
    files = sa.table("data_files", sa.column("id", sa.Integer()), sa.column("uuid", sa.String()))
    connection = op.get_bind()
    for (file_id,) in connection.execute(sa.select(files.c.id)).all():
        connection.execute(
            files.update().where(files.c.id == file_id).values(uuid=str(uuid.uuid4()))
        )
    with op.batch_alter_table("data_files", schema=None) as batch_op:
        batch_op.alter_column("uuid", existing_type=sa.String(length=36), nullable=False)
        batch_op.create_unique_constraint(batch_op.f("uq_data_files_uuid"), ["uuid"])


def downgrade() -> None:
    with op.batch_alter_table("data_files", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_data_files_uuid"), type_="unique")
        batch_op.drop_column("uuid")

    with op.batch_alter_table("ledger_workflows", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_workflows_tenant_id"))

    op.drop_table("ledger_workflows")
    with op.batch_alter_table("ledger_problems", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_problems_tenant_id"))

    op.drop_table("ledger_problems")
    with op.batch_alter_table("ledger_preduplets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_preduplets_tenant_id"))

    op.drop_table("ledger_preduplets")
    with op.batch_alter_table("ledger_learnuplets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_learnuplets_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_ledger_learnuplets_algo"))

    op.drop_table("ledger_learnuplets")
    with op.batch_alter_table("ledger_data", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_data_tenant_id"))

    op.drop_table("ledger_data")
    with op.batch_alter_table("ledger_algos", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_algos_tenant_id"))

    op.drop_table("ledger_algos")
