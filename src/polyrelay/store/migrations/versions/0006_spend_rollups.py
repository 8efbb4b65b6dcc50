"""Hourly spend and latency roll-ups for the admin UI (store/rollup.py),
filled from the records already stored; spend records may keep their
messages and answer (general_settings.store_prompts_in_spend_logs).

Revision ID: 0006
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # store_prompts_in_spend_logs: a request's messages and its answer's choices.
    op.add_column("spend_logs", sa.Column("messages", sa.JSON))
    op.add_column("spend_logs", sa.Column("response", sa.JSON))
    op.create_table(
        "spend_hourly",
        sa.Column("hour", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("api_key", sa.String(64), primary_key=True),
        sa.Column("team_id", sa.Text, primary_key=True),
        sa.Column("model_group", sa.Text, primary_key=True),
        sa.Column("requests", sa.Integer, nullable=False),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("spend", sa.Float, nullable=False),
        sa.Column("total_tokens", sa.Integer, nullable=False),
    )
    op.create_table(
        "latency_hourly",
        sa.Column("hour", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("latency_ms", sa.Float, primary_key=True),
        sa.Column("requests", sa.Integer, nullable=False),
    )
    # The records stored so far, with the drain's hour and latency steps (rollup.py),
    # in one pass of SQL each.
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        hour = "date_trunc('hour', start_time AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
    else:  # SQLite keeps SQLAlchemy's 'YYYY-MM-DD HH:MM:SS.ffffff' text, in UTC
        hour = "substr(start_time, 1, 13) || ':00:00.000000'"

    def down(expr: str) -> str:  # SQLite has no floor(); its CAST truncates, the same for positive values
        return f"floor({expr})" if postgres else f"CAST({expr} AS INTEGER)"

    step = (f"CASE WHEN latency_ms < 10 THEN {down('latency_ms * 10')} / 10.0 "
            f"WHEN latency_ms < 100 THEN {down('latency_ms')} * 1.0 "
            f"WHEN latency_ms < 1000 THEN {down('latency_ms / 10')} * 10.0 "
            f"WHEN latency_ms < 10000 THEN {down('latency_ms / 100')} * 100.0 "
            f"ELSE {down('latency_ms / 1000')} * 1000.0 END")
    op.execute(
        "INSERT INTO spend_hourly (hour, api_key, team_id, model_group, requests, failures, spend, total_tokens) "
        f"SELECT {hour}, COALESCE(api_key, ''), COALESCE(team_id, ''), COALESCE(model_group, ''), count(*), "
        "sum(CASE WHEN status = 'success' THEN 0 ELSE 1 END), COALESCE(sum(spend), 0), COALESCE(sum(total_tokens), 0) "
        f"FROM spend_logs GROUP BY {hour}, COALESCE(api_key, ''), COALESCE(team_id, ''), COALESCE(model_group, '')")
    op.execute(
        f"INSERT INTO latency_hourly (hour, latency_ms, requests) SELECT {hour}, {step}, count(*) FROM spend_logs "
        f"WHERE latency_ms IS NOT NULL GROUP BY {hour}, {step}")


def downgrade() -> None:
    op.drop_column("spend_logs", "response")
    op.drop_column("spend_logs", "messages")
    op.drop_table("latency_hourly")
    op.drop_table("spend_hourly")
