"""UI sign-in pieces: password hashes, sessions, CSRF tokens, and the
config that names UI users."""

from __future__ import annotations

import hashlib
import base64
import time

import pytest

import yaml

from polyrelay.gateway.config import ConfigError, build
from polyrelay.ui.auth import MASTER_USER, UIAuth, check_hash_format, hash_password, verify_password

MODEL = "model_list:\n  - model_name: m\n    litellm_params: {model: mock/m}\n"


def load_text(text: str):
    return build(yaml.safe_load(text))


def test_scrypt_hash_round_trip_and_salted():
    stored = hash_password("s3cret-password")
    assert stored.startswith("scrypt$") and check_hash_format(stored) is None
    assert verify_password("s3cret-password", stored)
    assert not verify_password("s3cret-passwore", stored) and not verify_password("", stored)
    assert hash_password("s3cret-password") != stored  # a new salt each time


def test_pbkdf2_hashes_made_elsewhere_are_accepted():
    salt = b"0123456789abcdef"
    digest = hashlib.pbkdf2_hmac("sha256", b"hunter22", salt, 1000)
    b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()  # noqa: E731
    stored = f"pbkdf2_sha256$1000${b64(salt)}${b64(digest)}"
    assert check_hash_format(stored) is None
    assert verify_password("hunter22", stored) and not verify_password("hunter23", stored)


@pytest.mark.parametrize("bad", ["plaintext", "md5$abc$def", "scrypt$x$8$1$aa$bb", "pbkdf2_sha256$1$@@$@@", None])
def test_unusable_hashes_are_named(bad):
    assert "python -m polyrelay.ui.passwords" in check_hash_format(bad)
    assert bad is None or not verify_password("x", bad)


def test_sign_in_with_master_key_or_users():
    auth = UIAuth("sk-master", {"alice": hash_password("wonderland")}, {"bob": "builder"})
    assert auth.sign_in("", "sk-master") == MASTER_USER and auth.sign_in("admin", "sk-master") == MASTER_USER
    assert auth.sign_in("alice", "wonderland") == "alice" and auth.sign_in("bob", "builder") == "bob"
    for user, password in (("alice", "sk-master"), ("bob", "wonderland"), ("carol", "builder"), ("", ""),
                           ("alice", "")):
        assert auth.sign_in(user, password) is None
    assert not UIAuth(None, {}, {}).enabled and UIAuth(None, {"a": hash_password("12345678")}, {}).enabled


def test_sessions_are_signed_expire_and_die_with_the_secrets():
    auth = UIAuth("sk-master", {}, {})
    cookie = auth.new_session("admin")
    session = auth.read_session(cookie)
    assert session is not None and session.user == "admin"
    body, signature = cookie.rsplit(".", 1)
    assert auth.read_session(body + "." + signature[:-2] + "AA") is None
    assert auth.read_session("x" + cookie) is None and auth.read_session(None) is None
    # Another master key (or salt) signs differently: old sessions end.
    assert UIAuth("sk-other", {}, {}).read_session(cookie) is None
    assert UIAuth("sk-master", {}, {}, salt="pepper").read_session(cookie) is None
    # Expired.
    import polyrelay.ui.auth as module
    real = time.time
    try:
        module.time.time = lambda: real() + module.SESSION_SECONDS + 5
        assert auth.read_session(cookie) is None
    finally:
        module.time.time = real


def test_csrf_token_is_bound_to_the_session():
    auth = UIAuth("sk-master", {}, {})
    one, two = auth.read_session(auth.new_session("admin")), auth.read_session(auth.new_session("admin"))
    assert auth.csrf_ok(one, auth.csrf_token(one)) and not auth.csrf_ok(one, auth.csrf_token(two))
    assert not auth.csrf_ok(one, "") and not auth.csrf_ok(one, None)


def test_ui_users_in_config_are_checked_by_name():
    good = hash_password("a-long-password")
    config = load_text(MODEL + f"general_settings:\n  ui_users:\n    - {{username: alice, password_hash: '{good}'}}\n")
    assert config.general_settings["ui_users"][0]["username"] == "alice"
    for users, named in (("[{username: alice, password_hash: plain}]", "ui_users[0].password_hash"),
                         ("[{username: alice, password: x}]", "ui_users[0].password"),
                         (f"[{{username: a, password_hash: '{good}'}}, {{username: a, password_hash: '{good}'}}]",
                          "ui_users[1].username"),
                         ("alice", "ui_users must be a list")):
        with pytest.raises(ConfigError, match=named.replace("[", r"\[").replace("]", r"\]")):
            load_text(MODEL + f"general_settings:\n  ui_users: {users}\n")


def test_litellm_ui_password_is_a_secret_scrubbed_from_answers():
    config = load_text(MODEL + "general_settings:\n  ui_username: admin2\n  ui_password: pw-123456\n")
    assert "pw-123456" in config.secrets()
