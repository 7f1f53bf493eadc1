"""The served (overlaid) specs as JSON, and Swagger UI to browse them.

Swagger UI's files ship in the ``swagger-ui-bundle`` package: no CDN.

The page reads its documents from ``/docs/openapi/NAME.json``, not from
``/openapi/NAME.json`` (the spec as served, errata applied, untouched): "Try
it out" sends the request it prefills, and for a request that declares a
property the mock keeps state for (ARK's ``thread_id``) the sample Swagger UI
builds would fill it in (``"thread_id": "1"``) and each click would append to
a server-side thread. The docs' copy names an example request without it
(:func:`try_it_document`); an example is documentation, not a defect of the
spec, so it is added here rather than by an erratum.
"""

from __future__ import annotations

import copy
import html
import mimetypes
from pathlib import Path
from typing import Any, Iterable

import orjson

from mockserver.contract import JSON, Operation, resolve_ref

try:
    from swagger_ui_bundle import swagger_ui_path as _UI_DIR
except ImportError:  # pragma: no cover - the dependency is declared
    _UI_DIR = None

UI_PREFIX = "/docs/static/"
DOCS_SPECS = "/docs/openapi/"

# Request properties that make the mock keep state between requests (ARK threads:
# ``handlers._respond``). Left out of the example request the docs page prefills.
STATEFUL = frozenset({"thread_id"})
SAMPLE_DEPTH = 8  # nesting followed when building an example (a $ref cycle ends here)

# A small icon inline, so that the page does not ask for /favicon.ico (a 404).
FAVICON = ("data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'%3E"
           "%3Crect width='16' height='16' rx='3' fill='%23173647'/%3E%3Cpath d='M4 11V5l4 4 4-4v6' "
           "stroke='%2385ea2d' stroke-width='2' fill='none'/%3E%3C/svg%3E")


def spec_json(document: dict) -> bytes:
    return orjson.dumps(document, option=orjson.OPT_INDENT_2)


def ui_page(spec_names: list[str]) -> bytes:
    """Swagger UI with one definition per served spec (``spec_names`` without repeats)."""
    urls = [{"url": f"{DOCS_SPECS}{name}.json", "name": name} for name in dict.fromkeys(spec_names)]
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>mockserver: served contracts</title>
<link rel="icon" href="{FAVICON}">
<link rel="stylesheet" href="{UI_PREFIX}swagger-ui.css"></head>
<body><div id="ui"></div>
<script src="{UI_PREFIX}swagger-ui-bundle.js"></script>
<script src="{UI_PREFIX}swagger-ui-standalone-preset.js"></script>
<script>
window.ui = SwaggerUIBundle({{
  urls: {html.escape(orjson.dumps(urls).decode(), quote=False)},
  dom_id: "#ui",
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
  layout: "StandaloneLayout"
}});
</script></body></html>""".encode()


def try_it_document(document: dict, operations: Iterable[Operation]) -> dict:
    """``document`` as the docs page shows it: with an example request where the
    sample Swagger UI would build sets a :data:`STATEFUL` property.

    Only where the spec gives the request no example of its own, and only an
    example the operation's own validator accepts: the docs never prefill a
    request the mock would refuse. Returns ``document`` itself when nothing
    changes; the served document is never modified.
    """
    out = document
    for op in operations:
        if not STATEFUL & op.request_properties.keys() or op.request is None:
            continue
        media = _json_media(out, op)
        if media is None or "example" in media or "examples" in media:
            continue
        sample = _sample(document, media.get("schema"), 0)
        if not isinstance(sample, dict) or not op.request.is_valid(sample):
            continue
        if out is document:
            out = copy.deepcopy(document)
            media = _json_media(out, op)
            assert media is not None
        media["examples"] = {"new-conversation": {
            "summary": f"Without {', '.join(sorted(STATEFUL & op.request_properties.keys()))}: "
                       "Try it out keeps no state on the server",
            "value": sample,
        }}
    return out


def _json_media(document: dict, op: Operation) -> dict | None:
    """The operation's ``application/json`` request body entry in ``document`` (None if it has none inline)."""
    item = (document.get("paths") or {}).get(op.path) or {}
    body = ((item.get(op.method.lower()) or {}).get("requestBody")) or {}
    if "$ref" in body:  # a shared request body: an example there would show on other operations too
        return None
    media = (body.get("content") or {}).get(JSON)
    return media if isinstance(media, dict) else None


def _sample(document: dict, schema: Any, depth: int) -> Any:
    """A value for ``schema`` the way Swagger UI samples one (example, default, first enum
    value, else by type), without :data:`STATEFUL` properties. A role enum answers
    ``user``: the one turn a chat request can start with on every contract."""
    schema = resolve_ref(document, schema)
    if not isinstance(schema, dict) or depth > SAMPLE_DEPTH:
        return None
    for key in ("example", "default"):
        if key in schema:
            return schema[key]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return "user" if "user" in enum else enum[0]
    for key in ("oneOf", "anyOf", "allOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            return _sample(document, options[0], depth + 1)
    kind = schema.get("type")
    properties = schema.get("properties")
    if kind == "object" or isinstance(properties, dict):
        return {name: _sample(document, prop, depth + 1)
                for name, prop in (properties or {}).items() if name not in STATEFUL}
    if kind == "array":
        return [_sample(document, schema.get("items"), depth + 1)]
    return {"string": "Hello", "integer": 1, "number": 1, "boolean": False}.get(kind)


def static_file(path: str) -> tuple[bytes, bytes] | None:
    """(content, content type) of a Swagger UI asset, or None."""
    if _UI_DIR is None:
        return None
    name = path[len(UI_PREFIX):]
    if not name or "/" in name or name.startswith("."):
        return None
    file = Path(_UI_DIR) / name
    if not file.is_file():
        return None
    kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return file.read_bytes(), kind.encode()


STATIC_DIR = Path(__file__).resolve().parents[1] / "static"


def inspector_file(name: str) -> tuple[bytes, bytes] | None:
    """A file of the inspector page (shipped in the package, no CDN), or None."""
    if not name or "/" in name or name.startswith("."):
        return None
    file = STATIC_DIR / name
    if not file.is_file():
        return None
    kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if kind.startswith("text/") or kind.endswith(("javascript", "json")):
        kind += "; charset=utf-8"
    return file.read_bytes(), kind.encode()
