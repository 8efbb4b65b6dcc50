"""Image generation on the wire: one small protocol class per provider.

Like the chat adapters, these build an ``HTTPRequest`` and read the answer
back into OpenAI's images shape (``{"created", "data": [{"b64_json" | "url",
"revised_prompt"}]}``); they do no I/O. Sources for each wire format:

- OpenAI ``POST {base}/images/generations`` (API reference, "Create image").
- Azure OpenAI ``POST {base}/openai/deployments/{deployment}/images/generations?api-version=``
  with an ``api-key`` header (Azure OpenAI REST reference, "Image generation").
- Gemini API Imagen ``POST {base}/models/{model}:predict`` with
  ``{"instances": [{"prompt"}], "parameters": {"sampleCount", "aspectRatio"}}``
  answered by ``{"predictions": [{"bytesBase64Encoded", "mimeType"}]}``
  (ai.google.dev, "Generate images using Imagen").
"""

from __future__ import annotations

import base64
import struct
import zlib
from typing import Any
from urllib.parse import quote

import orjson

from ..errors import AuthenticationError, BadRequestError
from ..providers.azure import DEFAULT_API_VERSION
from ..providers.base import Adapter, Call, HTTPRequest
from ..types import now

IMAGE = "image_generation"
# OpenAI's request fields besides model and prompt.
IMAGE_PARAMS = frozenset({"n", "size", "quality", "response_format", "style", "user", "background",
                          "moderation", "output_format", "output_compression"})
MAX_IMAGES = 10  # OpenAI's own limit on n


def _json_headers(extra: dict[str, str]) -> dict[str, str]:
    return {"Content-Type": "application/json", **extra}


class OpenAIImages(Adapter):
    name = "openai"
    default_api_base = "https://api.openai.com/v1"
    api_key_env = ("OPENAI_API_KEY",)
    api_base_env = ("OPENAI_API_BASE", "OPENAI_BASE_URL")

    def build_request(self, call: Call) -> HTTPRequest:
        base = self.api_base(call)
        headers = _json_headers(call.creds.extra_headers)
        if call.creds.api_key:
            headers["Authorization"] = f"Bearer {call.creds.api_key}"
        body = {"model": call.model, **call.params}
        return HTTPRequest("POST", base + "/images/generations", headers, body)

    def parse_response(self, call: Call, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict) or not isinstance(data.get("data"), list):
            raise BadRequestError(f"{call.provider} answered images without a 'data' list",
                                  llm_provider=call.provider, model=call.model, status_code=502)
        return data


class AzureImages(OpenAIImages):
    name = "azure"
    default_api_base = ""
    api_key_env = ("AZURE_API_KEY", "AZURE_OPENAI_API_KEY")
    api_base_env = ("AZURE_API_BASE", "AZURE_OPENAI_ENDPOINT")
    api_version_env = ("AZURE_API_VERSION",)
    ad_token_env = ("AZURE_AD_TOKEN",)

    def build_request(self, call: Call) -> HTTPRequest:
        creds = call.creds
        base = (creds.api_base or "").rstrip("/")
        if not base:
            raise BadRequestError("azure needs an api_base (https://<resource>.openai.azure.com)",
                                  llm_provider="azure", model=call.model)
        if not creds.api_key and not creds.ad_token:
            raise AuthenticationError("No credential for azure: pass api_key= or azure_ad_token=",
                                      llm_provider="azure", model=call.model)
        headers = _json_headers(creds.extra_headers)
        if creds.ad_token:
            headers["Authorization"] = f"Bearer {creds.ad_token}"
        else:
            headers["api-key"] = str(creds.api_key)
        base = base.removesuffix("/openai")
        version = creds.api_version or DEFAULT_API_VERSION
        url = (f"{base}/openai/deployments/{quote(call.model, safe='')}/images/generations"
               f"?api-version={quote(version, safe='')}")
        return HTTPRequest("POST", url, headers, dict(call.params))


# OpenAI sizes as Imagen's aspect ratios (Imagen takes 1:1, 3:4, 4:3, 9:16, 16:9).
_ASPECT_RATIOS = {"1024x1024": "1:1", "512x512": "1:1", "256x256": "1:1", "1792x1024": "16:9",
                  "1024x1792": "9:16", "1536x1024": "4:3", "1024x1536": "3:4"}


