"""The gateway's long-lived state: config, Router, authenticator, metrics.

Built once per process; routes and middleware hold a reference to it. The
Router is made at start-up (inside the server's event loop, in the ASGI
lifespan) and closed at shutdown. Anything a request needs that can be
worked out in advance is worked out here, once.
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import logging
import os
import re
from functools import partial
from pathlib import Path
from typing import Any

import polyrelay

from .accounting import soft_budget_alert
from .auth import Authenticator, KeyLookup
from .clientside import deployment_allows
from .config import LITELLM_MODULE_SETTINGS, Config, load_guardrails
from .metrics import Metrics
from .store_health import StoreHealth

# litellm_settings for logging (observe/), module settings as in LiteLLM; loaded by config.py.
OBSERVE_SETTINGS = ("callbacks", "success_callback", "failure_callback", "turn_off_message_logging",
                    "s3_callback_params")

log = logging.getLogger("polyrelay.gateway")


class Gateway:
    def __init__(self, config: Config, key_lookup: KeyLookup | None = None) -> None:
        self.config = config
        self.metrics = Metrics()
        self.auth = Authenticator(config.master_key, key_lookup)
        from ..redact import Secrets

        self.secrets = Secrets(config.secrets())  # grows with stored models' credentials (model_store.py)
        self.models: Any = None  # model_store.ModelSync with general_settings.store_model_in_db
        self.max_request_bytes = config.max_request_bytes
        self.router: Any = None
        self.accounting: Any = None  # set at start: budgets, limits and spend (accounting.py)
        self.db: Any = None
        self.spool: Any = None  # store.spend.SpendSpool, set at start
        self.drain: Any = None  # store.spend.DrainProcess, set at start
        self.cache: Any = None  # caching.Cache when litellm_settings.cache is on (gateway/cache.py)
        self.store_health: Any = None  # StoreHealth (store_health.py), set at start
        self.ready = False
        self.observing: Any = None  # observing.Observing when callbacks are configured
        from ..guardrails import Guardrails

        self.guardrails = Guardrails(load_guardrails(config, os.getcwd()))

    # --- lifecycle -------------------------------------------------------

    async def start(self) -> None:
        self.apply_module_settings()
        from .observing import Observing

        self.observing = Observing.configured(self.metrics.registry)
        self.router = build_router(self.config)
        from .cache import start_cache

        self.cache = await start_cache(self.config, self.metrics, self.router)
        self.guardrails.start(self.router)
        await self._open_records()
        if self.config.general_settings.get("store_model_in_db"):
            from .model_store import Cipher, ModelStore, ModelSync, salt_key

            self.models = ModelSync(self, ModelStore(self.db, Cipher(salt_key() or "")))
            await self.models.reload()
            self.models.start()
        # Token tables are not loaded here: they cost 45-75 MB each, and a
        # provider that reports usage never needs them. What counts tokens
        # on the serving path (mock/, budget reservations) preloads them off
        # the loop on first use (tokens.preload).
        # Everything loaded so far (modules, catalogue, config)
        # lives as long as the process: keep it out of the collector's full
        # passes, which otherwise stalled the loop for 40-80 ms (bench p99).
        gc.collect()
        gc.freeze()
        # A request's containers are freed by reference counting; collecting the young
        # generation every 20,000 new ones (not 700) lets few of them survive into the
        # older generations whose passes are the expensive ones.
        gc.set_threshold(20_000, 10, 10)
        self.ready = True
        log.info("polyrelay gateway serving %d model group(s) from %s", len(self.router.model_names),
                 self.config.source)

    async def _open_records(self) -> None:
        """The database (migrated), virtual keys, the budget ledger, the spend spool and its drain."""
        from ..store.database import Database
        from ..store.ledger import Ledger
        from ..store.records import Records
        from ..store.spend import DrainProcess, SpendDrain
        from ..store.spool import SpendSpool, instance_spool_dir
        from .accounting import Accounting
        from .keys import VirtualKeys

        settings = self.config.general_settings
        self.db = Database(settings.get("database_url"))
        await self.db.migrate_in_child()
        keys = VirtualKeys(self.db)
        self.auth.lookup = keys
        # One spool per database inside the configured directory: instances
        # started in one place against different databases never store each
        # other's records; a restart (same database) finds its predecessor's.
        base = settings.get("spend_spool_dir") or default_spool_dir(self.db)
        # An in-memory database is this process's alone: so is its spool.
        identity = self.db.safe_url() + (f" (process {os.getpid()})" if self.db.in_memory else "")
        spool = instance_spool_dir(base, identity)
        # What a crashed process left in its spool is stored before we serve,
        # so the budgets we start from include it. A record the database
        # refuses is set aside (dead-letters.jsonl), never a reason not to start.
        if any(Path(base).glob("spool-*.jsonl")):  # left by a version that spooled into the base directory itself
            await self.db.run(SpendDrain(self.db, base).drain_logged)
        await self.db.run(SpendDrain(self.db, spool).drain_logged)
        self.spool = SpendSpool(spool)
        self.spool.open()
        self.spool.check()
        self.drain = DrainProcess(self.db, spool)
        self.drain.start()
        self.store_health = StoreHealth(self.db, self.spool)
        await self.store_health.check_db()
        ledger = Ledger(self.router.state, on_soft_budget=partial(soft_budget_alert, self.metrics))
        self.accounting = Accounting(keys, ledger, self.spool, self.router,
                                     redact_metadata=bool(self.config.litellm_settings.get("turn_off_message_logging")),
                                     max_budget=self.config.litellm_settings.get("max_budget"),
                                     budget_duration=self.config.litellm_settings.get("budget_duration"),
                                     store_prompts=bool(settings.get("store_prompts_in_spend_logs")))
        self._budget_task = asyncio.get_running_loop().create_task(_reset_budgets_forever(Records(self.db)))
        self._health_task = asyncio.get_running_loop().create_task(self.store_health.watch())
        log.info("records in %s", self.db.safe_url())

    async def stop(self) -> None:
        self.ready = False
        if self.models is not None:
            self.models.stop()
        if self.accounting is not None:
            self._budget_task.cancel()
            self._health_task.cancel()
            await self.accounting.drain()
            await self.drain.close(self.spool)  # the last pass: nothing stays behind in the spool
            self.db.dispose()
        if self.cache is not None:
            await self.cache.close()
        close = getattr(self.router, "aclose", None) or getattr(self.router, "close", None)
        if close is not None:
            result = close()
            if inspect.isawaitable(result):
                await result
        from .. import transport
        from ..observe import DISPATCHER

        await transport.aclose()
        # What sinks have queued goes out before we exit.
        if DISPATCHER.attached_to(asyncio.get_running_loop()):
            await DISPATCHER.detach(10.0)
        else:
            await asyncio.to_thread(DISPATCHER.flush, 10.0)

    def apply_module_settings(self) -> None:
        """litellm_settings like ``drop_params`` are module settings, as in LiteLLM."""
        for key, value in self.config.litellm_settings.items():
            if key in LITELLM_MODULE_SETTINGS or key in OBSERVE_SETTINGS:
                setattr(polyrelay, key, [] if value is None and key in OBSERVE_SETTINGS[:3] else value)
        # Caps on upstream answers, read by the transport at each call.
        for key in ("max_response_size_mb", "max_stream_event_size_mb"):
            value = self.config.general_settings.get(key)
            if value is not None:
                setattr(polyrelay, key, value)

    # --- what routes report ----------------------------------------------

    def record_success(self, model: str, hidden: dict[str, Any], usage: Any) -> None:
        """Book an answered call: tokens, spend, and its deployment's health."""
        if usage is not None and not isinstance(usage, dict):
            usage = usage.model_dump()
        self.metrics.record_usage(model, usage, hidden.get("response_cost"))
        self.metrics.record_deployment(model, hidden.get("model_id"), ok=True)

    def refresh_store_metrics(self) -> None:
        """Before a scrape: spool writable, records set aside (dead letters)."""
        if self.store_health is not None:
            self.metrics.show_store(self.spool.writable, self.store_health.dead_letters())

    async def refresh_deployment_states(self) -> None:
        """Show the Router's cooldowns in the deployment-state gauge."""
        deployments = [(d.model_name, d.id) for d in self.router.deployments]
        self.metrics.show_deployment_states(deployments, await self.router.cooling())

    # --- lookups used by routes ------------------------------------------

    def deployments(self, group: str) -> list[dict[str, Any]]:
        return self.router.get_model_list(group)  # an alias answers with its group's deployments

    def clientside_param_allowed(self, group: str, key: str, value: str) -> bool:
        """May a caller send its own ``api_base`` (or region, api_version...) for this model group?

        Only if the admin said so: ``general_settings.allow_client_side_credentials``,
        or every deployment of the group lists the field in
        ``litellm_params.configurable_clientside_auth_params`` (as a name, or
        for a URL as ``{"api_base": "<url or regex>"}`` that the value must
        match; see clientside.pattern_allows)."""
        if self.config.allow_client_side_credentials:
            return True
        found = self.deployments(group)
        return bool(found) and all(
            deployment_allows(d.get("litellm_params", {}).get("configurable_clientside_auth_params"), key, value)
            for d in found)

    @staticmethod
    def provider_of(model: str, custom_llm_provider: str | None = None) -> str | None:
        from ..providers import resolve

        try:
            return resolve(model, custom_llm_provider)[0]
        except Exception:
            return None

    def reachable_groups(self, model: str, body: dict[str, Any]) -> list[str]:
        """Every group a call on ``model`` may end up in: the request's own
        ``fallbacks`` and the config's (plain, context-window, content-policy,
        default)."""
        router = self.router
        found: list[str] = []
        for table in ("fallbacks", "context_window_fallbacks", "content_policy_fallbacks"):
            found += getattr(router, table, {}).get(model, [])
        found += getattr(router, "default_fallbacks", [])
        requested = body.get("fallbacks")
        if isinstance(requested, list):
            for item in requested:
                if isinstance(item, str):
                    found.append(item)
                elif isinstance(item, dict):
                    for targets in item.values():
                        found += [targets] if isinstance(targets, str) else list(targets or [])
        return found


