"""Images and rerank on AWS Bedrock, signed like every Bedrock call (SigV4
through the chat adapter's ``_authorize``, or a Bedrock API key).

- Images: ``InvokeModel`` (``POST {runtime}/model/{modelId}/invoke``). Amazon's
  models (Titan Image Generator, Nova Canvas) take ``{"taskType": "TEXT_IMAGE",
  "textToImageParams": {"text"}, "imageGenerationConfig": {"numberOfImages",
  "width", "height", "quality"}}``; Stability's take ``{"prompt",
  "aspect_ratio", "output_format"}``; both answer ``{"images": [base64...]}``
  (Bedrock user guide, "Amazon Titan Image Generator", "Amazon Nova Canvas",
  "Stability AI models").
- Rerank: the agent runtime's ``POST {agent-runtime}/rerank`` with ``queries``,
  ``sources`` and a ``rerankingConfiguration`` naming the model's ARN, answered
  by ``{"results": [{"index", "relevanceScore"}]}`` (Bedrock API reference,
  "Rerank"). A query with up to 100 documents is one billed query.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from ..errors import BadRequestError
from ..providers.base import Adapter, Call, HTTPRequest
from ..providers._aws import endpoint, region_of
from ..types import new_id, now
from .images import _ASPECT_RATIOS
from .rerank import _with_documents

_QUALITY = {"standard": "standard", "hd": "premium", "premium": "premium", "high": "premium", "auto": "standard"}


def _signed(call: Call, host: str, path: str, body: dict[str, Any]) -> HTTPRequest:
    from ..providers import ADAPTERS

    base, region = endpoint(call, "bedrock", host)
    url = base + path
    headers = {"Content-Type": "application/json", "Accept": "application/json", **call.creds.extra_headers}
    headers = ADAPTERS["bedrock"]._authorize(call, region, url, headers, body)
    return HTTPRequest("POST", url, headers, body)


class BedrockImages(Adapter):
    name = "bedrock"

    def build_request(self, call: Call) -> HTTPRequest:
        params = {k: v for k, v in call.params.items() if k != "user"}
        prompt, n = params.pop("prompt"), int(params.pop("n", None) or 1)
        size, quality = params.pop("size", None), params.pop("quality", None)
        if params.pop("response_format", None) not in (None, "b64_json"):
            raise BadRequestError("Bedrock answers images as base64 only: response_format must be 'b64_json'",
                                  param="response_format", llm_provider="bedrock", model=call.model)
        if call.model.startswith("stability."):
            if n != 1:
                raise BadRequestError("Stability models on Bedrock make one image a call", param="n",
                                      llm_provider="bedrock", model=call.model)
            body: dict[str, Any] = {"prompt": prompt}
            if size is not None:
                body["aspect_ratio"] = _ASPECT_RATIOS.get(str(size)) or _bad_size(call, size)
        else:
            config: dict[str, Any] = {"numberOfImages": n}
            if size is not None:
                width, _, height = str(size).partition("x")
                if not (width.isdigit() and height.isdigit()):
                    _bad_size(call, size)
                config.update(width=int(width), height=int(height))
            if quality is not None:
                config["quality"] = _QUALITY.get(str(quality)) or _bad_quality(call, quality)
            body = {"taskType": "TEXT_IMAGE", "textToImageParams": {"text": prompt}, "imageGenerationConfig": config}
        body.update(params)  # the model's own fields pass through
        return _signed(call, "bedrock-runtime", f"/model/{quote(call.model, safe='')}/invoke", body)

    def parse_response(self, call: Call, data: Any) -> dict[str, Any]:
        if data.get("error"):
            raise BadRequestError(f"bedrock: {data['error']}", llm_provider="bedrock", model=call.model)
        return {"created": now(), "data": [{"b64_json": image} for image in data.get("images") or []]}


def _bad_size(call: Call, size: Any):
    raise BadRequestError(f"bedrock/{call.model} cannot make size {size!r}", param="size", llm_provider="bedrock",
                          model=call.model)


def _bad_quality(call: Call, quality: Any):
    raise BadRequestError(f"bedrock/{call.model} takes quality standard or premium (hd), not {quality!r}",
                          param="quality", llm_provider="bedrock", model=call.model)


class BedrockRerank(Adapter):
    name = "bedrock"

    def build_request(self, call: Call) -> HTTPRequest:
        params = call.params
        region = region_of(call, "bedrock") or "us-east-1"
        model = {"modelArn": f"arn:aws:bedrock:{region}::foundation-model/{call.model}"}
        if params.get("max_tokens_per_doc"):
            model["additionalModelRequestFields"] = {"max_tokens_per_doc": params["max_tokens_per_doc"]}
        config: dict[str, Any] = {"modelConfiguration": model}
        config["numberOfResults"] = int(params.get("top_n") or len(params["documents"]))
        body = {
            "queries": [{"type": "TEXT", "textQuery": {"text": params["query"]}}],
            "sources": [{"type": "INLINE", "inlineDocumentSource": {"type": "TEXT", "textDocument": {"text": d}}}
                        for d in params["documents"]],
            "rerankingConfiguration": {"type": "BEDROCK_RERANKING_MODEL", "bedrockRerankingConfiguration": config},
        }
        return _signed(call, "bedrock-agent-runtime", "/rerank", body)

    def parse_response(self, call: Call, data: Any) -> dict[str, Any]:
        results = [{"index": r["index"], "relevance_score": r["relevanceScore"]} for r in data.get("results") or []]
        units = -(-len(call.params["documents"]) // 100)  # one billed query per 100 documents
        return {"id": new_id("rerank"),
                "results": _with_documents(results, call.params["documents"],
                                           bool(call.params.get("return_documents"))),
                "meta": {"billed_units": {"search_units": units}}}
