"""/v1/files and /v1/batches for OpenAI and Azure OpenAI deployments.

Files and batches live at the provider; the gateway places them on a
deployment of the config and hands the client ids that say which one, and
whose key made them: ``<provider id>.<deployment id>.<mac>``, the mac an
HMAC of both with the caller's key hash (keyed by the master key). So any
instance can serve a later call, and another key's id answers 404.

A batch's cost is known only when it completes. Creating one is admitted
like a call (model allow-list, budgets, rate limits); the gateway then polls
it (every ``POLYRELAY_BATCH_POLL_SECONDS``, default 60) and, once it has
completed, prices its output file at the batch discount (media/files.py)
and writes one spend row against the key: ``call_type`` ``batch``,
``request_id`` the batch id the client sees. A ``GET /v1/batches/{id}``
that finds it completed records it at once. What is being polled is kept
in memory: after a restart, the owner's next GET of the batch records it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
from typing import Any

from ...errors import BadRequestError, NotFoundError, PolyrelayError
from ...media import files
from ...providers import resolve
from ...store.ledger import Admission
from ..accounting import Ticket
from ..http import ClientGone, context, parse_json_object, read_body, send_bytes, send_error, send_json
from .audio import read_form

log = logging.getLogger("polyrelay.gateway")
CREDENTIAL_PARAMS = ("api_key", "api_base", "api_version", "azure_ad_token", "timeout", "extra_headers")
FINAL = frozenset({"completed", "failed", "cancelled", "expired"})


def poll_seconds() -> float:
    return float(os.environ.get("POLYRELAY_BATCH_POLL_SECONDS") or 60)


class Place:
    """Where files and batches go: one deployment, and how to sign ids for a caller."""

    def __init__(self, gateway) -> None:
        self.gateway = gateway
        self.secret = (gateway.config.master_key or "polyrelay-open-gateway").encode()
        self.pending: dict[str, tuple[Ticket, list, Any, str]] = {}  # batch id -> (ticket, subjects, deployment, upstream)
        self.settled: set[str] = set()
        self._poller: asyncio.Task | None = None

    def file_capable(self, deployment) -> str | None:
        provider, _ = resolve(str(deployment.params["model"]))
        return provider if provider in files.FILE_PROVIDERS else None

    def by_id(self, deployment_id: str):
        for d in self.gateway.router.deployments:
            if d.id == deployment_id:
                return d
        return None

    def choose(self, principal, model: str | None):
        router = self.gateway.router
        if model:
            if not router.has_group(model):
                raise NotFoundError(f"no model group {model!r}", param="model")
            if principal is not None and principal.models is not None:
                principal.check_model(model)
            found = [d for d in router.group(model) if self.file_capable(d)]
            if not found:
                raise BadRequestError(f"model group {model!r} has no OpenAI or Azure deployment for files",
                                      param="model")
            return found[0]
        allowed = principal.models if principal is not None and principal.models is not None else None
        found = [d for d in router.deployments if self.file_capable(d)
                 and (allowed is None or d.model_name in allowed)]
        places = {(self.file_capable(d), d.params.get("api_base")) for d in found}
        if len(places) != 1:
            raise BadRequestError("name the model group to keep this file with: add 'model' to the form (or "
                                  "extra_body); " + ("no group of this key can hold files" if not found else
                                                     f"several can: {sorted({d.model_name for d in found})}"),
                                  param="model")
        return found[0]

    def creds(self, deployment) -> dict[str, Any]:
        params = deployment.call_params
        return {k: params[k] for k in CREDENTIAL_PARAMS if params.get(k) is not None}

    def _mac(self, key_hash: str | None, deployment_id: str, upstream: str) -> str:
        message = f"{key_hash or ''}|{deployment_id}|{upstream}".encode()
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()[:12]

    def outward(self, principal, deployment, upstream: str) -> str:
        key_hash = getattr(principal, "key_hash", None)
        return f"{upstream}.{deployment.id}.{self._mac(key_hash, deployment.id, upstream)}"

    def inward(self, principal, visible: str, what: str):
        """(deployment, provider id) for an id this caller was given; 404 for any other."""
        parts = visible.rsplit(".", 2)
        missing = NotFoundError(f"No such {what}: {visible!r}", param=f"{what}_id", code="not_found")
        if len(parts) != 3:
            raise missing
        upstream, deployment_id, mac = parts
        key_hash = getattr(principal, "key_hash", None)
        if not hmac.compare_digest(mac, self._mac(key_hash, deployment_id, upstream)):
            raise missing
        deployment = self.by_id(deployment_id)
        if deployment is None:
            raise missing
        return deployment, upstream

    # ---------------------------------------------------------------- batch spend
    def watch(self, visible: str, ticket: Ticket, deployment, upstream: str) -> None:
        subjects = list(ticket.admission.subjects) if ticket.admission is not None else []
        self.pending[visible] = (ticket, subjects, deployment, upstream)
        if self._poller is None or self._poller.done():
            self._poller = asyncio.get_running_loop().create_task(self._poll())

    async def _poll(self) -> None:
        while self.pending:
            await asyncio.sleep(poll_seconds())
            for visible, (_, _, deployment, upstream) in list(self.pending.items()):
                try:
                    batch = await files.aretrieve_batch(upstream, self.file_capable(deployment),
                                                        **self.creds(deployment))
                    await self.settle_if_done(visible, batch)
                except PolyrelayError as exc:  # the provider is down: try again on the next round
                    log.warning("polling batch %s failed: %s", visible, exc)
                except Exception:  # a bug must not end the poller for every other batch
                    log.exception("polling batch %s failed", visible)

    async def settle_if_done(self, visible: str, batch: dict[str, Any], principal=None, deployment=None) -> None:
        status = batch.get("status")
        if status not in FINAL or visible in self.settled:
            return
        entry = self.pending.pop(visible, None)
        if entry is None and principal is None:
            return
        if entry is None:  # created before a restart: its owner is asking
            ticket = Ticket(visible, "batch", deployment.model_name, getattr(principal, "key_hash", None),
                            getattr(principal, "user_id", None), getattr(principal, "team_id", None), None, None,
                            float(batch.get("created_at") or 0), None)
            subjects = [s for s in principal.entry.subjects()] if getattr(principal, "entry", None) else []
        else:
            ticket, subjects, deployment, _ = entry
        self.settled.add(visible)
        provider = self.file_capable(deployment)
        cost, counts = 0.0, {}
        if batch.get("output_file_id"):
            cost, counts = await files.abatch_cost({**batch, "status": "completed"}, provider,
                                                   **self.creds(deployment))
        ticket.call_id = visible if len(visible) <= 64 else "batch-" + hashlib.sha256(visible.encode()).hexdigest()[:40]
        ticket.admission = Admission(subjects, 0.0) if subjects else None
        hidden = {"response_cost": cost, "model_id": deployment.id, "custom_llm_provider": provider,
                  "model": deployment.model_name}
        self.gateway.accounting.finish(ticket, hidden, counts, "success" if status == "completed" else status)


class FilesRoute:
    """POST /files, GET /files/{file_id}, GET /files/{file_id}/content."""

    def __init__(self, place: Place, content: bool = False) -> None:
        self.place = place
        self.content = content
        self.__name__ = "files_content" if content else "files"

    async def __call__(self, scope, receive, send) -> None:
        ctx = context(scope)
        place = self.place
        try:
            file_id = scope.get("path_params", {}).get("file_id")
            if scope["method"] == "POST" and file_id is None:
                form = await read_form(scope, receive, files.MAX_BATCH_FILE_BYTES)
                upload = form.get("file")
                if upload is None:
                    raise BadRequestError("Missing required parameter: 'file'.", param="file")
                deployment = place.choose(ctx.principal, form.get("model"))
                data = await files.acreate_file(upload, form.get("purpose") or "batch",
                                                place.file_capable(deployment), **place.creds(deployment))
                data["id"] = place.outward(ctx.principal, deployment, str(data["id"]))
                await send_json(send, 200, data)
                return
            if scope["method"] != "GET" or file_id is None:
                raise NotFoundError("Use POST /v1/files, GET /v1/files/{file_id} or its /content.")
            deployment, upstream = place.inward(ctx.principal, file_id, "file")
            provider = place.file_capable(deployment)
            if self.content:
                body = await files.afile_content(upstream, provider, **place.creds(deployment))
                await send_bytes(send, 200, body, content_type=b"application/octet-stream")
                return
            data = await files.afile_retrieve(upstream, provider, **place.creds(deployment))
            data["id"] = file_id
            await send_json(send, 200, data)
        except ClientGone:
            ctx.status = 499
        except Exception as exc:
            await send_error(send, exc, scope, place.gateway.secrets)


class BatchesRoute:
    """POST /batches, GET /batches/{batch_id}, POST /batches/{batch_id}/cancel."""

    def __init__(self, place: Place, cancel: bool = False) -> None:
        self.place = place
        self.cancel = cancel
        self.__name__ = "batches_cancel" if cancel else "batches"

    def _outward(self, principal, deployment, data: dict[str, Any]) -> dict[str, Any]:
        for key in ("input_file_id", "output_file_id", "error_file_id"):
            if data.get(key):
                data[key] = self.place.outward(principal, deployment, str(data[key]))
        data["id"] = self.place.outward(principal, deployment, str(data["id"]))
        return data

    async def __call__(self, scope, receive, send) -> None:
        ctx = context(scope)
        place = self.place
        gateway = place.gateway
        try:
            batch_id = scope.get("path_params", {}).get("batch_id")
            principal = ctx.principal
            if batch_id is None and scope["method"] == "POST":
                body = parse_json_object(await read_body(receive))
                input_file_id = body.get("input_file_id")
                if not isinstance(input_file_id, str):
                    raise BadRequestError("Missing required parameter: 'input_file_id'.", param="input_file_id")
                deployment, upstream_file = place.inward(principal, input_file_id, "file")
                if principal is not None and principal.models is not None:
                    principal.check_model(deployment.model_name)
                # Budgets and limits now, like a call; the cost is charged when the batch completes.
                ticket = await gateway.accounting.admit(ctx, "batch", deployment.model_name, body, {})
                try:
                    data = await files.acreate_batch(
                        upstream_file, body.get("endpoint") or "/v1/chat/completions",
                        body.get("completion_window") or "24h", body.get("metadata"),
                        place.file_capable(deployment), **place.creds(deployment))
                finally:
                    gateway.accounting.release(ticket)
                upstream = str(data["id"])
                data = self._outward(principal, deployment, data)
                place.watch(data["id"], ticket, deployment, upstream)
                await send_json(send, 200, data)
                return
            if batch_id is None:
                raise NotFoundError("Listing batches is not served; GET /v1/batches/{batch_id}.")
            deployment, upstream = place.inward(principal, batch_id, "batch")
            provider = place.file_capable(deployment)
            if self.cancel:
                data = await files.acancel_batch(upstream, provider, **place.creds(deployment))
            else:
                data = await files.aretrieve_batch(upstream, provider, **place.creds(deployment))
            await place.settle_if_done(batch_id, data, principal, deployment)
            await send_json(send, 200, self._outward(principal, deployment, data))
        except ClientGone:
            ctx.status = 499
        except Exception as exc:
            await send_error(send, exc, scope, gateway.secrets)


def make_file_and_batch_routes(gateway) -> list[tuple[str, Any, list[str], str]]:
    place = Place(gateway)
    return [
        ("/files", FilesRoute(place), ["POST"], "Upload a file (multipart) to an OpenAI/Azure deployment"),
        ("/files/{file_id}", FilesRoute(place), ["GET"], "A file's metadata"),
        ("/files/{file_id}/content", FilesRoute(place, content=True), ["GET"], "A file's content"),
        ("/batches", BatchesRoute(place), ["POST"], "Create a batch from an uploaded file"),
        ("/batches/{batch_id}", BatchesRoute(place), ["GET"], "A batch (its cost is recorded when it completes)"),
        ("/batches/{batch_id}/cancel", BatchesRoute(place, cancel=True), ["POST"], "Cancel a batch"),
    ]
