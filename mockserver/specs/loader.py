"""Find, read and overlay the spec files a server serves.

A spec ``X.yaml`` is paired with its errata ``X.errata.yaml`` when that file
sits beside it; errata are applied unless switched off (``--no-errata``).
User overlays (``--overlay FILE``) name the spec they extend with ``extends``
and are applied after the errata.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mockserver.specs.yamlio import YAMLError, parse_yaml
from mockserver.specs.overlay import Overlay, OverlayError, OverlayResult, apply_overlay, load_overlay

ERRATA_SUFFIX = ".errata.yaml"


class SpecError(ValueError):
    """A spec that cannot be served, with the file and the reason."""


def bundled_dir() -> Path:
    """Where the bundled contracts live: ``mockserver/bundled_specs`` in an
    installed package (a wheel maps the repository's ``specs/`` there), or the
    repository's ``specs/`` when running from a checkout or an editable install."""
    package = Path(__file__).resolve().parents[1]
    for candidate in (package / "bundled_specs", package.parent / "specs"):
        if (candidate / "ark.yaml").is_file():
            return candidate
    raise SpecError(f"the bundled specs are missing from {package} (a broken installation?)")


def bundled_specs() -> list[Path]:
    """The two contracts this product ships, in a stable order."""
    base = bundled_dir()
    return [base / "ark.yaml", base / "multimedia.yaml"]


def errata_for(spec_path: Path) -> Path | None:
    candidate = spec_path.with_name(spec_path.name.rsplit(".", 1)[0] + ERRATA_SUFFIX)
    return candidate if candidate.is_file() else None


def read_document(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"{path}: cannot read spec: {exc.strerror or exc}") from exc
    try:
        doc = json.loads(text) if path.suffix == ".json" else parse_yaml(text)
    except (ValueError, YAMLError) as exc:
        raise SpecError(f"{path}: not valid YAML/JSON: {exc}") from exc
    if not isinstance(doc, dict) or "openapi" not in doc:
        raise SpecError(f"{path}: not an OpenAPI 3 document (no 'openapi' field)")
    if not str(doc["openapi"]).startswith("3."):
        raise SpecError(f"{path}: only OpenAPI 3.x is supported, got {doc['openapi']!r}")
    return doc


@dataclass
class LoadedSpec:
    """A spec as written and as served (after overlays)."""

    name: str
    path: Path
    original: dict[str, Any]
    document: dict[str, Any]
    overlays: list[OverlayResult] = field(default_factory=list)

    @property
    def errata_applied(self) -> list[str]:
        ids: list[str] = []
        for result in self.overlays:
            for applied in result.applied:
                erratum = applied.action.erratum
                if erratum and applied.matched and erratum not in ids:
                    ids.append(erratum)
        return ids


def spec_name(path: Path) -> str:
    return path.name.split(".", 1)[0]


def load_spec(path: Path, *, errata: bool = True, overlays: list[Overlay] | None = None) -> LoadedSpec:
    path = Path(path)
    original = read_document(path)
    document = original
    results: list[OverlayResult] = []
    chain: list[Overlay] = []
    if errata and (errata_path := errata_for(path)) is not None:
        chain.append(load_overlay(errata_path))
    chain += overlays or []
    for overlay in chain:
        try:
            document, result = apply_overlay(document, overlay)
        except OverlayError as exc:
            raise SpecError(f"{overlay.name}: {exc}") from exc
        results.append(result)
    return LoadedSpec(spec_name(path), path, original, document, results)


def assign_overlays(spec_paths: list[Path], overlay_paths: list[Path]) -> dict[Path, list[Overlay]]:
    """Give each user overlay to the spec its ``extends`` names (or the only spec)."""
    out: dict[Path, list[Overlay]] = {p: [] for p in spec_paths}
    for opath in overlay_paths:
        overlay = load_overlay(Path(opath))
        if overlay.extends:
            wanted = Path(overlay.extends).name
            matches = [p for p in spec_paths if p.name == wanted]
        else:
            matches = list(spec_paths) if len(spec_paths) == 1 else []
        if len(matches) != 1:
            names = ", ".join(p.name for p in spec_paths)
            raise OverlayError(
                f"{opath}: cannot tell which spec this overlay extends "
                f"(extends: {overlay.extends!r}; served specs: {names})"
            )
        out[matches[0]].append(overlay)
    return out


def load_all(
    spec_paths: list[Path] | None = None,
    *,
    errata: bool = True,
    overlay_paths: list[Path] | None = None,
) -> list[LoadedSpec]:
    paths = [Path(p).resolve() for p in (spec_paths or bundled_specs())]
    names = [spec_name(p) for p in paths]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise SpecError(f"two specs share the name {sorted(dupes)}: rename one file")
    try:
        by_spec = assign_overlays(paths, [Path(p) for p in overlay_paths or []])
    except OverlayError as exc:
        raise SpecError(str(exc)) from exc
    return [load_spec(p, errata=errata, overlays=by_spec[p]) for p in paths]
