"""IBM watsonx.ai (``watsonx/<model_id>``, ``watsonx/deployment/<deployment_id>``).

- Auth: an IBM Cloud API key is exchanged for an IAM bearer token
  (``POST https://iam.cloud.ibm.com/identity/token``, form
  ``grant_type=urn:ibm:params:oauth:grant-type:apikey&apikey=...``), cached
  until five minutes before its ``expiration``; or a ready token is given
  (``token=`` / ``WATSONX_TOKEN``, e.g. Cloud Pak for Data).
- Chat: ``POST {url}/ml/v1/text/chat?version=2024-03-13`` with ``model_id``
  and ``project_id`` (or ``space_id``) in an OpenAI-like body; streams on
  ``/ml/v1/text/chat_stream`` (SSE, ``event: message``). A deployment is
  ``/ml/v1/deployments/{id}/text/chat`` and names no model or project.
- Embeddings: ``/ml/v1/text/embeddings`` (``inputs`` in, ``results[].embedding``
  and ``input_token_count`` out).
- Errors: ``{"errors": [{"code", "message", "more_info"}], "trace", "status_code"}``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import time
from typing import Any
from urllib.parse import quote, urlencode

import orjson

from ..errors import APIConnectionError, AuthenticationError, BadRequestError, PolyrelayError, error_for_status
from ..redact import scrub
from ..usage_checks import count
from .base import CHAT, EMBEDDING, Adapter, Call, HTTPRequest, StreamEvent, StreamState

DEFAULT_API_VERSION = "2024-03-13"
IAM_URL = "https://iam.cloud.ibm.com/identity/token"
REFRESH_MARGIN_SECONDS = 300
# Arguments that say where to call; not request parameters, so never in the body.
_PLACE_ARGS = ("project_id", "space_id", "watsonx_project", "watsonx_space_id")
# OpenAI chat params the chat API has no field for.
UNSUPPORTED = frozenset({
    "logit_bias", "parallel_tool_calls", "functions", "function_call", "modalities", "audio", "prediction",
    "store", "service_tier", "web_search_options", "verbosity",
})
_CONTEXT_MARKERS = ("exceeds the maximum", "context length", "maximum sequence length", "too many tokens")
_ERROR_CLASSES_BY_CODE = {"authentication_token_expired": 401, "authorization_rejected": 403}

# token cache: sha256(api key, IAM url) -> (token, epoch seconds it expires)
_TOKENS: dict[str, tuple[str, float]] = {}


class WatsonxAdapter(Adapter):
    name = "watsonx"
    kinds = frozenset({CHAT, EMBEDDING})
    api_key_env = ("WATSONX_APIKEY", "WATSONX_API_KEY")
    api_base_env = ("WATSONX_URL", "WATSONX_API_BASE")
    api_version_env = ("WATSONX_API_VERSION",)
    credential_args = ("token",)  # a ready IAM / CPD bearer token: a secret, never in the body
    unsupported_params = UNSUPPORTED

    def build_request(self, call: Call) -> HTTPRequest:
        base = (call.creds.api_base or "").rstrip("/")
        if not base:
            raise BadRequestError("watsonx needs its service URL (e.g. https://us-south.ml.cloud.ibm.com): pass "
                                  "api_base= or set WATSONX_URL", llm_provider=self.name, model=call.model)
        if not (call.creds.api_key or _token_given(call)):
            raise AuthenticationError("No credential for watsonx: pass api_key= (an IBM Cloud API key; or set "
                                      "WATSONX_APIKEY) or token= (or set WATSONX_TOKEN)",
                                      llm_provider=self.name, model=call.model)
        params = {k: v for k, v in call.params.items() if k not in _PLACE_ARGS}
        version = quote(call.creds.api_version or DEFAULT_API_VERSION, safe="")
        headers = {"Content-Type": "application/json", "Accept": "application/json", **call.creds.extra_headers}
        deployment = call.model.removeprefix("deployment/") if call.model.startswith("deployment/") else None
        body: dict[str, Any] = {}
        if deployment is None:
            body["model_id"] = call.model
            body.update(_place(call))
            root = f"{base}/ml/v1/text"
        else:
            root = f"{base}/ml/v1/deployments/{quote(deployment, safe='')}/text"
        if call.kind == EMBEDDING:
            return HTTPRequest("POST", f"{root}/embeddings?version={version}", headers,
                               {**body, **_embedding_fields(call, params)})
        body.update(_chat_fields(params))
        path = "chat_stream" if call.stream else "chat"
        if call.stream:
            headers["Accept"] = "text/event-stream"
        return HTTPRequest("POST", f"{root}/{path}?version={version}", headers, body, stream=call.stream)

    async def authorize(self, call: Call, request: HTTPRequest) -> HTTPRequest:
        token = _token_given(call) or await iam_token(call, self.name)
        call.creds.extra["_access_token"] = token  # scrubbed from any error that echoes it
        return dataclasses.replace(request, headers={**request.headers, "Authorization": f"Bearer {token}"})

    # -- answers ------------------------------------------------------------

    def parse_response(self, call: Call, data: Any) -> dict[str, Any]:
        if call.kind == EMBEDDING:
            vectors = [{"object": "embedding", "index": i, "embedding": r.get("embedding") or []}
                       for i, r in enumerate(data.get("results") or [])]
            tokens = count(data.get("input_token_count"), self.name, "input_token_count")
            return {"object": "list", "model": data.get("model_id") or call.model, "data": vectors,
                    "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
        if not isinstance(data.get("choices"), list):
            raise BadRequestError("watsonx answered without choices", llm_provider=self.name, model=call.model,
                                  status_code=502)
        return {"id": data.get("id"), "object": "chat.completion", "created": data.get("created") or int(time.time()),
                "model": data.get("model_id") or data.get("model") or call.model, "choices": data["choices"],
                "usage": data.get("usage")}

    def parse_stream_event(self, state: StreamState, event: StreamEvent) -> list[dict[str, Any]]:
        if event.data == "[DONE]":
            state.finished = True
            return []
        if event.event == "error" or event.event == "close":
            if event.event == "close" or not event.data:
                return []
            raise self.map_error(state.call, 500, event.data.encode(), {})
        data = orjson.loads(event.data)
        if data.get("errors") and "choices" not in data:
            raise self.map_error(state.call, int(data.get("status_code") or 500), event.data.encode(), {})
        if data.get("usage"):
            state.usage = data["usage"]  # the last event carries the request's usage
        choices = data.get("choices") or []
        if not choices:
            return []
        return [{"id": data.get("id"), "object": "chat.completion.chunk",
                 "created": data.get("created") or int(time.time()),
                 "model": data.get("model_id") or data.get("model") or state.call.model, "choices": choices}]

    def map_error(self, call: Call, status: int, body: bytes, headers: dict[str, str]) -> PolyrelayError:
        secrets = call.creds.secrets()
        text = scrub(body.decode("utf-8", "replace"), secrets)
        try:
            parsed = orjson.loads(text) if text else None
        except orjson.JSONDecodeError:
            parsed = None
        errors = parsed.get("errors") if isinstance(parsed, dict) else None
        first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
        message = str(first.get("message") or (text[:2000] if parsed is None else "") or f"watsonx answered HTTP {status}")
        code = str(first["code"]) if first.get("code") else None
        status = _ERROR_CLASSES_BY_CODE.get(code or "", status)
        if status == 400 and any(m in message.lower() for m in _CONTEXT_MARKERS):
            from ..errors import ContextWindowExceededError

            return ContextWindowExceededError(message, llm_provider=self.name, model=call.model, body=parsed,
                                              headers=headers, code=code, secrets=secrets)
        if status == 401:
            _forget(call)
        return error_for_status(status, message, llm_provider=self.name, model=call.model, body=parsed,
                                headers=headers, code=code, secrets=secrets)


def _token_given(call: Call) -> str | None:
    return call.creds.extra.get("token") or os.environ.get("WATSONX_TOKEN") or None


def _place(call: Call) -> dict[str, str]:
    project = call.params.get("project_id") or call.params.get("watsonx_project") or os.environ.get("WATSONX_PROJECT_ID")
    space = (call.params.get("space_id") or call.params.get("watsonx_space_id")
             or os.environ.get("WATSONX_DEPLOYMENT_SPACE_ID") or os.environ.get("WATSONX_SPACE_ID"))
    if project:
        return {"project_id": str(project)}
    if space:
        return {"space_id": str(space)}
    raise BadRequestError("watsonx needs a project or a space: pass project_id= (or set WATSONX_PROJECT_ID) or "
                          "space_id=", llm_provider="watsonx", model=call.model, param="project_id")


def _chat_fields(params: dict[str, Any]) -> dict[str, Any]:
    body = {k: v for k, v in params.items() if k not in ("user", "max_completion_tokens", "tool_choice")}
    if params.get("max_completion_tokens") is not None and params.get("max_tokens") is None:
        body["max_tokens"] = params["max_completion_tokens"]
    choice = params.get("tool_choice")
    if isinstance(choice, str):
        body["tool_choice_option"] = choice  # "auto" / "none" / "required" go in their own field
    elif choice is not None:
        body["tool_choice"] = choice
    return body


def _embedding_fields(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    value = params.get("input")
    texts = value if isinstance(value, list) else [value]
    if not texts or not all(isinstance(t, str) for t in texts):
        raise BadRequestError("watsonx embeds text only (a string or a list of strings)", llm_provider="watsonx",
                              model=call.model, param="input")
    extra = {k: v for k, v in params.items() if k not in ("input", "user", "encoding_format", "dimensions")}
    if params.get("dimensions") is not None:
        raise BadRequestError("watsonx embedding models have a fixed size: drop dimensions", llm_provider="watsonx",
                              model=call.model, param="dimensions")
    return {"inputs": texts, **extra}


def _cache_key(call: Call) -> str:
    iam = os.environ.get("WATSONX_IAM_URL") or IAM_URL
    return hashlib.sha256(f"{iam}\n{call.creds.api_key}".encode()).hexdigest()


def _forget(call: Call) -> None:
    if call.creds.api_key:
        _TOKENS.pop(_cache_key(call), None)


async def iam_token(call: Call, provider: str) -> str:
    """An IAM bearer token for the call's API key: cached, exchanged again shortly before it expires."""
    from .. import transport  # the network lives there; imported here to keep providers free of it at import

    key = _cache_key(call)
    cached = _TOKENS.get(key)
    if cached and cached[1] - time.time() > REFRESH_MARGIN_SECONDS:
        return cached[0]
    secret = str(call.creds.api_key)
    form = urlencode({"grant_type": "urn:ibm:params:oauth:grant-type:apikey", "apikey": secret}).encode()
    request = HTTPRequest("POST", os.environ.get("WATSONX_IAM_URL") or IAM_URL,
                          {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
                          content=form)
    try:
        reply = await transport.send(request, timeout=30.0, provider=provider, model=call.model)
    except transport.UpstreamStatus as failed:
        body = scrub(failed.reply.body.decode("utf-8", "replace"), (secret,))
        try:
            detail = orjson.loads(body)
            detail = detail.get("errorMessage") or detail.get("errorCode") or body[:300]
        except (orjson.JSONDecodeError, AttributeError):
            detail = body[:300]
        status = failed.reply.status
        cls = AuthenticationError if status in (400, 401, 403) else None
        message = f"watsonx could not exchange the API key for an IAM token (HTTP {status}): {detail}"
        if cls is None:
            raise error_for_status(status, message, llm_provider=provider, model=call.model,
                                   secrets=(secret,)) from None
        raise cls(message, llm_provider=provider, model=call.model, secrets=(secret,)) from None
    except APIConnectionError as exc:
        raise APIConnectionError(f"watsonx could not reach IBM Cloud IAM: {scrub(str(exc), (secret,))}",
                                 llm_provider=provider, model=call.model) from None
    try:
        data = orjson.loads(reply.body)
        token = str(data["access_token"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        raise AuthenticationError("IBM Cloud IAM answered without an access_token", llm_provider=provider,
                                  model=call.model) from None
    expires = data.get("expiration")
    if not isinstance(expires, (int, float)):
        expires = time.time() + float(data.get("expires_in") or 3600)
    _TOKENS[key] = (token, float(expires))
    return token
