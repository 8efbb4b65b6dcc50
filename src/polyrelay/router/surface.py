"""The Router's inspection and management methods, as LiteLLM names them:
``get_model_names``, ``get_model_ids``, ``get_deployment``,
``get_model_group_info``, ``add_deployment``, ``delete_deployment``.

Kept apart from routing: none of this runs per call. Changing the model
list rebuilds the lookup table once (see table.py).
"""

from __future__ import annotations

from typing import Any

from ..errors import PolyrelayError
from .deployment import Deployment
from .table import DeploymentTable


class Record(dict):
    """A dict that also reads as attributes (``d.litellm_params.model``), as
    LiteLLM's pydantic ``Deployment`` and ``ModelGroupInfo`` do."""

    def __getattr__(self, name: str) -> Any:
        try:
            value = self[name]
        except KeyError:
            raise AttributeError(name) from None
        return Record(value) if isinstance(value, dict) and not isinstance(value, Record) else value

    def model_dump(self, **_: Any) -> dict[str, Any]:
        return dict(self)


def _entry(value: Any) -> dict[str, Any]:
    """A model_list entry from a dict, a ``Record`` or a pydantic ``Deployment``."""
    if hasattr(value, "model_dump"):
        value = value.model_dump(exclude_none=True)
    if not isinstance(value, dict):
        raise TypeError(f"a deployment is a model_list entry (a dict); got {type(value).__name__}")
    return {k: (dict(v) if isinstance(v, dict) else v) for k, v in value.items()}


class RouterSurface:
    _table: DeploymentTable

    def _set_table(self, deployments: list[Deployment]) -> None:  # implemented by Router
        raise NotImplementedError

    # -- what is served ----------------------------------------------------------------------------

    @property
    def deployments(self) -> list[Deployment]:
        return self._table.deployments

    @property
    def model_list(self) -> list[dict[str, Any]]:
        return [d.as_entry() for d in self._table.deployments]

    @property
    def model_names(self) -> list[str]:
        """The model groups (aliases not included)."""
        return list(self._table.groups)

    def get_model_names(self) -> list[str]:
        """Every name a caller may use: the groups, then the aliases that are not hidden."""
        return self._table.names()

    def get_model_ids(self, model_name: str | None = None) -> list[str]:
        return [d.id for d in self._table.deployments if model_name is None or d.model_name == model_name]

    def has_group(self, name: str) -> bool:
        return self._table.has(name)

    def group(self, name: str) -> list[Deployment]:
        return self._table.lookup(name).deployments

    def get_model_list(self, model_name: str | None = None) -> list[dict[str, Any]]:
        if model_name is not None and model_name not in self._table.groups and self._table.has(model_name):
            model_name = self._table.lookup(model_name).name  # an alias: its group's deployments
        return [d.as_entry() for d in self._table.deployments if model_name is None or d.model_name == model_name]

    def get_deployment(self, model_id: str) -> Record | None:
        found = self._table.by_id.get(model_id)
        return None if found is None else Record(found.as_entry())

    def get_model_group_info(self, model_group: str) -> Record | None:
        """LiteLLM's ``ModelGroupInfo``: what the group's deployments can do,
        from their model_info and the catalogue. None for an unknown group."""
        if not self._table.has(model_group):
            return None
        members = self._table.lookup(model_group).deployments
        infos = [_model_info(d) for d in members]

        def most(name: str) -> Any:
            values = [i[name] for i in infos if i.get(name) is not None]
            return max(values) if values else None

        def total(values: list[int | None]) -> int | None:
            known = [v for v in values if v is not None]
            return sum(known) if known else None

        flags = ("supports_vision", "supports_function_calling", "supports_parallel_function_calling",
                 "supports_response_schema", "supports_reasoning", "supports_prompt_caching")
        return Record({
            "model_group": model_group,
            "providers": sorted({i["provider"] for i in infos if i.get("provider")}),
            "max_input_tokens": most("max_input_tokens"),
            "max_output_tokens": most("max_output_tokens"),
            "input_cost_per_token": most("input_cost_per_token"),
            "output_cost_per_token": most("output_cost_per_token"),
            "mode": next((i["mode"] for i in infos if i.get("mode")), "chat"),
            "tpm": total([d.tpm for d in members]),
            "rpm": total([d.rpm for d in members]),
            **{flag: any(bool(i.get(flag)) for i in infos) for flag in flags},
        })

    # -- changing the model list -------------------------------------------------------------------

    def add_deployment(self, deployment: Any) -> Record | None:
        """Add one model_list entry (a dict or LiteLLM's ``Deployment``). None
        if a deployment with its id is already there (LiteLLM's answer)."""
        added = Deployment.from_entry(_entry(deployment))
        if added.id in self._table.by_id:
            return None
        self._set_table([*self._table.deployments, added])
        return Record(added.as_entry())

    def upsert_deployment(self, deployment: Any) -> Record:
        changed = Deployment.from_entry(_entry(deployment))
        kept = [d for d in self._table.deployments if d.id != changed.id]
        self._set_table([*kept, changed])
        return Record(changed.as_entry())

    def delete_deployment(self, id: str) -> Record | None:
        """Remove the deployment with this ``model_info.id``; the removed entry, or None."""
        found = self._table.by_id.get(id)
        if found is None:
            return None
        self._set_table([d for d in self._table.deployments if d.id != id])
        return Record(found.as_entry())

    def set_model_list(self, model_list: list[dict[str, Any]]) -> None:
        self._set_table([Deployment.from_entry(_entry(e)) for e in model_list])


def _model_info(deployment: Deployment) -> dict[str, Any]:
    from ..metadata import get_model_info
    from ..providers import resolve

    try:
        info = dict(get_model_info(str(deployment.model_info.get("base_model") or deployment.params["model"])))
    except PolyrelayError:
        info = {}  # not in the catalogue: what the config says is all there is
        try:
            info["provider"] = resolve(str(deployment.params["model"]))[0]
        except PolyrelayError:
            pass  # a custom provider name: nothing more to say
    info.update({k: v for k, v in deployment.model_info.items() if v is not None})
    return info
