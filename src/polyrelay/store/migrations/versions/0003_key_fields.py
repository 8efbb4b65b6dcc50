"""LiteLLM's per-key fields that change calls (aliases, per-model budgets
and limits, soft budget, tags, allowed routes, key type), and the tags
recorded on each spend row.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

KEY_COLUMNS = (("aliases", sa.JSON), ("model_max_budget", sa.JSON), ("model_rpm_limit", sa.JSON),
               ("model_tpm_limit", sa.JSON), ("soft_budget", sa.Float), ("tags", sa.JSON),
               ("allowed_routes", sa.JSON), ("key_type", sa.String(16)))


def upgrade() -> None:
    with op.batch_alter_table("keys") as batch:
        for name, kind in KEY_COLUMNS:
            batch.add_column(sa.Column(name, kind))
    with op.batch_alter_table("spend_logs") as batch:
        batch.add_column(sa.Column("request_tags", sa.JSON))


def downgrade() -> None:
    with op.batch_alter_table("spend_logs") as batch:
        batch.drop_column("request_tags")
    with op.batch_alter_table("keys") as batch:
        for name, _ in reversed(KEY_COLUMNS):
            batch.drop_column(name)
