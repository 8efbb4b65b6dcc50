"""The admin UI over plain HTTP against a real gateway process: sign-in,
the session cookie, CSRF, security headers, escaping, page weight, and
that the UI's forms go through the management API's checks."""

from __future__ import annotations

import re

import httpx
import pytest

from uihelp import ALICE_PASSWORD, MASTER, calls, csrf, login_token, sign_in, start_gateway, unique, wait_for_logs

ADMIN = {"Authorization": f"Bearer {MASTER}"}


@pytest.fixture(scope="module")
def gw():
    process = start_gateway()
    yield process
    process.stop()


def key_count(gw) -> int:
    return httpx.get(gw.url + "/key/list", headers=ADMIN, timeout=10).json()["total_count"]


def test_root_redirects_to_the_ui_and_the_ui_to_sign_in(gw):
    assert httpx.get(gw.url + "/").headers["location"] == "/ui"
    for page in ("/ui", "/ui/keys", "/ui/logs", "/ui/models"):
        answer = httpx.get(gw.url + page)
        assert answer.status_code == 303 and answer.headers["location"] == "/ui/login", page
    # The API itself still wants a key: the UI's exemption is for /ui only.
    assert httpx.get(gw.url + "/key/list").status_code == 401


def test_security_headers_on_every_page(gw):
    client = sign_in(gw)
    for page in ("/ui/login", "/ui", "/ui/keys", "/ui/logs"):
        headers = client.get(page).headers
        assert "default-src 'self'" in headers["content-security-policy"]
        assert "'unsafe-inline'" not in headers["content-security-policy"]
        assert headers["x-frame-options"] == "DENY"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["cache-control"] == "no-store"


def test_session_cookie_is_httponly_samesite_strict_and_secure_behind_tls(gw):
    client = httpx.Client(base_url=gw.url, headers={"origin": gw.url})
    token = login_token(client)
    answer = client.post("/ui/login", data={"login_token": token, "password": MASTER})
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("polyrelay_ui="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" not in cookie
    client = httpx.Client(base_url=gw.url, headers={"origin": gw.url})
    token = login_token(client)
    answer = client.post("/ui/login", data={"login_token": token, "password": MASTER},
                         headers={"x-forwarded-proto": "https"})
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("polyrelay_ui="))
    assert "Secure" in cookie and "HttpOnly" in cookie


def test_wrong_password_is_refused_and_gives_no_session(gw):
    client = httpx.Client(base_url=gw.url, headers={"origin": gw.url})
    for username, password in (("", "sk-not-the-master"), ("alice", "wrong password"), ("bob", ALICE_PASSWORD),
                               ("alice", MASTER)):
        answer = client.post("/ui/login", data={"login_token": login_token(client), "username": username,
                                                "password": password})
        assert answer.status_code == 401 and "Wrong user name or password" in answer.text
        assert not any(c.startswith("polyrelay_ui=") for c in answer.headers.get_list("set-cookie"))
    assert client.get("/ui").status_code == 303


def test_ui_user_from_config_signs_in_and_out(gw):
    client = sign_in(gw, "alice", ALICE_PASSWORD)
    page = client.get("/ui")
    assert page.status_code == 200 and "alice" in page.text
    out = client.post("/ui/logout", data={"csrf_token": csrf(client, "/ui")})
    assert out.status_code == 303 and out.headers["location"] == "/ui/login"
    assert client.get("/ui").status_code == 303  # the cookie is gone


def test_a_forged_or_tampered_session_is_refused(gw):
    client = sign_in(gw)
    value = client.cookies["polyrelay_ui"]
    body, signature = value.rsplit(".", 1)
    for forged in (body + "." + signature[::-1], "eyJ1IjoiYWRtaW4iLCJuIjoieCIsImUiOjk5OTk5OTk5OTl9.x", "garbage"):
        other = httpx.Client(base_url=gw.url, cookies={"polyrelay_ui": forged})
        assert other.get("/ui/keys").status_code == 303


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(gw):
    client = sign_in(gw)
    before = key_count(gw)
    for data in ({"key_alias": unique("no-csrf")}, {"key_alias": unique("bad-csrf"), "csrf_token": "x" * 43}):
        answer = client.post("/ui/keys/create", data=data)
        assert answer.status_code == 403 and "CSRF" in answer.text
    # Right token, but sent from another site (its Origin): refused too.
    answer = client.post("/ui/keys/create", data={"csrf_token": csrf(client), "key_alias": unique("x-site")},
                         headers={"origin": "http://evil.example"})
    assert answer.status_code == 403
    # Without a session at all: refused, not redirected into doing it.
    anonymous = httpx.Client(base_url=gw.url)
    assert anonymous.post("/ui/keys/create", data={"key_alias": unique("anon")}).status_code == 403
    # The sign-in form has its own token (double-submit cookie).
    fresh = httpx.Client(base_url=gw.url)
    assert fresh.post("/ui/login", data={"password": MASTER}).status_code == 403
    assert key_count(gw) == before


