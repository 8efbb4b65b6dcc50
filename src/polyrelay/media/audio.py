"""Audio on the wire: transcription (a multipart upload) and speech (audio
bytes back, relayed as they arrive). Sources:

- OpenAI ``POST {base}/audio/transcriptions`` (multipart: ``file``, ``model``,
  ``language``, ``prompt``, ``response_format`` json | text | srt |
  verbose_json | vtt, ``temperature``, ``timestamp_granularities[]``); the
  JSON answer carries ``usage`` (``{"type": "duration", "seconds"}`` for
  whisper-1, ``{"type": "tokens", ...}`` for gpt-4o-transcribe).
  ``POST {base}/audio/speech`` (JSON: ``model``, ``input``, ``voice``,
  ``response_format``, ``speed``, ``instructions``) answers the audio file.
  (platform.openai.com API reference, "Audio".)
- Azure OpenAI: the same bodies at
  ``{base}/openai/deployments/{deployment}/audio/{transcriptions|speech}?api-version=``.
"""

from __future__ import annotations

import os
import struct
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson

from ..errors import BadRequestError
from ..providers.base import Call, HTTPRequest
from .images import AzureImages, OpenAIImages

TRANSCRIPTION, SPEECH = "transcription", "speech"
MAX_AUDIO_BYTES = 25 * 1024 * 1024  # OpenAI's limit on an uploaded audio file
MAX_SPEECH_CHARS = 4096  # OpenAI's limit on speech input
TEXT_FORMATS = frozenset({"text", "srt", "vtt"})
CONTENT_TYPES = {"mp3": "audio/mpeg", "opus": "audio/ogg", "aac": "audio/aac", "flac": "audio/flac",
                 "wav": "audio/wav", "pcm": "audio/pcm"}


class AudioFile:
    """An upload: its name, bytes and type, from whatever the caller passed
    (an open file, bytes, a path, or the ``(name, content[, type])`` tuple the openai SDK takes)."""

    def __init__(self, file: Any, limit: int = MAX_AUDIO_BYTES) -> None:
        name, content, kind = "audio", file, None
        if isinstance(file, AudioFile):  # read once, so a retry sends the same bytes
            name, content, kind = file.name, file.content, file.content_type
        elif isinstance(file, tuple):
            name, content, *rest = file
            kind = rest[0] if rest else None
        elif isinstance(file, (str, Path)):
            name, content = os.path.basename(str(file)), Path(file).read_bytes()
        elif hasattr(file, "read"):
            name = os.path.basename(str(getattr(file, "name", "audio")))
            content = file.read()
        if hasattr(content, "read"):
            content = content.read()
        if not isinstance(content, (bytes, bytearray)):
            raise BadRequestError("file must be bytes, a path, an open binary file or a (name, bytes) tuple",
                                  param="file")
        if len(content) > limit:
            raise BadRequestError(f"the file is larger than {limit // 1024 // 1024} MB",
                                  param="file", status_code=413, code="file_too_large")
        self.name = str(name)
        self.content = bytes(content)
        self.content_type = str(kind or "application/octet-stream").replace("\r", "").replace("\n", "")


