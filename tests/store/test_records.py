"""Keys, users, teams, customers and spend queries on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from polyrelay.store.records import Records, hash_key, now, parse_duration


def test_migrate_is_idempotent(db):
    db.migrate()  # a second start on the same database changes nothing
    assert Records(db).list("key") == []


def test_key_lifecycle(db):
    records = Records(db)
    plain, row = records.create_key({"models": ["gpt-4o"], "max_budget": 5.0, "budget_duration": "30d",
                                     "rpm_limit": 10, "metadata": {"team": "x"}, "user_id": "u1", "key_alias": "ci"})
    assert plain.startswith("sk-") and len(plain) > 30
    assert row["token_hash"] == hash_key(plain) and plain not in str(row)  # only the hash is stored
    assert row["key_name"] == f"sk-...{plain[-4:]}"
    assert row["models"] == ["gpt-4o"] and row["metadata"] == {"team": "x"}
    assert row["budget_reset_at"] - row["created_at"] == timedelta(days=30)

    updated = records.update("key", row["token_hash"], {"max_budget": 9.0, "models": ["a", "b"]})
    assert updated["max_budget"] == 9.0 and updated["models"] == ["a", "b"] and updated["rpm_limit"] == 10

    new_plain, regenerated = records.regenerate_key(row["token_hash"])
    assert new_plain != plain and records.get("key", hash_key(plain)) is None
    assert regenerated["max_budget"] == 9.0 and regenerated["token_hash"] == hash_key(new_plain)

    assert [k["key_alias"] for k in records.list("key", user_id="u1")] == ["ci"]
    assert records.delete("key", [regenerated["token_hash"]]) == 1
    assert records.get("key", regenerated["token_hash"]) is None


def test_users_teams_customers(db):
    records = Records(db)
    records.create("user", {"user_id": "alice", "user_email": "a@example.com", "max_budget": 10})
    records.create("team", {"team_id": "t1", "team_alias": "core", "members": ["alice"], "models": ["gpt-4o"]})
    records.create("customer", {"user_id": "end-user-7", "max_budget": 1.5})
    assert records.get("user", "alice")["user_email"] == "a@example.com"
    assert records.get("team", "t1")["members"] == ["alice"]
    assert records.update("customer", "end-user-7", {"blocked": True})["blocked"] is True
    assert records.delete("team", ["t1", "missing"]) == 1


def test_injection_attempt_is_just_a_wrong_key(db):
    records = Records(db)
    records.create_key({})
    for hostile in ("' OR '1'='1", "x'; DROP TABLE keys; --", "%"):
        assert records.get("key", hostile) is None
        assert records.spend_logs(api_key=hostile) == []
    assert len(records.list("key")) == 1


def test_budget_reset(db):
    records = Records(db)
    _, row = records.create_key({"budget_duration": "1h", "max_budget": 1})
    records.update("key", row["token_hash"], {"spend": 0.75})
    assert records.reset_budgets(now()) == 0
    assert records.reset_budgets(now() + timedelta(hours=2)) == 1
    after = records.get("key", row["token_hash"])
    assert after["spend"] == 0 and after["budget_reset_at"] > now() + timedelta(hours=2)


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("15m", 900), ("24h", 86400), ("7d", 604800),
                                               ("1mo", 2592000)])
def test_parse_duration(text, seconds):
    assert parse_duration(text).total_seconds() == seconds


def test_parse_duration_rejects_nonsense():
    with pytest.raises(ValueError, match="budget_duration"):
        parse_duration("soon")
