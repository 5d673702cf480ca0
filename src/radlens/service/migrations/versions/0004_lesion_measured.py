"""lesion candidates: whether the size was measured on the image (detector runs, issue 15)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 07:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("lesion_candidates") as batch:
        batch.add_column(
            sa.Column("measured", sa.Boolean(), nullable=False, server_default=sa.true())
        )


def downgrade() -> None:
    with op.batch_alter_table("lesion_candidates") as batch:
        batch.drop_column("measured")
