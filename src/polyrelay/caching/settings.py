"""The gateway's ``litellm_settings.cache`` and ``cache_params``, checked at
start-up into the arguments of ``Cache``.

As in LiteLLM's proxy: ``cache: true`` turns the cache on, its type is
``cache_params.type`` (``redis`` when not given), and a Redis cache reads
``REDIS_HOST`` / ``REDIS_PORT`` / ``REDIS_PASSWORD`` / ``REDIS_URL`` when
``cache_params`` does not name the server.
"""

from __future__ import annotations

import os
from typing import Any

from .cache import Cache

# Parameters of other cache types: with this type they change nothing, so a
# warning names them rather than a refusal.
OTHER_TYPES_PARAMS = frozenset({
    "similarity_threshold", "qdrant_api_base", "qdrant_api_key", "qdrant_collection_name",
    "qdrant_quantization_config", "qdrant_semantic_cache_embedding_model", "redis_semantic_cache_embedding_model",
    "redis_semantic_cache_index_name", "s3_bucket_name", "s3_region_name", "s3_api_version", "s3_use_ssl",
    "s3_verify", "s3_endpoint_url", "s3_aws_access_key_id", "s3_aws_secret_access_key", "s3_aws_session_token",
    "s3_config", "s3_path", "disk_cache_dir", "host", "port", "password", "redis_url", "max_size_in_memory",
})
TYPE_PARAMS = {"redis": {"host", "port", "password", "redis_url"}, "disk": {"disk_cache_dir"},
               "local": {"max_size_in_memory"},
               # every s3_* name goes to the Cache, which refuses by name those it does not serve
               "s3": {"s3_bucket_name", "s3_region_name", "s3_api_version", "s3_use_ssl", "s3_verify",
                      "s3_endpoint_url", "s3_aws_access_key_id", "s3_aws_secret_access_key",
                      "s3_aws_session_token", "s3_config", "s3_path"},
               "qdrant-semantic": {"similarity_threshold", "qdrant_api_base", "qdrant_api_key",
                                   "qdrant_collection_name", "qdrant_semantic_cache_embedding_model"}}


def cache_arguments(litellm_settings: dict[str, Any], warnings: list[str],
                    groups: list[str] | None = None) -> dict[str, Any] | None:
    """``Cache(**result)``, or None when the cache is off. Raises ValueError
    naming what is wrong (the config loader stops start-up with it)."""
    params = dict(litellm_settings.get("cache_params") or {})
    if not litellm_settings.get("cache"):
        if params:
            warnings.append("litellm_settings.cache_params is set but litellm_settings.cache is not true: "
                            "no cache is used")
        return None
    kind = str(params.get("type") or "redis")
    params["type"] = kind
    for name in list(params):
        if name in OTHER_TYPES_PARAMS and name not in TYPE_PARAMS.get(kind, ()):
            warnings.append(f"litellm_settings.cache_params.{name} does not apply to a {kind!r} cache; ignored")
            params.pop(name)
    if kind == "redis" and not (params.get("host") or params.get("redis_url")):
        if os.environ.get("REDIS_URL"):
            params["redis_url"] = os.environ["REDIS_URL"]
        else:
            params["host"] = os.environ.get("REDIS_HOST") or "localhost"
            params.setdefault("port", os.environ.get("REDIS_PORT") or 6379)
            params.setdefault("password", os.environ.get("REDIS_PASSWORD") or None)
    if "port" in params and params["port"] is not None:
        try:
            params["port"] = int(params["port"])
        except (TypeError, ValueError):
            raise ValueError(f"port must be a number, got {params['port']!r}") from None
    embedder = params.get("qdrant_semantic_cache_embedding_model")
    if kind == "qdrant-semantic" and groups is not None and isinstance(embedder, str) and embedder not in groups:
        raise ValueError(f"qdrant_semantic_cache_embedding_model {embedder!r} is not a model group of this config "
                         f"(model_list has {', '.join(groups) or 'none'}).")
    try:
        Cache(**params)  # every check the constructor makes, with no server touched
    except TypeError as exc:
        raise ValueError(str(exc)) from None
    return params
