"""Stored Responses API answers (store / previous_response_id).

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
        "responses",
        sa.Column("response_id", sa.String(64), primary_key=True),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("response", sa.JSON, nullable=False),
        sa.Column("messages", sa.JSON, nullable=False),
    )
    op.create_index("ix_responses_owner_created", "responses", ["owner", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_responses_owner_created", "responses")
    op.drop_table("responses")
