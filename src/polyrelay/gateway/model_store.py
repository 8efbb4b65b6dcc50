"""Models kept in the database (``general_settings.store_model_in_db: true``):
added, changed and removed through /model/new, /model/update and
/model/delete, served without a restart by every instance.

- Credentials: every secret-named ``litellm_params`` value (api_key,
  aws_secret_access_key, ...) and header map is stored encrypted with
  AES-GCM under a key derived from ``POLYRELAY_SALT_KEY`` (or
  ``LITELLM_SALT_KEY``); only the Router holds them in clear. Routes show
  them masked.
- Reaching every instance: each change bumps the ``models`` row of
  ``store_versions`` in its own transaction. Every instance polls that one
  row every ``POLL_SECONDS`` and reloads the model list when it moved, so a
  change is served everywhere within about a second, with or without Redis.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import secrets as random_bytes
import uuid
from typing import Any

import orjson
from sqlalchemy import delete, insert, select, update

from ..errors import BadRequestError
from ..redact import mask
from ..router.deployment import Deployment
from ..store.records import now
from ..store.schema import proxy_models, store_versions
from .config import is_secret_name

log = logging.getLogger("polyrelay.gateway")

SALT_KEY_NAMES = ("POLYRELAY_SALT_KEY", "LITELLM_SALT_KEY")
POLL_SECONDS = 1.0
VERSION_NAME = "models"
_PREFIX = "polyrelay-enc:v1:"
_HEADER_FIELDS = ("extra_headers", "headers")


def salt_key() -> str | None:
    for name in SALT_KEY_NAMES:
        if os.environ.get(name):
            return os.environ[name]
    return None


def _sensitive(name: str) -> bool:
    return is_secret_name(name) or name in _HEADER_FIELDS


class Cipher:
    """AES-256-GCM, the key derived from the salt key with HKDF-SHA256.
    Each value gets its own random nonce; the tag makes a wrong salt key
    (or a changed value) fail loudly instead of decrypting to garbage."""

    def __init__(self, salt: str) -> None:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF

        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                   info=b"polyrelay stored model credentials").derive(salt.encode())
        self._aead = AESGCM(key)

    def encrypt(self, value: Any) -> str:
        nonce = random_bytes.token_bytes(12)
        sealed = self._aead.encrypt(nonce, orjson.dumps(value), None)
        return _PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()

    def decrypt(self, value: Any) -> Any:
        if not (isinstance(value, str) and value.startswith(_PREFIX)):
            return value
        raw = base64.urlsafe_b64decode(value[len(_PREFIX):])
        return orjson.loads(self._aead.decrypt(raw[:12], raw[12:], None))

    def seal(self, params: dict[str, Any]) -> dict[str, Any]:
        return {k: self.encrypt(v) if _sensitive(k) and v is not None else v for k, v in params.items()}

    def open(self, params: dict[str, Any]) -> dict[str, Any]:
        return {k: self.decrypt(v) if _sensitive(k) else v for k, v in params.items()}


def masked_params(params: dict[str, Any]) -> dict[str, Any]:
    """litellm_params as routes show them: credentials masked, never in clear."""
    shown: dict[str, Any] = {}
    for key, value in params.items():
        if key in _HEADER_FIELDS and isinstance(value, dict):
            shown[key] = {name: "****" for name in value}
        elif is_secret_name(key) and isinstance(value, str) and value.startswith("os.environ/"):
            shown[key] = value  # a reference to the environment, not the secret itself
        elif is_secret_name(key) and value is not None:
            shown[key] = mask(value) if isinstance(value, str) else "****"
        else:
            shown[key] = value
    return shown


def credentials(entries: list[dict[str, Any]]) -> list[str]:
    """Every credential of these entries, to scrub from what the gateway sends back."""
    found: list[str] = []
    for entry in entries:
        for key, value in (entry.get("litellm_params") or {}).items():
            if key in _HEADER_FIELDS and isinstance(value, dict):
                found += [str(v) for v in value.values()]
            elif is_secret_name(key) and isinstance(value, str):
                found.append(value)
    return [s for s in found if len(s) >= 4]


class ModelStore:
    """The proxy_models table. Synchronous: called through ``Database.run``."""

    def __init__(self, db, cipher: Cipher) -> None:
        self.db = db
        self.cipher = cipher

    def version(self) -> int:
        with self.db.engine.connect() as conn:
            found = conn.execute(select(store_versions.c.version)
                                 .where(store_versions.c.name == VERSION_NAME)).scalar()
        return int(found or 0)

    def load(self) -> tuple[int, list[dict[str, Any]]]:
        """(version, model_list entries with credentials in clear), read in one transaction."""
        with self.db.engine.connect() as conn:
            version = conn.execute(select(store_versions.c.version)
                                   .where(store_versions.c.name == VERSION_NAME)).scalar()
            rows = conn.execute(select(proxy_models).order_by(proxy_models.c.created_at,
                                                              proxy_models.c.model_id)).mappings().all()
        entries = []
        for row in rows:
            try:
                params = self.cipher.open(dict(row["litellm_params"] or {}))
            except Exception:  # cryptography's InvalidTag: another salt key, or a changed row
                log.error("stored model %s cannot be decrypted with this POLYRELAY_SALT_KEY / LITELLM_SALT_KEY; "
                          "not served", row["model_id"])
                continue
            entries.append({"model_name": row["model_name"], "litellm_params": params,
                            "model_info": {**(row["model_info"] or {}), "id": row["model_id"], "db_model": True}})
        return int(version or 0), entries

    def get(self, model_id: str) -> dict[str, Any] | None:
        with self.db.engine.connect() as conn:
            row = conn.execute(select(proxy_models).where(proxy_models.c.model_id == model_id)).mappings().first()
        if row is None:
            return None
        return {"model_id": row["model_id"], "model_name": row["model_name"],
                "litellm_params": self.cipher.open(dict(row["litellm_params"] or {})),
                "model_info": dict(row["model_info"] or {})}

    def _bump(self, conn) -> None:
        changed = conn.execute(update(store_versions).where(store_versions.c.name == VERSION_NAME)
                               .values(version=store_versions.c.version + 1)).rowcount
        if not changed:
            conn.execute(insert(store_versions).values(name=VERSION_NAME, version=1))

    def add(self, name: str, params: dict[str, Any], info: dict[str, Any]) -> str:
        model_id = str(info.get("id") or uuid.uuid4())
        at = now()
        with self.db.engine.begin() as conn:
            conn.execute(insert(proxy_models).values(
                model_id=model_id, model_name=name, litellm_params=self.cipher.seal(params),
                model_info={k: v for k, v in info.items() if k != "id"}, created_at=at, updated_at=at))
            self._bump(conn)
        return model_id

    def replace(self, model_id: str, name: str, params: dict[str, Any], info: dict[str, Any]) -> bool:
        with self.db.engine.begin() as conn:
            changed = conn.execute(update(proxy_models).where(proxy_models.c.model_id == model_id).values(
                model_name=name, litellm_params=self.cipher.seal(params),
                model_info={k: v for k, v in info.items() if k != "id"}, updated_at=now())).rowcount
            if changed:
                self._bump(conn)
        return bool(changed)

    def delete(self, model_id: str) -> bool:
        with self.db.engine.begin() as conn:
            changed = conn.execute(delete(proxy_models).where(proxy_models.c.model_id == model_id)).rowcount
            if changed:
                self._bump(conn)
        return bool(changed)


class ModelSync:
    """Keeps the Router's model list = the config's models + the stored ones."""

    def __init__(self, gateway, store: ModelStore) -> None:
        self.gateway = gateway
        self.store = store
        self.version: int | None = None
        self._task: asyncio.Task | None = None
        self._lock = asyncio.Lock()  # one reload at a time: the last one applied is the newest read

    async def reload(self) -> None:
        async with self._lock:
            version, entries = await self.gateway.db.run(self.store.load)
            self.apply(entries)
            self.version = version

    def apply(self, entries: list[dict[str, Any]]) -> None:
        gateway = self.gateway
        config_ids = {d.id for d in gateway.router.deployments if not d.model_info.get("db_model")}
        kept = [e for e in gateway.router.model_list if e["model_info"].get("id") in config_ids]
        served = []
        for entry in entries:
            if entry["model_info"]["id"] in config_ids:
                log.error("stored model %s has the id of a model in the config file; the config's is served",
                          entry["model_info"]["id"])
                continue
            try:
                Deployment.from_entry(entry)
            except BadRequestError as exc:  # e.g. an os.environ/ name unset on this instance: skip it, say which
                log.error("stored model %s is not served here: %s", entry["model_info"]["id"], exc.message)
                continue
            served.append(entry)
        gateway.router.set_model_list(kept + served)
        gateway.secrets.replace(gateway.config.secrets() + tuple(credentials(served)))
        if gateway.accounting is not None:
            gateway.accounting.models_changed()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._poll(), name="polyrelay-model-sync")

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(POLL_SECONDS)
            try:
                if await self.gateway.db.run(self.store.version) != self.version:
                    await self.reload()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is away: keep serving what we have, try again
                log.warning("model list not refreshed from the database: %s", type(exc).__name__)

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
