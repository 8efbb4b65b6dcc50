"""Rerank on the wire: Cohere's shape in and out, one protocol class per provider.

The caller's request and the answer are Cohere's (as LiteLLM's ``rerank``):
``{"model", "query", "documents", "top_n", "return_documents"}`` in,
``{"id", "results": [{"index", "relevance_score", "document"?}], "meta":
{"billed_units": {"search_units" | "total_tokens"}}}`` out. Sources:

- Cohere ``POST {base}/v2/rerank`` (docs.cohere.com, "Rerank V2 API"): documents
  are strings; ``meta.billed_units.search_units`` is what Cohere bills.
- Jina ``POST https://api.jina.ai/v1/rerank`` (jina.ai/reranker): Cohere-like
  body with ``return_documents``; ``usage.total_tokens`` in the answer.
- Voyage ``POST https://api.voyageai.com/v1/rerank`` (docs.voyageai.com,
  "Rerankers"): ``top_k`` instead of ``top_n``; the answer is
  ``{"data": [{"index", "relevance_score", "document"?}], "usage": {"total_tokens"}}``.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from ..errors import BadRequestError
from ..providers.base import Adapter, Call, HTTPRequest
from ..types import new_id

RERANK = "rerank"
RERANK_PARAMS = frozenset({"top_n", "return_documents", "max_chunks_per_doc", "max_tokens_per_doc", "rank_fields"})
MAX_DOCUMENTS = 10_000  # Cohere's documented ceiling per request


def document_texts(documents: Any) -> list[str]:
    """Documents as the strings every provider takes: a string as it is, an
    object by its ``text`` field, or else as JSON (Cohere v2 asks callers to
    serialise structured documents themselves)."""
    if not isinstance(documents, list) or not documents:
        raise BadRequestError("'documents' must be a non-empty list of strings or objects", param="documents")
    if len(documents) > MAX_DOCUMENTS:
        raise BadRequestError(f"'documents' has {len(documents)} items; at most {MAX_DOCUMENTS} are allowed",
                              param="documents")
    texts = []
    for i, doc in enumerate(documents):
        if isinstance(doc, str):
            texts.append(doc)
        elif isinstance(doc, dict):
            texts.append(doc["text"] if isinstance(doc.get("text"), str) else orjson.dumps(doc).decode())
        else:
            raise BadRequestError(f"documents[{i}] must be a string or an object", param="documents")
    return texts


def _without_user(params: dict[str, Any]) -> dict[str, Any]:
    # The end-user id is the gateway's to track and budget; rerank APIs have no such field.
    return {k: v for k, v in params.items() if k != "user"}


def _bearer(call: Call) -> dict[str, str]:
    headers = {"Content-Type": "application/json", **call.creds.extra_headers}
    if call.creds.api_key:
        headers["Authorization"] = f"Bearer {call.creds.api_key}"
    return headers


def _with_documents(results: list[dict[str, Any]], texts: list[str], wanted: bool) -> list[dict[str, Any]]:
    out = []
    for r in results:
        item = {"index": int(r["index"]), "relevance_score": float(r["relevance_score"])}
        if wanted:
            item["document"] = {"text": texts[item["index"]]}
        out.append(item)
    return out


class CohereRerank(Adapter):
    name = "cohere"
    default_api_base = "https://api.cohere.com"
    api_key_env = ("COHERE_API_KEY", "CO_API_KEY")
    api_base_env = ("COHERE_API_BASE",)

    def build_request(self, call: Call) -> HTTPRequest:
        params = _without_user(call.params)
        params.pop("return_documents", None)  # v2 never returns them; added back from the request
        params.pop("max_chunks_per_doc", None)  # v1's name; v2 has max_tokens_per_doc
        body = {"model": call.model, **params}
        return HTTPRequest("POST", self.api_base(call) + "/v2/rerank", _bearer(call), body)

    def parse_response(self, call: Call, data: Any) -> dict[str, Any]:
        texts = call.params["documents"]
        return {"id": data.get("id") or new_id("rerank"),
                "results": _with_documents(data.get("results") or [], texts, bool(call.params.get("return_documents"))),
                "meta": data.get("meta") or {}}


class JinaRerank(CohereRerank):
    name = "jina_ai"
    default_api_base = "https://api.jina.ai/v1"
    api_key_env = ("JINA_AI_API_KEY", "JINA_API_KEY")
    api_base_env = ("JINA_AI_API_BASE",)

    def build_request(self, call: Call) -> HTTPRequest:
        params = {k: v for k, v in _without_user(call.params).items()
                  if k not in ("max_chunks_per_doc", "max_tokens_per_doc")}
        return HTTPRequest("POST", self.api_base(call) + "/rerank", _bearer(call), {"model": call.model, **params})

    def parse_response(self, call: Call, data: Any) -> dict[str, Any]:
        usage = data.get("usage") or {}
        return {"id": new_id("rerank"),
                "results": _with_documents(data.get("results") or [], call.params["documents"],
                                           bool(call.params.get("return_documents"))),
                "meta": {"billed_units": {"total_tokens": int(usage.get("total_tokens") or 0)}}}


class VoyageRerank(JinaRerank):
    name = "voyage"
    default_api_base = "https://api.voyageai.com/v1"
    api_key_env = ("VOYAGE_API_KEY",)
    api_base_env = ("VOYAGE_API_BASE",)

    def build_request(self, call: Call) -> HTTPRequest:
        params = _without_user(call.params)
        body = {"model": call.model, "query": params.pop("query"), "documents": params.pop("documents")}
        if params.get("top_n") is not None:
            body["top_k"] = params.pop("top_n")
        body["return_documents"] = bool(params.pop("return_documents", False))
        for key in ("max_chunks_per_doc", "max_tokens_per_doc", "rank_fields"):
            if params.pop(key, None) is not None:
                raise BadRequestError(f"voyage rerank does not take {key!r}", param=key, llm_provider="voyage",
                                      model=call.model)
        body.update(params)  # Voyage's own fields (truncation) pass through
        return HTTPRequest("POST", self.api_base(call) + "/rerank", _bearer(call), body)

    def parse_response(self, call: Call, data: Any) -> dict[str, Any]:
        return super().parse_response(call, {"results": data.get("data") or [], "usage": data.get("usage")})


_WORD = re.compile(r"\w+")


class MockRerank(CohereRerank):
    """``mock/``: documents scored by the share of the query's words they contain. No network."""

    name = "mock"
    default_api_base = "mock://local"

    def build_request(self, call: Call) -> HTTPRequest:
        request = HTTPRequest("POST", "mock://local/v2/rerank", {}, {"model": call.model, **call.params})

        async def serve(req: HTTPRequest):
            from ..providers.mock import LocalReply

            status = int(call.options.get("mock_status") or 200)
            if status >= 400:
                return LocalReply(status, orjson.dumps({"error": {"message": f"mock error {status}",
                                                                  "type": "mock_error", "code": status}}))
            query = set(_WORD.findall(str(req.json["query"]).lower()))
            scores = []
            for i, doc in enumerate(req.json["documents"]):
                words = set(_WORD.findall(doc.lower()))
                scores.append((len(query & words) / len(query) if query else 0.0, i))
            scores.sort(key=lambda pair: (-pair[0], pair[1]))
            top = req.json.get("top_n") or len(scores)
            results = [{"index": i, "relevance_score": round(s, 6)} for s, i in scores[:top]]
            units = -(-len(scores) // 100)  # Cohere's rule: a search unit per query and 100 documents
            return LocalReply(200, orjson.dumps({"id": new_id("rerank"), "results": results,
                                                 "meta": {"billed_units": {"search_units": units}}}))

        request.local = serve
        return request


PROTOCOLS: dict[str, Adapter] = {"cohere": CohereRerank(), "jina_ai": JinaRerank(), "voyage": VoyageRerank(), "mock": MockRerank()}
