"""A small S3 client for the S3 logging sink (observe/sinks/s3.py) and the S3
cache (caching/backends/s3.py): PutObject, GetObject, DeleteObject and
HeadBucket over httpx, signed with SigV4 by botocore (the ``bedrock`` extra,
the same signer the Bedrock provider uses). boto3 is not needed: four plain
REST calls do not justify its client machinery and thread pool.

Settings use LiteLLM's names (``s3_callback_params`` / ``cache_params``):
``s3_bucket_name`` (required), ``s3_region_name``, ``s3_endpoint_url`` (an
S3-compatible service: MinIO, R2, moto...; addressed path-style),
``s3_path`` (a key prefix), ``s3_aws_access_key_id``,
``s3_aws_secret_access_key``, ``s3_aws_session_token``, ``s3_use_ssl``,
``s3_verify``. A value ``os.environ/NAME`` is read from the environment.
Credentials not given are taken from ``AWS_ACCESS_KEY_ID`` /
``AWS_SECRET_ACCESS_KEY`` / ``AWS_SESSION_TOKEN``, else from botocore's own
chain (shared credentials file, instance role), resolved on first use.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

ENV_PREFIX = "os.environ/"
# The settings both users take. Others of LiteLLM's (s3_config, role assumption,
# s3_api_version...) are refused by name by the caller: never silently ignored.
PARAMS = frozenset({"s3_bucket_name", "s3_region_name", "s3_endpoint_url", "s3_path", "s3_aws_access_key_id",
                    "s3_aws_secret_access_key", "s3_aws_session_token", "s3_use_ssl", "s3_verify"})


class S3Error(RuntimeError):
    """S3 answered with an error status (the message has the status and S3's error code, never a credential)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def resolve_env(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(ENV_PREFIX):
        name = value[len(ENV_PREFIX):]
        found = os.environ.get(name)
        if found is None:
            raise ValueError(f"environment variable {name} (named by os.environ/{name}) is not set")
        return found
    return value


def _flag(name: str, value: Any, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise ValueError(f"{name} must be true or false, got {value!r}")


@dataclass(frozen=True)
class S3Settings:
    bucket: str
    region: str
    endpoint: str | None
    prefix: str
    access_key: str | None
    secret_key: str | None
    session_token: str | None
    use_ssl: bool
    verify: bool | str

    @classmethod
    def from_params(cls, params: dict[str, Any], where: str) -> "S3Settings":
        """Checked settings; ValueError naming ``where`` and the setting that is wrong."""
        values = {name: resolve_env(value) for name, value in params.items()}
        bucket = values.get("s3_bucket_name")
        if not bucket or not isinstance(bucket, str):
            raise ValueError(f"{where} needs s3_bucket_name (the bucket to write to)")
        access, secret = values.get("s3_aws_access_key_id"), values.get("s3_aws_secret_access_key")
        if bool(access) != bool(secret):
            raise ValueError(f"{where}: give both s3_aws_access_key_id and s3_aws_secret_access_key, or neither")
        verify = values.get("s3_verify")
        if verify is None or isinstance(verify, bool) or str(verify).lower() in ("true", "false"):
            verify = _flag("s3_verify", verify, True)
        elif not os.path.exists(str(verify)):
            raise ValueError(f"{where}: s3_verify {verify!r} is neither true/false nor a CA bundle file")
        endpoint = values.get("s3_endpoint_url")
        if endpoint is not None and not str(endpoint).startswith(("http://", "https://")):
            raise ValueError(f"{where}: s3_endpoint_url must start with http:// or https://, got {endpoint!r}")
        region = (values.get("s3_region_name") or os.environ.get("AWS_REGION")
                  or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1")
        return cls(bucket=bucket, region=str(region), endpoint=str(endpoint).rstrip("/") if endpoint else None,
                   prefix=str(values.get("s3_path") or "").strip("/"), access_key=access, secret_key=secret,
                   session_token=values.get("s3_aws_session_token"),
                   use_ssl=_flag("s3_use_ssl", values.get("s3_use_ssl"), True), verify=verify)

    def object_url(self, key: str) -> str:
        quoted = quote(key, safe="/-_.~")
        if self.endpoint:  # S3-compatible services: path-style
            return f"{self.endpoint}/{self.bucket}/{quoted}" if key else f"{self.endpoint}/{self.bucket}"
        scheme = "https" if self.use_ssl else "http"
        return f"{scheme}://{self.bucket}.s3.{self.region}.amazonaws.com/{quoted}"

    def key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name


class S3Client:
    """Async S3 calls on one bucket. Made and used on one event loop."""

    def __init__(self, settings: S3Settings, timeout: float = 15.0) -> None:
        try:
            from botocore.auth import S3SigV4Auth  # noqa: F401
        except ImportError as exc:
            raise ValueError("S3 needs botocore to sign requests: pip install 'polyrelay[bedrock]'") from exc
        self.settings = settings
        self.timeout = timeout
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._credentials: Any = None

    async def put(self, key: str, body: bytes, content_type: str = "application/json",
                  metadata: dict[str, str] | None = None) -> None:
        headers = {"content-type": content_type}
        for name, value in (metadata or {}).items():
            headers[f"x-amz-meta-{name}"] = value  # user metadata: S3 keeps it with the object
        reply = await self._send("PUT", key, body, headers)
        self._check(reply, "PutObject", key)

    async def get(self, key: str) -> tuple[bytes, dict[str, str]] | None:
        """The object's bytes and its user metadata, or None when there is no such key."""
        reply = await self._send("GET", key)
        if reply.status_code == 404:
            return None
        self._check(reply, "GetObject", key)
        metadata = {name[len("x-amz-meta-"):]: value for name, value in reply.headers.items()
                    if name.lower().startswith("x-amz-meta-")}
        return reply.content, metadata

    async def delete(self, key: str) -> bool:
        """True if the key existed (S3 answers 204 either way: a HEAD tells)."""
        head = await self._send("HEAD", key)
        if head.status_code == 404:
            return False
        self._check(head, "HeadObject", key)
        self._check(await self._send("DELETE", key), "DeleteObject", key)
        return True

    async def ping(self) -> None:
        self._check(await self._send("HEAD", ""), "HeadBucket", "")

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # --- signing and sending ---------------------------------------------------------------

    async def _send(self, method: str, key: str, body: bytes = b"", headers: dict[str, str] | None = None):
        from botocore.auth import S3SigV4Auth
        from botocore.awsrequest import AWSRequest

        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            # Connections belong to the loop that opened them: the SDK's sync calls may each
            # run on a loop of their own, so a new loop gets a new pool.
            self._client = httpx.AsyncClient(timeout=self.timeout, verify=self.settings.verify)
            self._loop = loop
        credentials = self._credentials or await self._resolve_credentials()
        url = self.settings.object_url(key)
        request = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
        S3SigV4Auth(credentials, "s3", self.settings.region).add_auth(request)
        return await self._client.request(method, url, content=body or None, headers=dict(request.headers.items()))

    async def _resolve_credentials(self) -> Any:
        from botocore.credentials import Credentials

        s = self.settings
        access, secret, token = s.access_key, s.secret_key, s.session_token
        if not access:
            access, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
            token = os.environ.get("AWS_SESSION_TOKEN")
        if access and secret:
            self._credentials = Credentials(access, secret, token)
            return self._credentials
        found = await asyncio.to_thread(_botocore_chain)  # may read files or ask an instance role: off the loop
        if found is None:
            raise S3Error("no AWS credentials: set s3_aws_access_key_id / s3_aws_secret_access_key or "
                          "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY", 0)
        self._credentials = found
        return found

    def _check(self, reply: httpx.Response, operation: str, key: str) -> None:
        if reply.status_code < 300:
            return
        code = ""
        if reply.content and b"<Code>" in reply.content:
            code = reply.content.split(b"<Code>", 1)[1].split(b"</Code>", 1)[0].decode("utf-8", "replace")[:64]
        where = f"s3://{self.settings.bucket}/{key}" if key else f"s3://{self.settings.bucket}"
        raise S3Error(f"{operation} {where} answered {reply.status_code}{' ' + code if code else ''}",
                      reply.status_code)


def _botocore_chain() -> Any:
    import botocore.session

    # The chain's object itself: a role's credentials refresh themselves when they expire.
    return botocore.session.get_session().get_credentials()
