"""POST /audio/transcriptions (a multipart upload) and POST /audio/speech
(audio streamed back), on the same ``LLMEndpoint`` as chat: auth, model
allow-lists, budgets, limits, spend rows with the call id, the Router.

Only reading the request and writing the answer differ:

- a transcription's body is ``multipart/form-data``, parsed as it arrives
  (python-multipart): the file goes to a spooled temporary file (memory up
  to 1 MB, then disk) and the upload stops with a 413 as soon as it passes
  ``MAX_AUDIO_BYTES``; the text formats (text, srt, vtt) are answered as
  plain text, as OpenAI does;
- speech audio is relayed to the client piece by piece as the provider
  sends it; its spend row is written when the last piece has gone.
"""

from __future__ import annotations

import tempfile
from typing import Any

from python_multipart.multipart import MultipartParseError, MultipartParser, parse_options_header

from ...errors import BadRequestError, PolyrelayError
from ...media.audio import MAX_AUDIO_BYTES, MAX_SPEECH_CHARS, AudioFile
from ..http import ClientGone, response_headers, send_bytes
from ..schema import invalid, number, typed
from .llm import EndpointSpec, LLMEndpoint

MAX_FIELD_BYTES = 64 * 1024  # a form field other than the file (a prompt, a language code)
SPOOL_IN_MEMORY = 1024 * 1024
NUMBER_FIELDS = ("temperature",)
STR = typed(str, "a string")


def _check_file(field: str, value: Any) -> None:
    if not isinstance(value, AudioFile):
        raise invalid(field, "an uploaded file (multipart/form-data)", value)


def _check_speech_input(field: str, value: Any) -> None:
    if not isinstance(value, str) or not value or len(value) > MAX_SPEECH_CHARS:
        raise invalid(field, f"a string of 1 to {MAX_SPEECH_CHARS} characters", value)


TRANSCRIPTIONS = EndpointSpec(
    name="transcription", router_method="atranscription", input_field="file", input_check=_check_file,
    fields={"language": STR, "prompt": STR, "response_format": STR, "temperature": number(0, 1)},
)
SPEECH = EndpointSpec(
    name="speech", router_method="aspeech", input_field="input", input_check=_check_speech_input,
    fields={"voice": STR, "response_format": STR, "speed": number(0.25, 4.0), "instructions": STR},
)


async def read_form(scope, receive, file_limit: int = MAX_AUDIO_BYTES) -> dict[str, Any]:
    """The multipart form, the file spooled as it arrives. Raises ClientGone, or a 400/413."""
    content_type = dict(scope.get("headers") or ()).get(b"content-type", b"").decode("latin-1")
    kind, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise BadRequestError("send the file as multipart/form-data with a 'file' part", param="file",
                              code="invalid_content_type")
    form: dict[str, Any] = {}
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)
    state: dict[str, Any] = {"headers": {}, "field": b"", "value": b"", "size": 0}

    def on_part_begin() -> None:
        state.update(headers={}, size=0, buffer=bytearray(), disposition=None)

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state["field"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state["value"] += data[start:end]

    def on_header_end() -> None:
        state["headers"][state["field"].lower()] = state["value"]
        state["field"], state["value"] = b"", b""

    def on_part_data(data: bytes, start: int, end: int) -> None:
        _, disposition = parse_options_header(state["headers"].get(b"content-disposition", b""))
        state["disposition"] = disposition
        state["size"] += end - start
        if b"filename" in disposition:
            if state["size"] > file_limit:
                raise BadRequestError(f"the file is larger than {file_limit // 1024 // 1024} MB",
                                      param="file", status_code=413, code="file_too_large")
            spool.write(data[start:end])
        else:
            if state["size"] > MAX_FIELD_BYTES:
                raise BadRequestError("a form field is larger than 64 KB", status_code=413, code="field_too_large")
            state["buffer"] += data[start:end]

    def on_part_end() -> None:
        disposition = state.get("disposition") or parse_options_header(
            state["headers"].get(b"content-disposition", b""))[1]
        name = disposition.get(b"name", b"").decode("utf-8", "replace")
        if b"filename" in disposition:
            spool.seek(0)
            filename = disposition[b"filename"].decode("utf-8", "replace") or "audio"
            kind = state["headers"].get(b"content-type", b"application/octet-stream").decode("latin-1")
            form[name] = AudioFile((filename, spool, kind), limit=file_limit)  # read once here, bounded
            return
        value: Any = bytes(state.get("buffer") or b"").decode("utf-8", "replace")
        if name.endswith("[]"):
            form.setdefault(name[:-2], []).append(value)
            return
        if name in NUMBER_FIELDS:
            try:
                value = float(value)
            except ValueError:
                raise invalid(name, "a number", value) from None
        form[name] = value

    parser = MultipartParser(boundary, {
        "on_part_begin": on_part_begin, "on_header_field": on_header_field, "on_header_value": on_header_value,
        "on_header_end": on_header_end, "on_part_data": on_part_data, "on_part_end": on_part_end,
    })
    try:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientGone()
            chunk = message.get("body", b"")
            if chunk:
                parser.write(chunk)
            if not message.get("more_body", False):
                break
        parser.finalize()
    except MultipartParseError as exc:
        raise BadRequestError(f"the multipart body could not be read: {exc}", code="invalid_multipart") from None
    finally:
        spool.close()
    return form


class TranscriptionEndpoint(LLMEndpoint):
    async def read_request(self, scope, receive) -> Any:
        try:
            return await read_form(scope, receive)
        except PolyrelayError as exc:
            return exc  # answered as an error by parse_request, inside the endpoint's error handling

    def parse_request(self, raw: Any) -> dict[str, Any]:
        if isinstance(raw, Exception):
            raise raw
        if isinstance(raw.get("guardrails"), str):  # a form field is a string: "a,b" names two
            raw["guardrails"] = [name.strip() for name in raw["guardrails"].split(",") if name.strip()]
        return raw

    async def answer(self, ctx, send, ticket, result, body, scope) -> None:
        hidden = getattr(result, "_hidden_params", None) or {}
        gateway = self.gateway
        gateway.record_success(ctx.model or "", hidden, None)
        gateway.accounting.finish(ticket, hidden, None, "success")
        if hidden.get("text_format"):
            await send_bytes(send, 200, str(result["text"]).encode(), response_headers(ctx, hidden),
                             content_type=b"text/plain; charset=utf-8")
            return
        import orjson

        data = dict(result)
        await send_bytes(send, 200, orjson.dumps(data), response_headers(ctx, hidden))


class SpeechEndpoint(LLMEndpoint):
    async def answer(self, ctx, send, ticket, result, body, scope) -> None:
        hidden = result._hidden_params
        headers = [(b"content-type", result.content_type.encode("latin-1")), *response_headers(ctx, hidden)]
        status = "failure"
        try:
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            async for piece in result.aiter_bytes():
                await send({"type": "http.response.body", "body": piece, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
            status = "success"
        finally:
            await result.aclose()
            if status == "success":
                self.gateway.record_success(ctx.model or "", hidden, None)
            self.gateway.accounting.finish(ticket, hidden, None, status)
