"""Client-side endpoint values: metadata addresses in every spelling, and
admin URL patterns that compare whole origins."""

from __future__ import annotations

import pytest

from polyrelay.errors import BadRequestError, PermissionDeniedError
from polyrelay.gateway.clientside import check_url, check_value, is_metadata_host, pattern_allows


@pytest.mark.parametrize("host", ["169.254.169.254", "2852039166", "0xa9fea9fe", "0251.0376.0251.0376",
                                  "169.254.43518", "::ffff:169.254.169.254", "fd00:ec2::254", "fe80::1",
                                  "metadata.google.internal", "metadata", "[fd00:ec2::254]"])
def test_metadata_hosts(host):
    assert is_metadata_host(host)


@pytest.mark.parametrize("host", ["127.0.0.1", "api.openai.com", "10.0.0.5", "::1", "fd00::1", "169.255.0.1"])
def test_ordinary_hosts(host):
    assert not is_metadata_host(host)


@pytest.mark.parametrize("url, allowed", [
    ("http://127.0.0.1:4106", True), ("http://127.0.0.1:4106/", True), ("http://127.0.0.1:4106/v1", True),
    ("http://127.0.0.1:41060/v1", False), ("https://127.0.0.1:4106/v1", False),
    ("http://127.0.0.1:4106.evil.example/v1", False), ("http://127.0.0.2:4106/v1", False),
])
def test_plain_url_patterns_compare_the_origin(url, allowed):
    assert pattern_allows("http://127.0.0.1:4106", url) is allowed


def test_path_patterns_match_whole_segments():
    assert pattern_allows("https://proxy.example/team-a", "https://proxy.example/team-a/v1")
    assert not pattern_allows("https://proxy.example/team-a", "https://proxy.example/team-ab/v1")


def test_regex_patterns_must_match_the_whole_url():
    pattern = r"^https://[a-z]+\.fireworks\.ai/v1$"
    assert pattern_allows(pattern, "https://api.fireworks.ai/v1")
    assert not pattern_allows(pattern, "https://api.fireworks.ai/v1.evil.example")
    assert not pattern_allows("(", "https://x")  # a broken pattern allows nothing


@pytest.mark.parametrize("url", ["file:///etc/passwd", "gopher://x", "http://", "http://a@b/", "http://a:b@c/",
                                 "http://x y/", "http://[::1/"])
def test_bad_urls_are_refused(url):
    with pytest.raises(BadRequestError):
        check_url("api_base", url, allow_metadata_hosts=False)


def test_metadata_url_refused_unless_allowed():
    with pytest.raises(PermissionDeniedError):
        check_url("api_base", "http://169.254.169.254/", allow_metadata_hosts=False)
    assert check_url("api_base", "http://169.254.169.254/", allow_metadata_hosts=True)[1] == "169.254.169.254"


@pytest.mark.parametrize("key, value", [("aws_region_name", "x@127.0.0.1:4107/"), ("aws_region_name", "US-EAST-1"),
                                        ("api_version", "2024-01-01@evil"), ("vertex_project", "../x"),
                                        ("vertex_location", "a b")])
def test_token_fields_hold_no_hosts(key, value):
    with pytest.raises(BadRequestError):
        check_value(key, value, allow_metadata_hosts=False)


def test_token_fields_accept_real_values():
    for key, value in (("aws_region_name", "eu-west-1"), ("api_version", "2024-02-15-preview"),
                       ("vertex_project", "my-project-123"), ("vertex_location", "us-central1")):
        check_value(key, value, allow_metadata_hosts=False)
