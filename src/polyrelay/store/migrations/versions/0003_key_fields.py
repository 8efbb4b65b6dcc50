"""LiteLLM's per-key fields that change calls (aliases, per-model budgets
and limits, soft budget, tags, allowed routes, key type), the tags
recorded on each spend row, and budget objects linked to customers.

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
    op.create_table("budgets", sa.Column("budget_id", sa.Text, primary_key=True), sa.Column("max_budget", sa.Float),
                    sa.Column("budget_duration", sa.Text), sa.Column("rpm_limit", sa.Integer),
                    sa.Column("tpm_limit", sa.Integer), sa.Column("max_parallel_requests", sa.Integer),
                    sa.Column("soft_budget", sa.Float), sa.Column("created_at", sa.DateTime(timezone=True),
                                                                  nullable=False))
    with op.batch_alter_table("customers") as batch:
        batch.add_column(sa.Column("budget_id", sa.Text))
    with op.batch_alter_table("teams") as batch:
        batch.add_column(sa.Column("admins", sa.JSON))


def downgrade() -> None:
    with op.batch_alter_table("teams") as batch:
        batch.drop_column("admins")
    with op.batch_alter_table("customers") as batch:
        batch.drop_column("budget_id")
    op.drop_table("budgets")
    with op.batch_alter_table("spend_logs") as batch:
        batch.drop_column("request_tags")
    with op.batch_alter_table("keys") as batch:
        for name, _ in reversed(KEY_COLUMNS):
            batch.drop_column(name)
