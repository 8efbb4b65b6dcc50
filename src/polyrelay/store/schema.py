"""The gateway's records: keys, users, teams, end users (customers), spend.

SQLAlchemy Core tables, one definition for SQLite and PostgreSQL. The
migrations in ``migrations/versions`` create exactly these; a change here
comes with a new migration.

Names and ids that callers, admins or upstreams choose are TEXT (migration
0002): a value the gateway accepted must never be one the database refuses.
"""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, DateTime, Float, Index, Integer, MetaData, String, Table, Text

metadata = MetaData()


def _budget_columns() -> list[Column]:
    return [
        Column("max_budget", Float),
        Column("budget_duration", Text),  # "30d", "7d", "24h", "30m", ...
        Column("budget_reset_at", DateTime(timezone=True)),
        Column("spend", Float, nullable=False, default=0.0),
        Column("models", JSON),
        Column("rpm_limit", Integer),
        Column("tpm_limit", Integer),
        Column("metadata", JSON),
        Column("blocked", Boolean, nullable=False, default=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
    ]


keys = Table(
    "keys", metadata,
    Column("token_hash", String(64), primary_key=True),  # sha256 of the key; the key itself is never stored
    Column("key_name", String(32), nullable=False),  # "sk-...abcd": enough to recognise, not to use
    Column("key_alias", Text),
    Column("user_id", Text, index=True),
    Column("team_id", Text, index=True),
    Column("max_parallel_requests", Integer),
    Column("expires", DateTime(timezone=True)),
    # LiteLLM's per-key extras (migration 0003), each enforced on calls (gateway/key_fields.py)
    Column("aliases", JSON),  # {"asked-for name": "model group"}
    Column("model_max_budget", JSON),  # {"group": {"budget_limit": 1.0, "time_period": "1d"}}
    Column("model_rpm_limit", JSON),  # {"group": 10}
    Column("model_tpm_limit", JSON),  # {"group": 10000}
    Column("soft_budget", Float),  # alert past this spend, never block
    Column("tags", JSON),  # recorded on every spend row of the key's calls
    Column("allowed_routes", JSON),  # paths (or LiteLLM route groups) the key may call
    Column("key_type", String(16)),  # "default" | "llm_api" | "read_only"
    *_budget_columns(),
)

users = Table(
    "users", metadata,
    Column("user_id", Text, primary_key=True),
    Column("user_email", Text),
    Column("user_role", Text),
    *_budget_columns(),
)

teams = Table(
    "teams", metadata,
    Column("team_id", Text, primary_key=True),
    Column("team_alias", Text),
    Column("members", JSON),
    Column("admins", JSON),  # members with role "admin": their keys manage this team (migration 0003)
    Column("organization_id", Text),  # the organization over the team: its budget caps the team (0005)
    Column("member_budgets", JSON),  # {"user id": max_budget_in_team}: a member's spend in the team (0005)
    *_budget_columns(),
)

# Organizations over teams (LiteLLM's /organization/*, migration 0005). An
# organization's spend is its teams' spend, read from the spend logs.
organizations = Table(
    "organizations", metadata,
    Column("organization_id", Text, primary_key=True),
    Column("organization_alias", Text),
    Column("members", JSON),
    Column("admins", JSON),  # members with role "org_admin": their keys manage this organization's teams
    *_budget_columns(),
)

# Models added through /model/new (general_settings.store_model_in_db, migration 0005).
# Secret-named litellm_params values are stored encrypted (gateway/model_store.py).
proxy_models = Table(
    "proxy_models", metadata,
    Column("model_id", Text, primary_key=True),
    Column("model_name", Text, nullable=False),
    Column("litellm_params", JSON, nullable=False),
    Column("model_info", JSON),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# Change counters that instances poll: "models" goes up with every model change,
# in the transaction that makes it, so every instance reloads within a poll.
store_versions = Table(
    "store_versions", metadata,
    Column("name", String(64), primary_key=True),
    Column("version", Integer, nullable=False),
)

customers = Table(
    "customers", metadata,
    Column("user_id", Text, primary_key=True),  # the `user` field of requests
    Column("alias", Text),
    Column("budget_id", Text),  # a shared budget object (migration 0003): its limits apply
    *_budget_columns(),
)

# Budget objects (LiteLLM's /budget/*): limits shared by the customers linked to them;
# spend is still counted per customer (migration 0003).
budgets = Table(
    "budgets", metadata,
    Column("budget_id", Text, primary_key=True),
    Column("max_budget", Float),
    Column("budget_duration", Text),
    Column("rpm_limit", Integer),
    Column("tpm_limit", Integer),
    Column("max_parallel_requests", Integer),
    Column("soft_budget", Float),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

spend_logs = Table(
    "spend_logs", metadata,
    Column("request_id", Text, primary_key=True),  # = the x-polyrelay-call-id header
    Column("call_type", Text, nullable=False),
    Column("api_key", String(64)),  # key hash
    Column("user_id", Text),
    Column("team_id", Text),
    Column("end_user", Text),
    Column("model_group", Text),
    Column("model", Text),
    Column("model_id", Text),
    Column("provider", Text),
    Column("prompt_tokens", Integer, nullable=False, default=0),
    Column("completion_tokens", Integer, nullable=False, default=0),
    Column("cached_tokens", Integer, nullable=False, default=0),
    Column("total_tokens", Integer, nullable=False, default=0),
    Column("spend", Float, nullable=False, default=0.0),
    Column("start_time", DateTime(timezone=True), nullable=False),
    Column("end_time", DateTime(timezone=True), nullable=False),
    Column("latency_ms", Float),
    Column("status", String(16), nullable=False),
    Column("metadata", JSON),
    Column("request_tags", JSON),  # the key's tags and the request's metadata.tags (migration 0003)
    # With general_settings.store_prompts_in_spend_logs (migration 0006): what was sent, what came back.
    Column("messages", JSON),
    Column("response", JSON),
    Index("ix_spend_logs_start_time", "start_time"),
    Index("ix_spend_logs_key_time", "api_key", "start_time"),
    Index("ix_spend_logs_user_time", "user_id", "start_time"),
    Index("ix_spend_logs_team_time", "team_id", "start_time"),
    Index("ix_spend_logs_end_user_time", "end_user", "start_time"),
)

# Hourly roll-ups of spend_logs (migration 0006), kept by the spend drain in the
# transaction that inserts the records, so a record is counted exactly once.
# They answer the admin UI's overview over weeks of records without reading
# each one. Empty text ('') stands for "none" in the key columns: NULLs never
# match in a primary key, and the upsert needs them to.
spend_hourly = Table(
    "spend_hourly", metadata,
    Column("hour", DateTime(timezone=True), primary_key=True),  # start_time truncated to the hour (UTC)
    Column("api_key", String(64), primary_key=True),
    Column("team_id", Text, primary_key=True),
    Column("model_group", Text, primary_key=True),
    Column("requests", Integer, nullable=False),
    Column("failures", Integer, nullable=False),
    Column("spend", Float, nullable=False),
    Column("total_tokens", Integer, nullable=False),
)
# Call counts per hour and latency step (rollup.latency_step: ~1-10% wide), for p50/p95.
latency_hourly = Table(
    "latency_hourly", metadata,
    Column("hour", DateTime(timezone=True), primary_key=True),
    Column("latency_ms", Float, primary_key=True),
    Column("requests", Integer, nullable=False),
)

# Tables whose rows carry a spend total and a budget, by the spend-log column naming their id.
BUDGETED = {"api_key": keys, "user_id": users, "team_id": teams, "end_user": customers}

# Responses API answers kept for GET /v1/responses/{id} and previous_response_id
# (store: true). ``owner`` is the key hash (or "master"/"open"): only it may read them.
responses = Table(
    "responses", metadata,
    Column("response_id", String(64), primary_key=True),
    Column("owner", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("response", JSON, nullable=False),  # the Response object as answered
    Column("messages", JSON, nullable=False),  # the conversation so far as chat messages, output included
    Index("ix_responses_owner_created", "owner", "created_at"),
)
