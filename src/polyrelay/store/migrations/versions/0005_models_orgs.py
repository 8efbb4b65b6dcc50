"""Models stored in the database (store_model_in_db), organizations over
teams, and per-member budgets inside a team.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "proxy_models",
        sa.Column("model_id", sa.Text, primary_key=True),
        sa.Column("model_name", sa.Text, nullable=False),
        sa.Column("litellm_params", sa.JSON, nullable=False),
        sa.Column("model_info", sa.JSON),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "store_versions",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_table(
        "organizations",
        sa.Column("organization_id", sa.Text, primary_key=True),
        sa.Column("organization_alias", sa.Text),
        sa.Column("members", sa.JSON),
        sa.Column("admins", sa.JSON),
        sa.Column("max_budget", sa.Float),
        sa.Column("budget_duration", sa.Text),
        sa.Column("budget_reset_at", sa.DateTime(timezone=True)),
        sa.Column("spend", sa.Float, nullable=False),
        sa.Column("models", sa.JSON),
        sa.Column("rpm_limit", sa.Integer),
        sa.Column("tpm_limit", sa.Integer),
        sa.Column("metadata", sa.JSON),
        sa.Column("blocked", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table("teams") as batch:
        batch.add_column(sa.Column("organization_id", sa.Text))
        batch.add_column(sa.Column("member_budgets", sa.JSON))


def downgrade() -> None:
    with op.batch_alter_table("teams") as batch:
        batch.drop_column("member_budgets")
        batch.drop_column("organization_id")
    op.drop_table("organizations")
    op.drop_table("store_versions")
    op.drop_table("proxy_models")