def multipart(fields: dict[str, Any], upload: AudioFile) -> tuple[bytes, str]:
    """A multipart/form-data body and its Content-Type."""
    boundary = uuid.uuid4().hex
    parts: list[bytes] = []
    for key, value in fields.items():
        values = value if isinstance(value, list) else [value]
        name = f"{key}[]" if isinstance(value, list) else key
        for item in values:
            text = item if isinstance(item, str) else orjson.dumps(item).decode()
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{text}\r\n'.encode())
    safe_name = upload.name.replace('"', "").replace("\r", "").replace("\n", "")
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{safe_name}"\r\n'
                 f"Content-Type: {upload.content_type}\r\n\r\n".encode() + upload.content + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def wav_seconds(data: bytes) -> float | None:
    """The length of a WAV (RIFF) file from its header, or None for other formats."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    at, byte_rate = 12, None
    while at + 8 <= len(data):
        kind, size = data[at:at + 4], struct.unpack("<I", data[at + 4:at + 8])[0]
        if kind == b"fmt " and size >= 12:
            byte_rate = struct.unpack("<I", data[at + 16:at + 20])[0]
        elif kind == b"data" and byte_rate:
            return min(size, len(data) - at - 8) / byte_rate
        at += 8 + size + (size & 1)
    return None


def audio_seconds(data: dict[str, Any], upload: AudioFile) -> float | None:
    """How long the audio was: as the provider reported it, else from a WAV header."""
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    if usage.get("seconds") is not None:
        return float(usage["seconds"])
    if isinstance(data.get("duration"), (int, float)):
        return float(data["duration"])
    return wav_seconds(upload.content)


class OpenAIAudio(OpenAIImages):
    def _url(self, call: Call, what: str) -> str:
        return self.api_base(call) + f"/audio/{what}"

    def _auth(self, call: Call) -> dict[str, str]:
        headers = dict(call.creds.extra_headers)
        if call.creds.api_key:
            headers["Authorization"] = f"Bearer {call.creds.api_key}"
        return headers

    def build_request(self, call: Call) -> HTTPRequest:
        params = {k: v for k, v in call.params.items() if k != "user"}  # the gateway's end-user id, not an audio field
        if call.kind == SPEECH:
            headers = {"Content-Type": "application/json", **self._auth(call)}
            return HTTPRequest("POST", self._url(call, "speech"), headers, {"model": call.model, **params},
                               stream=True, framing="bytes")
        upload: AudioFile = params.pop("file")
        body, content_type = multipart({"model": call.model, **params}, upload)
        headers = {"Content-Type": content_type, **self._auth(call)}
        return HTTPRequest("POST", self._url(call, "transcriptions"), headers, content=body)

    def parse_body(self, call: Call, body: bytes) -> dict[str, Any]:
        """A transcription answer: JSON, or plain text for the text formats."""
        if call.params.get("response_format") in TEXT_FORMATS:
            return {"text": body.decode("utf-8", "replace")}
        data = orjson.loads(body)
        if not isinstance(data, dict) or not isinstance(data.get("text"), str):
            raise BadRequestError(f"{call.provider} answered a transcription without 'text'",
                                  llm_provider=call.provider, model=call.model, status_code=502)
        return data


class AzureAudio(OpenAIAudio, AzureImages):
    def _url(self, call: Call, what: str) -> str:
        base = (call.creds.api_base or "").rstrip("/").removesuffix("/openai")
        if not base:
            raise BadRequestError("azure needs an api_base (https://<resource>.openai.azure.com)",
                                  llm_provider="azure", model=call.model)
        from ..providers.azure import DEFAULT_API_VERSION

        version = call.creds.api_version or DEFAULT_API_VERSION
        return (f"{base}/openai/deployments/{quote(call.model, safe='')}/audio/{what}"
                f"?api-version={quote(version, safe='')}")

    def _auth(self, call: Call) -> dict[str, str]:
        headers = dict(call.creds.extra_headers)
        if call.creds.ad_token:
            headers["Authorization"] = f"Bearer {call.creds.ad_token}"
        elif call.creds.api_key:
            headers["api-key"] = str(call.creds.api_key)
        else:
            from ..errors import AuthenticationError

            raise AuthenticationError("No credential for azure: pass api_key= or azure_ad_token=",
                                      llm_provider="azure", model=call.model)
        return headers


MOCK_SAMPLE_RATE = 8000  # 8-bit mono: one byte a sample
MOCK_SECONDS_PER_CHAR = 0.06  # about the pace of speech


class MockAudio(OpenAIAudio):
    """``mock/``: a transcript that names the file and its length; speech as a
    WAV of silence as long as the text would take to say, sent in pieces."""

    name = "mock"
    default_api_base = "mock://local"

    def build_request(self, call: Call) -> HTTPRequest:
        request = HTTPRequest("POST", f"mock://local/audio/{call.kind}", {}, None,
                              stream=call.kind == SPEECH, framing="bytes")

        async def serve(req: HTTPRequest):
            from ..providers.mock import LocalReply

            status = int(call.options.get("mock_status") or 200)
            if status >= 400:
                return LocalReply(status, orjson.dumps({"error": {"message": f"mock error {status}",
                                                                  "type": "mock_error", "code": status}}))
            if call.kind == SPEECH:
                return LocalReply(200, headers={"content-type": "audio/wav"},
                                  events=_pieces(silent_wav(len(call.params["input"]) * MOCK_SECONDS_PER_CHAR)))
            upload: AudioFile = call.params["file"]
            seconds = wav_seconds(upload.content)
            text = (call.options.get("mock_response") or
                    f"mock transcript of {upload.name} ({len(upload.content)} bytes)")
            data: dict[str, Any] = {"text": text}
            if seconds is not None:
                data["usage"] = {"type": "duration", "seconds": seconds}
            if call.params.get("response_format") in TEXT_FORMATS:
                return LocalReply(200, text.encode(), {"content-type": "text/plain"})
            return LocalReply(200, orjson.dumps(data))

        request.local = serve
        return request


def silent_wav(seconds: float) -> bytes:
    samples = int(seconds * MOCK_SAMPLE_RATE)
    header = (b"RIFF" + struct.pack("<I", 36 + samples) + b"WAVEfmt "
              + struct.pack("<IHHIIHH", 16, 1, 1, MOCK_SAMPLE_RATE, MOCK_SAMPLE_RATE, 1, 8)
              + b"data" + struct.pack("<I", samples))
    return header + b"\x80" * samples


async def _pieces(data: bytes, size: int = 16 * 1024):
    for at in range(0, len(data), size):
        yield data[at:at + size]


PROTOCOLS = {"openai": OpenAIAudio(), "azure": AzureAudio(), "mock": MockAudio()}
