"""OpenAPI Overlay 1.0 applier.

An overlay is an ordered list of actions; each action selects nodes of the
spec with an RFC 9535 JSONPath ``target`` and either ``remove``s them or
merges ``update`` into them. We keep the rules of the Overlay 1.0 text:

- objects are merged recursively, new keys added, scalars replaced;
- an ``update`` on an array target appends the value to the array;
- arrays *inside* a merged object are replaced (our errata never rely on
  this: they remove and re-add, so the intent reads plainly);
- ``remove: true`` deletes the selected node from its parent.

Each action's outcome (how many nodes it touched) is kept so the start-up
banner and ``mockserver lint`` can say exactly which errata were applied and
flag one that no longer matches anything.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonpath_rfc9535 as jsonpath
from mockserver.specs.yamlio import YAMLError, parse_yaml

_VERSION = re.compile(r"^1\.0\.\d+$")


class OverlayError(ValueError):
    """An overlay file that cannot be used, with the file and the reason."""


@dataclass(frozen=True)
class Action:
    target: str
    description: str
    update: Any = None
    remove: bool = False
    erratum: str | None = None  # our extension: a short id such as "MM-3"


@dataclass
class Overlay:
    path: Path | None
    title: str
    version: str
    extends: str | None
    actions: list[Action]

    @property
    def name(self) -> str:
        return self.path.name if self.path else self.title


@dataclass
class AppliedAction:
    action: Action
    matched: int


@dataclass
class OverlayResult:
    overlay: Overlay
    applied: list[AppliedAction] = field(default_factory=list)

    @property
    def unmatched(self) -> list[Action]:
        return [a.action for a in self.applied if a.matched == 0]


def load_overlay(path: Path) -> Overlay:
    """Read and check an Overlay 1.0 document; errors name the file."""
    try:
        doc = parse_yaml(path.read_text(encoding="utf-8"))
    except (OSError, YAMLError) as exc:
        raise OverlayError(f"{path}: cannot read overlay: {exc}") from exc
    return parse_overlay(doc, path)


def parse_overlay(doc: Any, path: Path | None = None) -> Overlay:
    where = str(path) if path else "<overlay>"
    if not isinstance(doc, dict):
        raise OverlayError(f"{where}: an overlay must be a mapping")
    version = str(doc.get("overlay", ""))
    if not _VERSION.match(version):
        raise OverlayError(f"{where}: 'overlay' must be a 1.0.x version, got {version!r}")
    info = doc.get("info") or {}
    if not isinstance(info, dict) or "title" not in info or "version" not in info:
        raise OverlayError(f"{where}: 'info' needs 'title' and 'version'")
    raw_actions = doc.get("actions")
    if not isinstance(raw_actions, list) or not raw_actions:
        raise OverlayError(f"{where}: 'actions' must be a non-empty list")
    actions = []
    for i, raw in enumerate(raw_actions):
        if not isinstance(raw, dict) or not isinstance(raw.get("target"), str):
            raise OverlayError(f"{where}: actions[{i}] needs a string 'target'")
        target = raw["target"]
        try:
            jsonpath.compile(target)
        except jsonpath.JSONPathError as exc:
            raise OverlayError(f"{where}: actions[{i}].target {target!r} is not JSONPath: {exc}") from exc
        remove = bool(raw.get("remove", False))
        if "update" not in raw and not remove:
            raise OverlayError(f"{where}: actions[{i}] needs 'update' or 'remove: true'")
        actions.append(
            Action(
                target=target,
                description=str(raw.get("description", "")).strip(),
                update=raw.get("update"),
                remove=remove,
                erratum=raw.get("x-erratum"),
            )
        )
    return Overlay(path, str(info["title"]), str(info["version"]), doc.get("extends"), actions)


def apply_overlay(document: dict, overlay: Overlay) -> tuple[dict, OverlayResult]:
    """Return a new document with the overlay applied, and what each action did."""
    doc = copy.deepcopy(document)
    result = OverlayResult(overlay)
    for action in overlay.actions:
        nodes = list(jsonpath.find(action.target, doc))
        # Removals go last-first so that removing from an array keeps the
        # indices of the nodes still to be removed valid.
        for node in reversed(nodes) if action.remove else nodes:
            if action.remove:
                _remove(doc, node)
            else:
                _update(doc, node, action.update)
        result.applied.append(AppliedAction(action, len(nodes)))
    return doc, result


def _remove(doc: dict, node: Any) -> None:
    if not node.location:
        raise OverlayError("an overlay cannot remove the whole document")
    parent = node.parent.value if node.parent is not None else doc
    key = node.location[-1]
    if isinstance(parent, dict):
        parent.pop(key, None)
    elif isinstance(parent, list):
        del parent[key]


def _update(doc: dict, node: Any, update: Any) -> None:
    target = node.value
    if isinstance(target, list):
        target.append(copy.deepcopy(update))
    elif isinstance(target, dict) and isinstance(update, dict):
        _merge(target, update)
    else:
        raise OverlayError(
            f"cannot update {node.path()}: the target is a {type(target).__name__}; "
            "target its parent object instead"
        )


def _merge(target: dict, update: dict) -> None:
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)
