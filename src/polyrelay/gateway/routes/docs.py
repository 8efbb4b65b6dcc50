"""GET /openapi.json and /docs: a description of the API, built once from
the route table. /docs is a self-contained HTML page (no CDN scripts), so it
reads the same on a machine with no internet access."""

from __future__ import annotations

import html
import re
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

import polyrelay

_ERROR = {"description": "OpenAI-format error",
          "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
_SCHEMAS = {
    "Error": {
        "type": "object",
        "properties": {"error": {"type": "object", "properties": {
            "message": {"type": "string"}, "type": {"type": "string"},
            "param": {"type": "string", "nullable": True}, "code": {"type": "string", "nullable": True}}}},
    },
    "ModelRequest": {
        "type": "object", "additionalProperties": True,
        "description": "OpenAI's request body for this endpoint, plus polyrelay's request extras "
                       "(metadata, user, mock_response, fallbacks, num_retries, user_config, api_key, "
                       "api_version, api_base where allowed).",
        "properties": {"model": {"type": "string"}, "stream": {"type": "boolean"},
                       "metadata": {"type": "object"}},
    },
}


def openapi_document(table: list[tuple[str, Any, list[str], str]]) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for route_path, _endpoint, methods, summary in table:
        path = re.sub(r":\w+}", "}", route_path)  # "{model:path}" is Starlette's; OpenAPI says "{model}"
        for method in methods:
            operation: dict[str, Any] = {"summary": summary, "responses": {"200": {"description": "OK"},
                                                                           "4XX": _ERROR, "5XX": _ERROR}}
            if method == "POST":
                operation["requestBody"] = {"required": True, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/ModelRequest"}}}}
            if "{model}" in path:
                operation["parameters"] = [{"name": "model", "in": "path", "required": True,
                                            "schema": {"type": "string"}}]
            paths.setdefault(path, {})[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "polyrelay gateway", "version": polyrelay.__version__,
                 "description": "OpenAI-compatible API over every LLM provider. Every path is also served "
                                "under /v1. Authenticate with 'Authorization: Bearer <key>' or 'api-key'."},
        "paths": paths,
        "components": {"schemas": _SCHEMAS,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"},
                                           "api-key": {"type": "apiKey", "in": "header", "name": "api-key"}}},
        "security": [{"bearer": []}, {"api-key": []}],
    }


def _docs_page(document: dict[str, Any]) -> str:
    rows = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            rows.append(f"<tr><td><code>{method.upper()}</code></td><td><code>{html.escape(path)}</code></td>"
                        f"<td>{html.escape(operation['summary'])}</td></tr>")
    info = document["info"]
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(info['title'])}</title>"
            "<style>body{font-family:sans-serif;margin:2em}td{padding:.3em 1em;border-bottom:1px solid #ddd}"
            "</style></head><body>"
            f"<h1>{html.escape(info['title'])} {html.escape(info['version'])}</h1>"
            f"<p>{html.escape(info['description'])}</p><p>Machine-readable: <a href='/openapi.json'>/openapi.json</a>"
            f"</p><table>{''.join(rows)}</table></body></html>")


def make_docs_routes(table: list[tuple[str, Any, list[str], str]]):
    document = openapi_document(table)
    encoded = orjson.dumps(document)
    page = _docs_page(document)

    async def openapi(request: Request) -> Response:
        return Response(encoded, media_type="application/json")

    async def docs(request: Request) -> Response:
        return HTMLResponse(page)

    return openapi, docs
