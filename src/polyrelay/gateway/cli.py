"""``polyrelay``: start the gateway.

    polyrelay                         the embedded default (mock/ models, no keys, no network)
    polyrelay --config config.yaml    a LiteLLM proxy config, unchanged
    polyrelay --model gpt-4o          quick start with one model

The config is loaded and checked before the server starts; a bad config
exits with status 2 and a message naming the key. The server is uvicorn
on uvloop with the httptools parser: the fastest HTTP/1.1 stack for an
ASGI app in Python, and the one LiteLLM users already run.
"""

from __future__ import annotations

import argparse
import atexit
import copy
import logging
import os
import shutil
import sys
import tempfile

import polyrelay
from ..observe import diagnostics
from ..redact import RedactingFilter, scrub

from .config import ConfigError, load
from .connections import DEFAULT_HEADER_TIMEOUT, ConnectionLimits, raise_descriptor_limit
from .runtime import check_router

log = logging.getLogger("polyrelay.gateway")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="polyrelay",
        description="polyrelay gateway: an OpenAI-compatible API over every LLM provider. "
                    "With no --config and no --model it serves an embedded default with mock/ models.")
    p.add_argument("--config", "-c", help="LiteLLM-format config.yaml (model_list, router_settings, "
                                          "litellm_settings, general_settings, environment_variables)")
    p.add_argument("--model", "-m", help="serve this one model (e.g. gpt-4o, anthropic/claude-3-5-sonnet-20240620)")
    p.add_argument("--host", default="0.0.0.0", help="address to listen on (default: 0.0.0.0)")
    p.add_argument("--port", "-p", type=int, default=4000, help="port to listen on (default: 4000)")
    p.add_argument("--num_workers", "--num-workers", type=int, default=1,
                   help="worker processes sharing the port (default: 1)")
    p.add_argument("--header_timeout", "--header-timeout", type=float, default=None,
                   help="seconds a client has to send a complete request head, and the longest pause within a "
                        "request body, before its connection is closed (default: "
                        f"general_settings.header_timeout_seconds, else {DEFAULT_HEADER_TIMEOUT:g})")
    p.add_argument("--max_connections", "--max-connections", type=int, default=None,
                   help="open client connections per worker; more are answered 503 and closed (default: "
                        "general_settings.max_connections, else half the process's file descriptor limit)")
    p.add_argument("--debug", action="store_true", help="debug logging and per-request access logs")
    p.add_argument("--detailed_debug", "--detailed-debug", action="store_true",
                   help="--debug, and print each request sent upstream and its raw answer (keys masked)")
    p.add_argument("--version", "-v", action="version", version=f"polyrelay {polyrelay.__version__}")
    return p


def _fast_stack() -> dict[str, str]:
    """uvloop and httptools when installed (the proxy extra installs both)."""
    options = {"loop": "asyncio", "http": "h11"}
    try:
        import uvloop  # noqa: F401

        options["loop"] = "uvloop"
    except ImportError:
        log.warning("uvloop is not installed: serving on the default asyncio loop (slower)")
    try:
        import httptools  # noqa: F401

        options["http"] = "httptools"
    except ImportError:
        log.warning("httptools is not installed: serving with the h11 parser (slower)")
    return options