def test_create_key_shows_the_secret_once_and_the_key_works(gw):
    client = sign_in(gw)
    alias = unique("svc")
    answer = client.post("/ui/keys/create", data={"csrf_token": csrf(client), "key_alias": alias, "models": ["cheap"],
                                                 "max_budget": "2.5", "rpm_limit": "100", "duration": "30d"})
    assert answer.status_code == 200 and "shown only this once" in answer.text
    secret = re.search(r'id="new-key"[^>]*>(sk-[^<]+)<', answer.text).group(1)
    listing = client.get("/ui/keys").text
    assert alias in listing and secret not in listing and secret[-4:] in listing  # "sk-...abcd" only
    info = httpx.get(gw.url + "/key/info", params={"key": secret}, headers=ADMIN).json()["info"]
    assert info["key_alias"] == alias and info["models"] == ["cheap"] and info["max_budget"] == 2.5
    assert info["rpm_limit"] == 100 and info["expires"]
    calls(gw, secret, ok=1)
    # The key may call only "cheap": the management checks hold for what the UI made.
    assert httpx.post(gw.url + "/v1/chat/completions", json={"model": "other", "messages": [{"role": "user",
                      "content": "x"}]}, headers={"Authorization": f"Bearer {secret}"}).status_code == 403


def test_bad_form_values_are_refused_with_the_managements_message(gw):
    client = sign_in(gw)
    token = csrf(client)
    answer = client.post("/ui/keys/create", data={"csrf_token": token, "max_budget": "lots", "models": ["other"],
                                                 "key_alias": "kept-alias"})
    assert answer.status_code == 400 and "max_budget must be a number" in answer.text
    # What was typed is kept for the second try.
    assert '<option value="other" selected>' in answer.text and 'value="kept-alias"' in answer.text
    answer = client.post("/ui/keys/create", data={"csrf_token": token, "team_id": "no-such-team"})
    assert answer.status_code == 400 and "does not exist" in answer.text
    answer = client.post("/ui/keys/create", data={"csrf_token": token, "budget_duration": "forever"})
    assert answer.status_code == 400 and "budget_duration" in answer.text


def test_an_xss_attempt_in_a_key_alias_is_escaped(gw):
    client = sign_in(gw)
    alias = '<script>alert("x")</script><img src=x onerror=alert(1)>' + unique("")
    answer = client.post("/ui/keys/create", data={"csrf_token": csrf(client), "key_alias": alias})
    assert answer.status_code == 200
    for page in (answer.text, client.get("/ui/keys").text):
        assert "<script>alert" not in page and "<img src=x" not in page
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in page


def test_block_regenerate_and_delete_from_the_ui(gw):
    client = sign_in(gw)
    answer = client.post("/ui/keys/create", data={"csrf_token": csrf(client), "key_alias": unique("life")})
    secret = re.search(r'id="new-key"[^>]*>(sk-[^<]+)<', answer.text).group(1)
    token_hash = httpx.get(gw.url + "/key/info", params={"key": secret}, headers=ADMIN).json()["info"]["token"]

    def act(action):
        return client.post("/ui/keys/action", data={"csrf_token": csrf(client), "token": token_hash,
                                                    "action": action})

    def status(key):
        return httpx.post(gw.url + "/v1/chat/completions", json={"model": "cheap", "messages": [
            {"role": "user", "content": "x"}]}, headers={"Authorization": f"Bearer {key}"}).status_code

    assert act("block").status_code == 303 and client.get("/ui/keys").text.count("Key blocked.") == 1
    assert status(secret) in (401, 403)
    assert act("unblock").status_code == 303 and status(secret) == 200
    regenerated = act("regenerate")
    new = re.search(r'id="new-key"[^>]*>(sk-[^<]+)<', regenerated.text).group(1)
    assert new != secret and status(secret) == 401 and status(new) == 200
    token_hash = httpx.get(gw.url + "/key/info", params={"key": new}, headers=ADMIN).json()["info"]["token"]
    assert act("delete").status_code == 303 and status(new) == 401
    assert act("frobnicate").status_code == 400


def test_users_teams_and_end_users_pages(gw):
    client = sign_in(gw)
    team = unique("team")
    answer = client.post("/ui/teams/create", data={"csrf_token": csrf(client, "/ui/teams"), "team_id": team,
                                                  "team_alias": "Search <b>team</b>", "max_budget": "10"})
    assert answer.status_code == 303
    page = client.get("/ui/teams").text
    assert team in page and "Search &lt;b&gt;team&lt;/b&gt;" in page
    user = client.post("/ui/users/create", data={"csrf_token": csrf(client, "/ui/users"), "user_id": unique("u"),
                                                "user_email": "dev@example.com"})
    assert user.status_code == 200 and "shown only this once" in user.text  # /user/new issues a key
    customer = unique("cust")
    assert client.post("/ui/customers/create", data={"csrf_token": csrf(client, "/ui/customers"),
                                                     "user_id": customer, "max_budget": "1"}).status_code == 303
    assert customer in client.get("/ui/customers").text
    assert client.post("/ui/customers/action", data={"csrf_token": csrf(client, "/ui/customers"), "id": customer,
                                                     "action": "block"}).status_code == 303
    info = httpx.get(gw.url + "/customer/info", params={"end_user_id": customer}, headers=ADMIN).json()
    assert info["customer_info"]["blocked"] is True
    assert client.post("/ui/teams/action", data={"csrf_token": csrf(client, "/ui/teams"), "id": team,
                                                 "action": "delete"}).status_code == 303
    assert team not in client.get("/ui/teams").text


