"""closure findings say which source decided the CVE (issue #12)

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 14:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Findings matched before the CVE List was read came from the NVD.
    op.add_column(
        "closure_findings",
        sa.Column("source", sa.String(length=20), server_default="nvd", nullable=False),
    )


def downgrade() -> None:
    with op.batch_alter_table("closure_findings") as batch:
        batch.drop_column("source")
