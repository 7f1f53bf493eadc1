"""The served (overlaid) specs as JSON, and Swagger UI to browse them.

Swagger UI's files ship in the ``swagger-ui-bundle`` package: no CDN.
"""

from __future__ import annotations

import html
import mimetypes
from pathlib import Path

import orjson

try:
    from swagger_ui_bundle import swagger_ui_path as _UI_DIR
except ImportError:  # pragma: no cover - the dependency is declared
    _UI_DIR = None

UI_PREFIX = "/docs/static/"


def spec_json(document: dict) -> bytes:
    return orjson.dumps(document, option=orjson.OPT_INDENT_2)


def ui_page(spec_names: list[str]) -> bytes:
    urls = [{"url": f"/openapi/{name}.json", "name": name} for name in spec_names]
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>mockserver: served contracts</title>
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