def test_overview_and_logs_show_real_calls(gw):
    client = sign_in(gw)
    answer = client.post("/ui/keys/create", data={"csrf_token": csrf(client), "key_alias": unique("traffic")})
    secret = re.search(r'id="new-key"[^>]*>(sk-[^<]+)<', answer.text).group(1)
    before = len(wait_for_logs(gw, 0))
    calls(gw, secret, ok=4, failed=2)
    rows = wait_for_logs(gw, before + 6)
    assert len(rows) >= before + 6
    overview = client.get("/ui?range=24h").text
    total = int(re.search(r'id="total-requests">([\d,]+)<', overview).group(1).replace(",", ""))
    assert total == len(rows)
    points = [int(n) for n in re.findall(r'data-points="(\d+)"', overview)]
    assert len(points) == 2 and all(n >= 1 for n in points)  # spend and requests charts both have bars
    assert "failed" in overview and "<svg" in overview
    logs = client.get("/ui/logs", params={"status": "failure"}).text
    assert logs.count('class="badge bad">failure<') >= 2 and 'badge ok">success<' not in logs
    one = client.get("/ui/logs", params={"key": rows[0]["api_key"] if rows[0]["api_key"] else ""}).text
    assert "<table" in one
    detail = client.get(f"/ui/logs/{rows[0]['request_id']}")
    assert detail.status_code == 200 and rows[0]["request_id"] in detail.text
    assert client.get("/ui/logs/no-such-request").status_code == 404
    assert "No key has the alias" in client.get("/ui/logs", params={"key": "nobody"}).text


def test_models_and_runtime_pages(gw):
    client = sign_in(gw)
    models = client.get("/ui/models").text
    assert "mock/cheap" in models and "mock/other" in models and "store_model_in_db" in models
    runtime = client.get("/ui/runtime").text
    assert "no-secrets" in runtime and "local" in runtime and "Hit rate" in runtime


def test_first_page_weighs_under_300_kb(gw):
    client = sign_in(gw)
    page = client.get("/ui")
    assets = re.findall(r'(?:href|src)="(/ui/static/[^"]+)"', page.text)
    assert assets  # the stylesheet and icon, served from the package
    total = len(page.content) + sum(len(client.get(a).content) for a in assets)
    assert total < 300 * 1024
    assert not re.search(r'(?:href|src)="(?:https?:)?//', page.text)  # nothing from another host


def test_sign_in_is_throttled_after_repeated_failures():
    gw = start_gateway()
    try:
        client = httpx.Client(base_url=gw.url, headers={"origin": gw.url})
        codes = [client.post("/ui/login", data={"login_token": login_token(client), "password": "nope"}).status_code
                 for _ in range(11)]
        assert codes[:10] == [401] * 10 and codes[10] == 429
        # Even the right password waits out the window.
        right = client.post("/ui/login", data={"login_token": login_token(client), "password": MASTER})
        assert right.status_code == 429
    finally:
        gw.stop()


def test_without_a_master_key_or_ui_users_nobody_signs_in():
    from gateway.gateway_process import GatewayProcess

    gw = GatewayProcess("model_list:\n  - model_name: m\n    litellm_params: {model: mock/m}\n").start()
    try:
        client = httpx.Client(base_url=gw.url, headers={"origin": gw.url})
        page = client.get("/ui/login")
        assert page.status_code == 200 and "nobody can sign in" in page.text and "password" not in page.text
        token = client.cookies["polyrelay_ui_login"]  # a browser could still post the form by hand
        answer = client.post("/ui/login", data={"login_token": token, "password": ""})
        assert answer.status_code == 403 and "Sign-in is off" in answer.text
        assert client.get("/ui").status_code == 303
    finally:
        gw.stop()


def test_models_are_read_only_without_store_model_in_db(gw):
    client = sign_in(gw)
    page = client.get("/ui/models").text
    assert "store_model_in_db: true" in page and 'action="/ui/models/create"' not in page
    token = csrf(client, "/ui/models")
    answer = client.post("/ui/models/create", data={"csrf_token": token, "model_name": "new", "model": "mock/new"})
    assert answer.status_code == 400 and "only with general_settings.store_model_in_db: true" in answer.text
    answer = client.post("/ui/models/action", data={"csrf_token": token, "id": "x", "action": "delete"})
    assert answer.status_code == 400
    assert "new" not in [m["id"] for m in httpx.get(gw.url + "/v1/models", headers=ADMIN).json()["data"]]
