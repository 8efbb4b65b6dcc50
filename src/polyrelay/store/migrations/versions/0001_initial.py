"""Keys, users, teams, customers and spend logs.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _budget_columns():
    return [
        sa.Column("max_budget", sa.Float),
        sa.Column("budget_duration", sa.String(32)),
        sa.Column("budget_reset_at", sa.DateTime(timezone=True)),
        sa.Column("spend", sa.Float, nullable=False, server_default="0"),
        sa.Column("models", sa.JSON),
        sa.Column("rpm_limit", sa.Integer),
        sa.Column("tpm_limit", sa.Integer),
        sa.Column("metadata", sa.JSON),
        sa.Column("blocked", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "keys",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("key_name", sa.String(32), nullable=False),
        sa.Column("key_alias", sa.String(255)),
        sa.Column("user_id", sa.String(255)),
        sa.Column("team_id", sa.String(255)),
        sa.Column("max_parallel_requests", sa.Integer),
        sa.Column("expires", sa.DateTime(timezone=True)),
        *_budget_columns(),
    )
    op.create_index("ix_keys_user_id", "keys", ["user_id"])
    op.create_index("ix_keys_team_id", "keys", ["team_id"])
    op.create_table("users", sa.Column("user_id", sa.String(255), primary_key=True),
                    sa.Column("user_email", sa.String(255)), sa.Column("user_role", sa.String(64)),
                    *_budget_columns())
    op.create_table("teams", sa.Column("team_id", sa.String(255), primary_key=True),
                    sa.Column("team_alias", sa.String(255)), sa.Column("members", sa.JSON), *_budget_columns())
    op.create_table("customers", sa.Column("user_id", sa.String(255), primary_key=True),
                    sa.Column("alias", sa.String(255)), *_budget_columns())
    op.create_table(
        "spend_logs",
        sa.Column("request_id", sa.String(64), primary_key=True),
        sa.Column("call_type", sa.String(32), nullable=False),
        sa.Column("api_key", sa.String(64)),
        sa.Column("user_id", sa.String(255)),
        sa.Column("team_id", sa.String(255)),
        sa.Column("end_user", sa.String(255)),
        sa.Column("model_group", sa.String(255)),
        sa.Column("model", sa.String(255)),
        sa.Column("model_id", sa.String(255)),
        sa.Column("provider", sa.String(64)),
        sa.Column("prompt_tokens", sa.Integer, nullable=False, server_default="0"),
        sa.Column("completion_tokens", sa.Integer, nullable=False, server_default="0"),
        sa.Column("cached_tokens", sa.Integer, nullable=False, server_default="0"),
        sa.Column("total_tokens", sa.Integer, nullable=False, server_default="0"),
        sa.Column("spend", sa.Float, nullable=False, server_default="0"),
        sa.Column("start_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("latency_ms", sa.Float),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("metadata", sa.JSON),
    )
    op.create_index("ix_spend_logs_start_time", "spend_logs", ["start_time"])
    op.create_index("ix_spend_logs_key_time", "spend_logs", ["api_key", "start_time"])
    op.create_index("ix_spend_logs_user_time", "spend_logs", ["user_id", "start_time"])
    op.create_index("ix_spend_logs_team_time", "spend_logs", ["team_id", "start_time"])
    op.create_index("ix_spend_logs_end_user_time", "spend_logs", ["end_user", "start_time"])


def downgrade() -> None:
    for table in ("spend_logs", "customers", "teams", "users", "keys"):
        op.drop_table(table)
