"""The one call path for images and rerank, beside api.py's for chat.

Same steps as ``api._execute`` (resolve the provider, split the caller's
arguments, find credentials, send with retries through the transport, read
the answer, price it), with what differs for these kinds: a protocol class
per provider (images.py, rerank.py), prices per image / search unit
(pricing.py), and no token usage to settle. The Router reaches it through
``api._execute``, so retries, fallbacks, cooldowns and the gateway's keys,
budgets and spend apply unchanged.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson

from ..errors import BadRequestError, PolyrelayError
from ..params import CORE_ARGS, Plan, credentials, package_setting, seconds
from ..providers import ADAPTERS, resolve
from ..providers.base import Call
from ..types import WireResponse
from ..mocking import is_mocked
from . import audio, bedrock, images, pricing, rerank
from .types import ImageResponse, RerankResponse, SpeechResponse, TranscriptionResponse

IMAGE, RERANK, TRANSCRIPTION, SPEECH = images.IMAGE, rerank.RERANK, audio.TRANSCRIPTION, audio.SPEECH
KINDS = frozenset({IMAGE, RERANK, TRANSCRIPTION, SPEECH})
_PROTOCOLS = {IMAGE: {**images.PROTOCOLS, "bedrock": bedrock.BedrockImages()},
              RERANK: {**rerank.PROTOCOLS, "bedrock": bedrock.BedrockRerank()},
              TRANSCRIPTION: audio.PROTOCOLS, SPEECH: audio.PROTOCOLS}
_RESPONSE = {IMAGE: ImageResponse, RERANK: RerankResponse, TRANSCRIPTION: TranscriptionResponse}
# Options only the mock/ provider reads (never sent anywhere).
_MOCK_OPTIONS = ("mock_status", "mock_delay", "mock_response")


def _provider_and_model(kind: str, model: str, kwargs: dict[str, Any]) -> tuple[str, str]:
    head, sep, rest = model.partition("/")
    if sep and head in _PROTOCOLS[kind] and head not in ADAPTERS:
        return head, rest  # rerank-only providers (jina_ai/, voyage/) have no chat adapter
    return resolve(model, kwargs.get("custom_llm_provider"))


def plan_media(kind: str, model: str, payload: dict[str, Any], kwargs: dict[str, Any]) -> tuple[Plan, Any]:
    provider, provider_model = _provider_and_model(kind, model, kwargs)
    protocol = _PROTOCOLS[kind].get(provider)
    if is_mocked(kwargs) or kwargs.get("mock_status"):
        protocol = _PROTOCOLS[kind]["mock"]  # answered locally, under the model's own provider name
    if protocol is None:
        raise BadRequestError(f"{provider} does not serve {kind} requests through polyrelay; "
                              f"providers that do: {', '.join(sorted(_PROTOCOLS[kind]))}",
                              llm_provider=provider, model=provider_model, status_code=400)
    body = dict(payload)
    cred_source = ADAPTERS.get(provider, protocol)
    for key, value in kwargs.items():
        if key in CORE_ARGS or value is None or key.startswith("mock_"):
            continue
        if key in cred_source.credential_args:  # aws_secret_access_key and the like: signing only, never sent
            continue
        if "cost" in key or key in ("model_info", "base_model", "litellm_params"):
            continue  # prices: read by pricing.py, never sent
        body[key] = value  # OpenAI/Cohere fields, and provider-specific ones as given
    options = {k: kwargs[k] for k in _MOCK_OPTIONS if kwargs.get(k) is not None}
    call = Call(kind=kind, provider=provider, model=provider_model, params=body,
                creds=credentials(cred_source, kwargs), options=options)
    retries = kwargs.get("num_retries", kwargs.get("max_retries"))
    if retries is None:
        retries = package_setting("num_retries") or 0
    # Errors are mapped by the provider's chat adapter where it has one (Azure's content filter...).
    mapper = ADAPTERS.get(provider) if provider != "mock" else None
    return Plan(adapter=mapper or protocol, call=call, requested_model=model,
                timeout=seconds(kwargs.get("timeout") or package_setting("request_timeout")),
                num_retries=int(retries), caller_wants_usage=False), protocol


async def execute(kind: str, model: str, payload: dict[str, Any], kwargs: dict[str, Any]):
    from ..api import _attempts, _send_within  # api imports this module lazily; the retry loop is one

    started = time.perf_counter()
    p, protocol = plan_media(kind, model, payload, kwargs)
    call = p.call
    if kind == RERANK:
        call.params["documents"] = rerank.document_texts(call.params.get("documents"))
    elif kind == TRANSCRIPTION:
        call.params["file"] = audio.AudioFile(call.params.get("file"))
    elif kind == SPEECH:
        text = call.params.get("input")
        if not isinstance(text, str) or not text or len(text) > audio.MAX_SPEECH_CHARS:
            raise BadRequestError(f"input must be a string of 1 to {audio.MAX_SPEECH_CHARS} characters",
                                  param="input", model=model)
        if not call.params.get("voice"):
            raise BadRequestError("voice is required (alloy, echo, fable, onyx, nova, shimmer, ...)",
                                  param="voice", model=model)
    request = protocol.build_request(call)
    if call.options.get("mock_delay"):
        await asyncio.sleep(float(call.options["mock_delay"]))

    def send_once():
        return _send_within(p, request, kind == SPEECH)

    reply = await _attempts(p, send_once)
    hidden = {"custom_llm_provider": call.provider, "api_base": call.creds.api_base or protocol.default_api_base,
              "model_id": kwargs.get("model_id")}
    if kind == SPEECH:
        hidden["response_cost"] = pricing.speech_cost(call.provider, call.model, len(call.params["input"]), kwargs)
        hidden["_response_ms"] = (time.perf_counter() - started) * 1000  # to the first byte
        kind_of = audio.CONTENT_TYPES.get(str(call.params.get("response_format") or "mp3"), "audio/mpeg")
        chunks = reply.events if reply.events is not None else _once(reply.body)
        return SpeechResponse(chunks, reply.headers.get("content-type") or kind_of, hidden)
    try:
        if kind == TRANSCRIPTION:
            data = protocol.parse_body(call, reply.body)
        else:
            data = protocol.parse_response(call, orjson.loads(reply.body))
    except PolyrelayError:
        raise
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise BadRequestError(f"{call.provider} answered with a body polyrelay cannot read "
                              f"({type(exc).__name__})", llm_provider=call.provider, model=call.model,
                              status_code=502) from exc
    if kind == IMAGE:
        cost = pricing.image_cost(call.provider, call.model, call.params, len(data.get("data") or ()), kwargs)
    elif kind == TRANSCRIPTION:
        upload = call.params["file"]
        cost = pricing.transcription_cost(call.provider, call.model, audio.audio_seconds(data, upload),
                                          data.get("usage"), kwargs)
        if call.params.get("response_format") in audio.TEXT_FORMATS:
            hidden["text_format"] = call.params["response_format"]  # the gateway answers it as plain text
    else:
        cost = pricing.rerank_cost(call.provider, call.model, (data.get("meta") or {}).get("billed_units") or {},
                                   kwargs)
    elapsed_ms = (time.perf_counter() - started) * 1000
    hidden.update(response_cost=cost, _response_ms=elapsed_ms)
    response = WireResponse(data) if kwargs.get("polyrelay_wire") else _RESPONSE[kind].from_dict(data)
    response._hidden_params = hidden
    response._response_ms = elapsed_ms
    return response


async def _once(body: bytes):
    yield body