class GeminiImagen(Adapter):
    name = "gemini"
    default_api_base = "https://generativelanguage.googleapis.com/v1beta"
    api_key_env = ("GEMINI_API_KEY", "GOOGLE_API_KEY")
    api_base_env = ("GEMINI_API_BASE",)

    def build_request(self, call: Call) -> HTTPRequest:
        base = self.api_base(call)
        params = dict(call.params)
        prompt = params.pop("prompt")
        parameters: dict[str, Any] = {"sampleCount": int(params.pop("n", None) or 1)}
        size = params.pop("size", None)
        ratio = params.pop("aspect_ratio", None) or params.pop("aspectRatio", None)
        if size is not None and ratio is None:
            ratio = _ASPECT_RATIOS.get(str(size))
            if ratio is None:
                raise BadRequestError(f"gemini/{call.model} cannot make size {size!r}; use one of "
                                      f"{', '.join(_ASPECT_RATIOS)} or aspect_ratio=", param="size",
                                      llm_provider="gemini", model=call.model)
        if ratio is not None:
            parameters["aspectRatio"] = ratio
        fmt = params.pop("response_format", None)
        if fmt not in (None, "b64_json"):
            raise BadRequestError("Imagen answers images as base64 only: response_format must be 'b64_json'",
                                  param="response_format", llm_provider="gemini", model=call.model)
        params.pop("user", None)  # OpenAI's abuse-tracking id; Imagen has no such field
        for key in ("quality", "style"):
            if key in params:
                raise BadRequestError(f"Imagen does not take {key!r}", param=key, llm_provider="gemini",
                                      model=call.model)
        parameters.update(params)  # Imagen's own parameters (personGeneration, ...) pass through
        headers = _json_headers(call.creds.extra_headers)
        if call.creds.api_key:
            headers["x-goog-api-key"] = call.creds.api_key
        body = {"instances": [{"prompt": prompt}], "parameters": parameters}
        return HTTPRequest("POST", f"{base}/models/{quote(call.model, safe='.-_')}:predict", headers, body)

    def parse_response(self, call: Call, data: Any) -> dict[str, Any]:
        predictions = data.get("predictions") if isinstance(data, dict) else None
        if not isinstance(predictions, list):
            predictions = []  # Imagen answers {} when its safety filter removed every image
        images = [{"b64_json": p.get("bytesBase64Encoded")} for p in predictions if isinstance(p, dict)]
        return {"created": now(), "data": images}


class MockImages(OpenAIImages):
    """``mock/``: a one-pixel PNG per image, coloured by the prompt. No network."""

    name = "mock"
    default_api_base = "mock://local"

    def build_request(self, call: Call) -> HTTPRequest:
        request = HTTPRequest("POST", "mock://local/images/generations", {}, {"model": call.model, **call.params})

        async def serve(req: HTTPRequest):
            from ..providers.mock import LocalReply

            status = int(call.options.get("mock_status") or 200)
            if status >= 400:
                return LocalReply(status, orjson.dumps({"error": {"message": f"mock error {status}",
                                                                  "type": "mock_error", "code": status}}))
            n = int(req.json.get("n") or 1)
            png = base64.b64encode(_pixel_png(str(req.json.get("prompt")))).decode()
            item = ({"url": "data:image/png;base64," + png} if req.json.get("response_format") == "url"
                    else {"b64_json": png})
            data = [{**item, "revised_prompt": req.json.get("prompt")} for _ in range(n)]
            return LocalReply(200, orjson.dumps({"created": now(), "data": data}))

        request.local = serve
        return request


def _pixel_png(prompt: str) -> bytes:
    """A valid 1x1 RGB PNG whose colour depends on the prompt (deterministic)."""
    rgb = zlib.crc32(prompt.encode()).to_bytes(4, "big")[:3]

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" + rgb))
            + chunk(b"IEND", b""))


PROTOCOLS: dict[str, Adapter] = {"openai": OpenAIImages(), "azure": AzureImages(), "gemini": GeminiImagen(), "mock": MockImages()}
