"""What a router serves: its deployments by group, by id and by alias.

Built once per change of the model list (``Router(...)``, ``add_deployment``,
``delete_deployment``), so a call's lookup is one or two dict reads. Each
lookup answers with a ``Target``: the deployments a call may use, whether
the caller pinned one deployment by its id, and whether ``order`` applies.
"""

from __future__ import annotations

import fnmatch
import logging
from dataclasses import dataclass, replace
from typing import Any, Iterable

from ..errors import BadRequestError, NotFoundError
from .deployment import Deployment

log = logging.getLogger("polyrelay.router")


@dataclass(slots=True, frozen=True)
class Target:
    name: str  # the model group the call is for (an alias resolved)
    deployments: list[Deployment]
    pinned: bool = False  # called by model_info.id: that deployment and no other
    ordered: bool = False  # some deployment has litellm_params.order


@dataclass(slots=True, frozen=True)
class Alias:
    group: str
    hidden: bool = False


def parse_aliases(value: Any) -> dict[str, Alias]:
    """``model_group_alias``: ``{"gpt-4": "gpt-4o"}`` or ``{"gpt-4": {"model": "gpt-4o", "hidden": true}}``."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRequestError(f"model_group_alias must be a mapping; got {type(value).__name__}")
    aliases = {}
    for name, target in value.items():
        if isinstance(target, str):
            aliases[str(name)] = Alias(target)
        elif isinstance(target, dict) and isinstance(target.get("model"), str):
            unknown = sorted(set(target) - {"model", "hidden"})
            if unknown:
                raise BadRequestError(f"model_group_alias.{name} has unknown field(s) {', '.join(unknown)}")
            aliases[str(name)] = Alias(target["model"], bool(target.get("hidden", False)))
        else:
            raise BadRequestError(f"model_group_alias.{name} must be a group name or "
                                  f"{{'model': <group>, 'hidden': <bool>}}; got {target!r:.100}")
    return aliases


class DeploymentTable:
    def __init__(self, deployments: Iterable[Deployment], aliases: dict[str, Alias]) -> None:
        self.deployments = list(deployments)
        self.aliases = aliases
        self.groups: dict[str, list[Deployment]] = {}
        self.by_id: dict[str, Deployment] = {}
        for deployment in self.deployments:
            if deployment.id in self.by_id:
                # Two identical entries (same params, no id) share one id and its state; kept,
                # as before, but a call by that id reaches the first.
                log.warning("Router: two deployments have the id %r; give each a unique model_info.id",
                            deployment.id)
            else:
                self.by_id[deployment.id] = deployment
            self.groups.setdefault(deployment.model_name, []).append(deployment)
        self._wildcards = [(p, d) for p, d in self.groups.items() if "*" in p]
        self._ordered = {name for name, members in self.groups.items() if any(d.order is not None for d in members)}
        # Every name known now gets its Target made once (a call's lookup is one dict read).
        # Later assignments win: a group over an alias over a deployment id.
        self._targets: dict[str, Target] = {i: Target(d.model_name, [d], pinned=True) for i, d in self.by_id.items()}
        for name, alias in aliases.items():
            if name in self.groups:
                log.warning("Router: model_group_alias %r is also a model group; the group wins", name)
            elif not self._known(alias.group):
                log.warning("Router: model_group_alias %r points at %r, which is not a model group", name,
                            alias.group)
            elif alias.group in self.groups:
                self._targets[name] = self._group_target(alias.group)
            else:
                self._targets.pop(name, None)  # a wildcard match: resolved per call
        for name in self.groups:
            self._targets[name] = self._group_target(name)

    def _known(self, name: str) -> bool:
        return name in self.groups or any(fnmatch.fnmatchcase(name, p) for p, _ in self._wildcards)

    def has(self, name: str) -> bool:
        """Whether a call may name ``name``: a group, an alias, a deployment id or a wildcard match."""
        if name in self.groups or name in self.by_id:
            return True
        alias = self.aliases.get(name)
        return self._known(alias.group if alias is not None else name)

    def names(self, include_hidden: bool = False) -> list[str]:
        """Group names, then the aliases (hidden ones only when asked)."""
        names = list(self.groups)
        names += [n for n, a in self.aliases.items() if n not in self.groups and (include_hidden or not a.hidden)]
        return names

    def _group_target(self, name: str) -> Target:
        return Target(name, self.groups[name], ordered=name in self._ordered)

    def lookup(self, name: str) -> Target:
        found = self._targets.get(name)
        if found is not None:
            return found
        alias = self.aliases.get(name)
        if alias is not None and alias.group != name:
            return self.lookup(alias.group)
        for pattern, members in self._wildcards:
            # Wildcard groups ("openai/*", "*"): the requested name fills the star.
            if fnmatch.fnmatchcase(name, pattern):
                rest = name[len(pattern.split("*", 1)[0]):]
                return Target(name, [_for_wildcard(d, rest, name) for d in members], ordered=pattern in self._ordered)
        return self._unknown(name)

    def _unknown(self, name: str) -> Target:
        raise BadRequestError(f"Invalid model name passed in model={name}. Available models: "
                              f"{', '.join(self.names()) or '(none)'}", model=name, param="model")

    def get(self, model_id: str) -> Deployment:
        found = self.by_id.get(model_id)
        if found is None:
            raise NotFoundError(f"no deployment has the id {model_id!r}", model=model_id)
        return found


def _for_wildcard(deployment: Deployment, rest: str, name: str) -> Deployment:
    model = str(deployment.params["model"]).replace("*", rest)
    return replace(deployment, params={**deployment.params, "model": model},
                   call_params={**deployment.call_params, "model": model}, model_name=name)