def check_router(config: Config) -> None:
    """Build the Router once, off the server, so a config it refuses stops
    start-up with its message rather than a traceback from the server."""
    from ..errors import PolyrelayError
    from .config import ConfigError

    router_log = logging.getLogger("polyrelay.router")
    level = router_log.level
    router_log.setLevel(logging.ERROR)  # its warnings come once, when the server builds its own
    try:
        build_router(config)
    except (PolyrelayError, TypeError, ValueError) as exc:
        raise ConfigError(f"the Router refused this config: {getattr(exc, 'message', exc)}") from exc
    finally:
        router_log.setLevel(level)


def build_router(config: Config):
    """``Router(model_list=..., **router_settings)``. Settings the Router does
    not take are warned about by name, not passed (it would raise)."""
    from ..router import Router

    settings = config.router_kwargs()
    accepted = _accepted_kwargs(Router)
    if accepted is not None:
        for key in list(settings):
            if key not in accepted:
                log.warning("router_settings.%s is not a setting polyrelay's Router knows; ignored", key)
                settings.pop(key)
    return Router(model_list=config.model_list, **settings)


def _accepted_kwargs(cls) -> set[str] | None:
    """The keyword names ``cls`` accepts, or None if it takes ``**kwargs``."""
    params = inspect.signature(cls).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return {p.name for p in params}


def default_spool_dir(db) -> str:
    """Next to the SQLite file; in the working directory for PostgreSQL."""
    database = db.engine.url.database if db.is_sqlite else None
    base = os.path.dirname(os.path.abspath(database)) if database and database != ":memory:" else os.getcwd()
    return os.path.join(base, "polyrelay-spool")


async def _reset_budgets_forever(records, every: float = 60.0) -> None:
    """Start each key's, user's, team's and end user's next budget period when it is due."""
    while True:
        try:
            await asyncio.to_thread(records.reset_budgets)
        except Exception as exc:  # the database may be down for a while: the next round tries again
            log.warning("budget reset failed (%s); retrying in %gs", type(exc).__name__, every)
        await asyncio.sleep(every)
