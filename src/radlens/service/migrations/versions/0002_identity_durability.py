"""patient identity (issuer + id, placeholders, identity audit), incomplete studies,
missing-file flags

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06 04:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _patients_table() -> sa.Table:
    """`patients` as it is after this revision (SQLite rebuilds the table from it)."""
    return sa.Table(
        "patients",
        sa.MetaData(),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_key", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("birth_date", sa.String(length=16), nullable=False),
        sa.Column("sex", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table(
            "patients", recreate="always", copy_from=_patients_table()
        ) as batch_op:
            batch_op.add_column(
                sa.Column("issuer", sa.String(length=64), nullable=False, server_default="")
            )
            batch_op.add_column(
                sa.Column("placeholder", sa.Boolean(), nullable=False, server_default=sa.false())
            )
            batch_op.create_unique_constraint("uq_patients_issuer_key", ["issuer", "patient_key"])
    else:
        op.drop_constraint("patients_patient_key_key", "patients", type_="unique")
        op.add_column(
            "patients",
            sa.Column("issuer", sa.String(length=64), nullable=False, server_default=""),
        )
        op.add_column(
            "patients",
            sa.Column("placeholder", sa.Boolean(), nullable=False, server_default=sa.false()),
        )
        op.create_unique_constraint("uq_patients_issuer_key", "patients", ["issuer", "patient_key"])
    with op.batch_alter_table("studies") as batch_op:
        batch_op.add_column(
            sa.Column("incomplete", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("instances") as batch_op:
        batch_op.add_column(
            sa.Column("file_missing", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_table(
        "identity_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=True),
        sa.Column("study_uid", sa.String(length=64), nullable=False),
        sa.Column("sop_uid", sa.String(length=64), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_identity_events_at", "identity_events", ["at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_identity_events_at", table_name="identity_events")
    op.drop_table("identity_events")
    with op.batch_alter_table("instances") as batch_op:
        batch_op.drop_column("file_missing")
    with op.batch_alter_table("studies") as batch_op:
        batch_op.drop_column("incomplete")
    with op.batch_alter_table("patients") as batch_op:
        batch_op.drop_constraint("uq_patients_issuer_key", type_="unique")
        batch_op.drop_column("placeholder")
        batch_op.drop_column("issuer")
        batch_op.create_unique_constraint("uq_patients_patient_key", ["patient_key"])
