"""Free-form names as TEXT: a 300-character ``user`` (or group name, alias,
upstream model name) was answered, then refused by VARCHAR(255) in the
spend drain on PostgreSQL, forever. SQLite does not enforce VARCHAR
lengths, so only PostgreSQL changes; VARCHAR to TEXT rewrites no table there.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# table -> columns that hold names and ids chosen by callers, admins or upstreams
FREE_FORM = {
    "keys": ("key_alias", "user_id", "team_id", "budget_duration"),
    "users": ("user_id", "user_email", "user_role", "budget_duration"),
    "teams": ("team_id", "team_alias", "budget_duration"),
    "customers": ("user_id", "alias", "budget_duration"),
    "spend_logs": ("request_id", "user_id", "team_id", "end_user", "model_group", "model", "model_id", "provider",
                   "call_type"),
}


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, columns in FREE_FORM.items():
        for column in columns:
            op.alter_column(table, column, type_=sa.Text())


def downgrade():
    pass  # shortening columns again could fail on stored values; TEXT stays
