"""The admin UI in a real headless browser: Debian's chromium driven by
Playwright (launched from /usr/bin/chromium; Playwright's own browser
download is never used). Every request the browser makes is checked to stay
on 127.0.0.1, every console message of type error fails the test (a
Content-Security-Policy violation is one), and a screenshot of each page is
saved under artifacts/ui/."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

import services

from uihelp import ALICE_PASSWORD, MASTER, calls, start_gateway, unique, wait_for_logs

CHROMIUM = os.environ.get("POLYRELAY_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "ui"


@pytest.fixture(scope="module")
def gw():
    process = start_gateway(general="  store_prompts_in_spend_logs: true")  # request pages show messages
    yield process
    process.stop()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        services._missing("chromium", "apt-get install chromium")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


class Watched:
    """A browser page whose console errors and off-host requests are collected."""

    def __init__(self, browser, gw):
        self.context = browser.new_context(viewport={"width": 1360, "height": 900})
        self.errors: list[str] = []
        self.offsite: list[str] = []
        self.dialogs: list[str] = []
        self.context.route("**/*", self._only_loopback)
        self.page = self.context.new_page()
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.gw = gw

    def _only_loopback(self, route):
        host = urlsplit(route.request.url).hostname
        if host != "127.0.0.1":
            self.offsite.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    def goto(self, path: str):
        response = self.page.goto(self.gw.url + path)
        assert response is not None and response.status == 200, path
        return response

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    def sign_in(self, username: str = "", password: str = MASTER) -> None:
        self.goto("/ui/login")
        self.page.fill("input[name=username]", username)
        self.page.fill("input[name=password]", password)
        self.page.click("button[type=submit]")

    def open_panel(self) -> None:
        """Unfold the "Create ..." panel (folded once the list has rows)."""
        if self.page.get_attribute("details.panel", "open") is None:
            self.page.click("details.panel summary")

    def clean(self, expected_status: int | None = None) -> None:
        """No console errors (but the one Chrome logs for a page answered with an expected error status)."""
        errors = [e for e in self.errors if not (expected_status and f"status of {expected_status}" in e)]
        assert errors == [], errors
        assert self.offsite == [], self.offsite
        assert self.dialogs == [], self.dialogs  # no alert() ever ran

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def watched(browser, gw):
    tab = Watched(browser, gw)
    yield tab
    tab.close()


def test_wrong_password_is_refused(watched):
    watched.sign_in(password="sk-wrong")
    assert "Wrong user name or password" in watched.page.inner_text(".error")
    assert urlsplit(watched.page.url).path == "/ui/login"
    watched.shot("login-refused")
    watched.clean(expected_status=401)


def test_sign_in_create_a_key_and_see_it_listed_secret_shown_once(watched, gw):
    watched.goto("/ui/login")
    watched.shot("login")
    watched.sign_in()
    assert urlsplit(watched.page.url).path == "/ui"
    watched.goto("/ui/keys")
    watched.open_panel()
    alias = unique("checkout-service")
    watched.page.fill("#create-key input[name=key_alias]", alias)
    watched.page.select_option("#create-key select[name=models]", ["cheap"])
    watched.page.fill("#create-key input[name=max_budget]", "25")
    watched.page.fill("#create-key input[name=budget_duration]", "30d")
    watched.page.fill("#create-key input[name=rpm_limit]", "600")
    watched.page.click("#create-key button[type=submit]")
    secret = watched.page.inner_text("#new-key").strip()
    assert secret.startswith("sk-") and "shown only this once" in watched.page.content()
    watched.shot("key-created")
    watched.goto("/ui/keys")
    row = watched.page.locator("#keys tr", has_text=alias)
    assert row.count() == 1 and "cheap" in row.inner_text() and "$25.00" in row.inner_text()
    assert secret not in watched.page.content()  # never again
    watched.shot("keys")
    # The key works through the gateway.
    calls(gw, secret, ok=1)
    watched.clean()


def test_xss_in_a_key_alias_stays_inert(watched):
    watched.sign_in()
    watched.goto("/ui/keys")
    watched.open_panel()
    alias = "<img src=x onerror=\"window.__xss=1;alert('xss')\"><script>window.__xss=2</script>" + unique("")
    watched.page.fill("#create-key input[name=key_alias]", alias)
    watched.page.click("#create-key button[type=submit]")
    watched.goto("/ui/keys")
    cell = watched.page.locator("#keys td.alias", has_text="window.__xss")
    assert cell.count() == 1 and cell.inner_text() == alias  # shown as text, exactly as typed
    assert watched.page.evaluate("window.__xss") is None
    assert watched.page.locator("#keys img").count() == 0 and watched.page.locator("main script").count() == 0
    watched.clean()


def test_a_chart_renders_with_real_data(watched, gw):
    secret = httpx.post(gw.url + "/key/generate", json={"key_alias": unique("chart")},
                        headers={"Authorization": f"Bearer {MASTER}"}).json()["key"]
    before = len(wait_for_logs(gw, 0))
    calls(gw, secret, ok=6, failed=2)
    rows = wait_for_logs(gw, before + 8)
    watched.sign_in()
    watched.goto("/ui?range=24h")
    bars = watched.page.locator("svg.chart rect.bar")
    assert bars.count() >= 2  # a spend bar and a requests bar, at least
    box = bars.first.bounding_box()
    assert box is not None and box["height"] > 1 and box["width"] > 1  # drawn, visible
    assert watched.page.locator("svg.chart rect.bar-part").count() >= 1  # the failures
    assert watched.page.inner_text("#total-requests").replace(",", "") == str(len(rows))
    tip = watched.page.locator("svg.chart rect.bar title").first.text_content()
    assert re.search(r"\d{2}-\d{2} \d{2}:00: ", tip)
    assert "cheap" in watched.page.locator(".tops > div", has_text="Top models").inner_text()
    watched.shot("overview")
    watched.clean()


def test_every_page_renders_without_console_errors_or_offsite_requests(watched, gw):
    watched.sign_in()
    for path, field, value in (("/ui/teams", "team_alias", "Search & Ranking"), ("/ui/users", "user_email",
                                "dev@example.com"), ("/ui/customers", "user_id", unique("customer"))):
        watched.goto(path)
        watched.open_panel()
        watched.page.fill(f"details.panel input[name={field}]", value)
        watched.page.click("details.panel button[type=submit]")
        assert value in watched.page.content().replace("&amp;", "&") or "shown only this once" in watched.page.content()
    for path, name, marker in (("/ui/keys", "keys-list", "Keys"), ("/ui/users", "users", "Users"),
                               ("/ui/teams", "teams", "Teams"), ("/ui/customers", "end-users", "End users"),
                               ("/ui/models", "models", "Models"), ("/ui/logs", "logs", "Request logs"),
                               ("/ui/runtime", "guardrails-cache", "Guardrails")):
        watched.goto(path)
        assert marker in watched.page.inner_text("h1"), path
        # The stylesheet applied (a CSP that blocked it would leave the header unstyled).
        color = watched.page.eval_on_selector("header.top", "e => getComputedStyle(e).backgroundColor")
        assert color == "rgb(21, 26, 38)", (path, color)
        watched.shot(name)
    # A request's detail page, reached by clicking through the log.
    watched.goto("/ui/logs?status=success")
    watched.page.locator("#logs tbody tr a").first.click()
    assert "Request" in watched.page.inner_text("h1") and "Tokens" in watched.page.inner_text("dl")
    assert re.fullmatch(r"hello \d+", watched.page.locator("#messages .msg pre").last.inner_text())
    assert watched.page.locator("#answer .msg").count() == 1
    watched.shot("log-detail")
    watched.clean()


def test_filter_the_request_log_by_status_and_model(watched, gw):
    watched.sign_in()
    watched.goto("/ui/logs")
    watched.page.select_option("select[name=status]", "failure")
    watched.page.fill("input[name=model]", "cheap")
    watched.page.click(".filters button[type=submit]")
    statuses = watched.page.locator("#logs tbody td .badge").all_inner_texts()
    assert statuses and set(statuses) == {"failure"}
    watched.clean()


def test_ui_user_signs_in_and_out(watched):
    watched.sign_in("alice", ALICE_PASSWORD)
    assert "alice" in watched.page.inner_text(".signout")
    watched.page.click(".signout button")
    assert urlsplit(watched.page.url).path == "/ui/login" and "Signed out" in watched.page.content()
    watched.page.goto(watched.gw.url + "/ui/keys")
    assert urlsplit(watched.page.url).path == "/ui/login"
    watched.clean()


def test_block_then_delete_a_key_with_confirmation(watched, gw):
    secret = httpx.post(gw.url + "/key/generate", json={"key_alias": unique("doomed")},
                        headers={"Authorization": f"Bearer {MASTER}"}).json()["key"]
    alias = httpx.get(gw.url + "/key/info", params={"key": secret},
                      headers={"Authorization": f"Bearer {MASTER}"}).json()["info"]["key_alias"]
    watched.sign_in()
    watched.goto("/ui/keys")
    row = watched.page.locator("#keys tr", has_text=alias)
    row.locator("button", has_text="Block").click()
    assert "Key blocked." in watched.page.inner_text(".flash")
    row = watched.page.locator("#keys tr", has_text=alias)
    assert "blocked" in row.inner_text()
    row.locator("summary", has_text="Delete").click()
    watched.shot("key-delete-confirm")
    row.locator("button", has_text="Yes, delete").click()
    assert "Key deleted." in watched.page.inner_text(".flash")
    assert watched.page.locator("#keys tr", has_text=alias).count() == 0
    assert httpx.post(gw.url + "/v1/chat/completions", json={"model": "cheap", "messages": [
        {"role": "user", "content": "x"}]}, headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    watched.clean()
