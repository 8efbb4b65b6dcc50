"""Files and batches for OpenAI and Azure OpenAI: LiteLLM's ``create_file``,
``file_retrieve``, ``file_content``, ``create_batch``, ``retrieve_batch``,
``cancel_batch`` (each with its ``a...`` twin), and what a finished batch cost.

Wire formats (platform.openai.com API reference, "Files" and "Batch"):
``POST {base}/files`` (multipart ``purpose``, ``file``), ``GET {base}/files/{id}``,
``GET {base}/files/{id}/content``, ``POST {base}/batches`` (``input_file_id``,
``endpoint``, ``completion_window``, ``metadata``), ``GET {base}/batches/{id}``,
``POST {base}/batches/{id}/cancel``. Azure OpenAI serves the same under
``{base}/openai/files`` and ``{base}/openai/batches`` with ``?api-version=``
and an ``api-key`` header.

A batch's cost is the sum of its answers' usage (read from the output file)
at the batch price: the catalogue's ``input_cost_per_token_batches`` /
``output_cost_per_token_batches`` where listed, else half the model's token
prices (OpenAI's Batch API and Azure's global batch are billed at 50%).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import orjson

from .. import _sync, transport
from ..cost import cost_per_token
from ..errors import BadRequestError, PolyrelayError
from ..params import credentials, seconds
from ..providers import ADAPTERS
from ..providers.azure import DEFAULT_API_VERSION
from ..providers.base import Call, HTTPRequest
from .audio import AudioFile, multipart
from .types import Record

FILE_PROVIDERS = ("openai", "azure")
BATCH_DISCOUNT = 0.5
MAX_BATCH_FILE_BYTES = 200 * 1024 * 1024  # OpenAI's limit on a batch input file
DEFAULT_TIMEOUT = 600.0


def _call(provider: str, kwargs: dict[str, Any]) -> Call:
    if provider not in FILE_PROVIDERS:
        raise BadRequestError(f"files and batches are served for {' and '.join(FILE_PROVIDERS)} only, not "
                              f"{provider!r}", param="custom_llm_provider", llm_provider=provider)
    return Call(kind="files", provider=provider, model="", params={},
                creds=credentials(ADAPTERS[provider], kwargs))


def _url(call: Call, path: str) -> tuple[str, dict[str, str]]:
    creds = call.creds
    headers = dict(creds.extra_headers)
    if call.provider == "azure":
        base = (creds.api_base or "").rstrip("/").removesuffix("/openai")
        if not base:
            raise BadRequestError("azure needs an api_base", llm_provider="azure")
        if creds.ad_token:
            headers["Authorization"] = f"Bearer {creds.ad_token}"
        else:
            headers["api-key"] = str(creds.api_key or "")
        version = quote(creds.api_version or DEFAULT_API_VERSION, safe="")
        return f"{base}/openai{path}?api-version={version}", headers
    base = ADAPTERS["openai"].api_base(call)
    if creds.api_key:
        headers["Authorization"] = f"Bearer {creds.api_key}"
    return base + path, headers


async def _send(call: Call, request: HTTPRequest, kwargs: dict[str, Any]) -> bytes:
    timeout = seconds(kwargs.get("timeout")) or DEFAULT_TIMEOUT
    try:
        reply = await transport.send(request, timeout=timeout, provider=call.provider, model="")
    except transport.UpstreamStatus as upstream:
        raise ADAPTERS[call.provider].map_error(call, upstream.reply.status, upstream.reply.body,
                                                upstream.reply.headers) from None
    return reply.body


async def _json(call: Call, method: str, path: str, kwargs: dict[str, Any], body: Any = None) -> dict[str, Any]:
    url, headers = _url(call, path)
    if body is not None:
        headers["Content-Type"] = "application/json"
    data = orjson.loads(await _send(call, HTTPRequest(method, url, headers, body), kwargs))
    if not isinstance(data, dict):
        raise BadRequestError(f"{call.provider} answered with a JSON {type(data).__name__}", status_code=502)
    return Record(data)


# ------------------------------------------------------------------ files
async def acreate_file(file: Any, purpose: str = "batch", custom_llm_provider: str = "openai",
                       **kwargs: Any) -> dict[str, Any]:
    call = _call(custom_llm_provider, kwargs)
    upload = file if isinstance(file, AudioFile) else AudioFile(file, limit=MAX_BATCH_FILE_BYTES)
    body, content_type = multipart({"purpose": purpose}, upload)
    url, headers = _url(call, "/files")
    headers["Content-Type"] = content_type
    data = orjson.loads(await _send(call, HTTPRequest("POST", url, headers, content=body), kwargs))
    if not isinstance(data, dict):
        raise BadRequestError(f"{call.provider} answered with a JSON {type(data).__name__}", status_code=502)
    return Record(data)


async def afile_retrieve(file_id: str, custom_llm_provider: str = "openai", **kwargs: Any) -> dict[str, Any]:
    return await _json(_call(custom_llm_provider, kwargs), "GET", f"/files/{quote(file_id, safe='')}", kwargs)


async def afile_content(file_id: str, custom_llm_provider: str = "openai", **kwargs: Any) -> bytes:
    call = _call(custom_llm_provider, kwargs)
    url, headers = _url(call, f"/files/{quote(file_id, safe='')}/content")
    return await _send(call, HTTPRequest("GET", url, headers), kwargs)


# ------------------------------------------------------------------ batches
async def acreate_batch(input_file_id: str, endpoint: str = "/v1/chat/completions", completion_window: str = "24h",
                        metadata: dict[str, Any] | None = None, custom_llm_provider: str = "openai",
                        **kwargs: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"input_file_id": input_file_id, "endpoint": endpoint,
                            "completion_window": completion_window}
    if metadata:
        body["metadata"] = metadata
    return await _json(_call(custom_llm_provider, kwargs), "POST", "/batches", kwargs, body)


async def aretrieve_batch(batch_id: str, custom_llm_provider: str = "openai", **kwargs: Any) -> dict[str, Any]:
    return await _json(_call(custom_llm_provider, kwargs), "GET", f"/batches/{quote(batch_id, safe='')}", kwargs)


async def acancel_batch(batch_id: str, custom_llm_provider: str = "openai", **kwargs: Any) -> dict[str, Any]:
    return await _json(_call(custom_llm_provider, kwargs), "POST", f"/batches/{quote(batch_id, safe='')}/cancel",
                       kwargs, {})


async def abatch_cost(batch: dict[str, Any], custom_llm_provider: str = "openai",
                      **kwargs: Any) -> tuple[float, dict[str, int]]:
    """(cost in USD, token totals) of a completed batch, from its output file."""
    if batch.get("status") != "completed" or not batch.get("output_file_id"):
        raise BadRequestError(f"batch {batch.get('id')} is {batch.get('status')}, not completed with an output file")
    content = await afile_content(batch["output_file_id"], custom_llm_provider, **kwargs)
    return batch_output_cost(content, custom_llm_provider, kwargs.get("base_model"))


def batch_output_cost(content: bytes, provider: str, base_model: str | None = None) -> tuple[float, dict[str, int]]:
    total = 0.0
    counts = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0, "requests": 0}
    for line in content.splitlines():
        if not line.strip():
            continue
        row = orjson.loads(line)
        body = ((row.get("response") or {}).get("body")) or {}
        usage = body.get("usage") or {}
        prompt = int(usage.get("prompt_tokens") or usage.get("input_tokens") or 0)
        completion = int(usage.get("completion_tokens") or usage.get("output_tokens") or 0)
        counts["prompt_tokens"] += prompt
        counts["completion_tokens"] += completion
        counts["requests"] += 1
        model = base_model or body.get("model")
        if model and (prompt or completion):
            total += _batch_price(str(model), provider, prompt, completion, usage)
    counts["total_tokens"] = counts["prompt_tokens"] + counts["completion_tokens"]
    return total, counts


def _batch_price(model: str, provider: str, prompt: int, completion: int, usage: dict[str, Any]) -> float:
    from ..catalog import CATALOG

    found = CATALOG.find(model, "openai") or CATALOG.find(model, provider)
    entry = found[1] if found else {}
    if entry.get("input_cost_per_token_batches") is not None:
        return (prompt * float(entry["input_cost_per_token_batches"])
                + completion * float(entry.get("output_cost_per_token_batches") or 0))
    try:
        full = sum(cost_per_token(model=model, custom_llm_provider="openai" if found else provider,
                                  usage_object={**usage, "prompt_tokens": prompt, "completion_tokens": completion}))
    except PolyrelayError:
        import logging

        logging.getLogger("polyrelay").warning("polyrelay: no price for batch model %s; recording 0.0", model)
        return 0.0
    return full * BATCH_DISCOUNT


# ------------------------------------------------------------------ sync twins
def create_file(file: Any, purpose: str = "batch", custom_llm_provider: str = "openai", **kwargs: Any):
    return _sync.run(acreate_file(file, purpose, custom_llm_provider, **kwargs))


def file_retrieve(file_id: str, custom_llm_provider: str = "openai", **kwargs: Any):
    return _sync.run(afile_retrieve(file_id, custom_llm_provider, **kwargs))


def file_content(file_id: str, custom_llm_provider: str = "openai", **kwargs: Any) -> bytes:
    return _sync.run(afile_content(file_id, custom_llm_provider, **kwargs))


def create_batch(input_file_id: str, endpoint: str = "/v1/chat/completions", completion_window: str = "24h",
                 metadata: dict[str, Any] | None = None, custom_llm_provider: str = "openai", **kwargs: Any):
    return _sync.run(acreate_batch(input_file_id, endpoint, completion_window, metadata, custom_llm_provider,
                                   **kwargs))


def retrieve_batch(batch_id: str, custom_llm_provider: str = "openai", **kwargs: Any):
    return _sync.run(aretrieve_batch(batch_id, custom_llm_provider, **kwargs))


def cancel_batch(batch_id: str, custom_llm_provider: str = "openai", **kwargs: Any):
    return _sync.run(acancel_batch(batch_id, custom_llm_provider, **kwargs))


def batch_cost(batch: dict[str, Any], custom_llm_provider: str = "openai", **kwargs: Any):
    return _sync.run(abatch_cost(batch, custom_llm_provider, **kwargs))