def _log_config(debug: bool, secrets: tuple[str, ...] = (), level: str | None = None,
                json_logs: bool = False) -> dict:
    """uvicorn's logging setup plus our loggers, applied in every worker;
    every handler scrubs keys and the config's secrets from what it writes.
    ``level`` is LITELLM_LOG / POLYRELAY_LOG; ``json_logs`` makes each line a JSON object."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact"] = {"()": "polyrelay.redact.RedactingFilter", "secrets": secrets}
    for handler in config["handlers"].values():
        handler.setdefault("filters", []).append("redact")
    if json_logs:
        for formatter in config["formatters"].values():
            formatter.clear()
            formatter["()"] = "polyrelay.observe.diagnostics.JsonFormatter"
    ours = "DEBUG" if debug else (level or "INFO")
    config["loggers"]["polyrelay"] = {"handlers": ["default"], "level": ours, "propagate": False}
    # verbose.py's lines (upstream request and raw answer) go through the same handler: scrubbed, and JSON if asked.
    config["loggers"]["polyrelay.verbose"] = {"handlers": ["default"], "level": "DEBUG", "propagate": False}
    config["loggers"]["uvicorn"]["level"] = "DEBUG" if debug else "INFO"
    return config


def is_loopback(host: str) -> bool:
    import ipaddress

    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["catalog"]:  # polyrelay catalog update --from FILE_OR_URL
        from ..catalog.refresh import command

        return command(argv[1:])
    args = parser().parse_args(argv)
    args.debug = args.debug or args.detailed_debug
    try:
        env_level = diagnostics.env_level()
    except ValueError as exc:
        return _refuse(f"cannot start: {exc}")
    _set_up_logging(args.debug, env_level)
    problem = _bad_argument(args) or _bad_sink_process_setting()
    if problem:
        return _refuse(problem)
    config = None
    try:
        config = load(args.config, args.model)
        check_router(config)
    except ConfigError as exc:
        # Values from os.environ/ are already hidden by name; key shapes and the config's secrets here.
        return _refuse(f"cannot start: {scrub(str(exc), config.secrets() if config else ())}")
    json_logs = bool(config.litellm_settings.get("json_logs"))
    if json_logs:
        for handler in logging.getLogger().handlers:
            handler.setFormatter(diagnostics.JsonFormatter())
    for warning in config.warnings:
        log.warning("config: %s", warning)
    if not config.master_key and not is_loopback(args.host):
        log.warning("!!! NO MASTER KEY: listening on %s with general_settings.master_key unset, so anyone who can "
                    "reach this address may call every model and use the management API (create keys, read "
                    "spend). Set general_settings.master_key, or listen on 127.0.0.1. !!!", args.host)
    _serve(args, config, env_level, json_logs)
    return 0


def _refuse(message: str) -> int:
    print(f"polyrelay: {message}", file=sys.stderr)
    return 2


def _set_up_logging(debug: bool, env_level: str | None) -> None:
    if debug or env_level == "DEBUG":
        polyrelay.set_verbose = True  # the request sent upstream and the raw answer, keys masked (verbose.py)
        os.environ["POLYRELAY_LOG"] = "DEBUG"  # workers (--num_workers) read it again
    logging.basicConfig(level=logging.DEBUG if debug else getattr(logging, env_level or "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactingFilter())


def _bad_argument(args: argparse.Namespace) -> str | None:
    if args.num_workers < 1:
        return "--num_workers must be at least 1"
    if args.header_timeout is not None and not 0 < args.header_timeout < float("inf"):
        return "--header_timeout must be a positive number of seconds"
    if args.max_connections is not None and args.max_connections < 1:
        return "--max_connections must be at least 1"
    return None


def _bad_sink_process_setting() -> str | None:
    value = os.environ.get("POLYRELAY_SINK_PROCESS", "1")
    if value.strip() not in ("0", "1"):
        return (f"POLYRELAY_SINK_PROCESS={value!r} is not served; use 1 "
                "(service sinks in a sink process, the default) or 0 (on the gateway's own event loop)")
    return None


def _serve(args: argparse.Namespace, config, env_level: str | None, json_logs: bool) -> None:
    import uvicorn

    # POLYRELAY_SINK_PROCESS=1 (the default) runs the service sinks in a sink process per worker
    # (observe/sink_process.py); 0 runs them on the gateway's own loop. Workers (--num_workers) read it
    # from the environment; its being set also tells observing.py this is the served gateway. Set only
    # now, when serving: a start-up refused earlier leaves the caller's environment as it was.
    os.environ.setdefault("POLYRELAY_SINK_PROCESS", "1")

    # The client's address (X-Forwarded-For behind a proxy) is read only by
    # the access log, which --debug turns on; otherwise skip that layer (~1% CPU).
    options = dict(host=args.host, port=args.port, log_config=_log_config(args.debug, config.secrets(), env_level, json_logs),
                   access_log=args.debug, proxy_headers=args.debug, timeout_keep_alive=30, **_fast_stack())
    raise_descriptor_limit()
    settings = config.general_settings
    limits = ConnectionLimits(
        header_timeout=args.header_timeout or settings.get("header_timeout_seconds") or DEFAULT_HEADER_TIMEOUT,
        max_connections=args.max_connections or settings.get("max_connections"))
    if options["http"] == "httptools":
        options["http"] = limits.protocol()
    else:
        log.warning("without httptools there is no request head timeout nor connection cap (slowloris exposure)")
    log.info("client connections: at most %d per worker, a request head within %gs", limits.max_connections,
             limits.header_timeout)
    if args.num_workers > 1:
        # Workers are separate processes: they rebuild the app from the same
        # arguments, passed through the environment, and share metrics
        # through files (see metrics.py).
        from .app import ENV_CONFIG, ENV_MODEL

        os.environ[ENV_CONFIG] = os.path.abspath(args.config) if args.config else ""
        os.environ[ENV_MODEL] = args.model or ""
        if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            metrics_dir = tempfile.mkdtemp(prefix="polyrelay-metrics-")
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
            atexit.register(shutil.rmtree, metrics_dir, ignore_errors=True)
        uvicorn.run("polyrelay.gateway.app:app_from_env", factory=True, workers=args.num_workers, **options)
        return
    from .app import create_app

    uvicorn.run(create_app(config), **options)


if __name__ == "__main__":
    sys.exit(main())
