"""``mockserver lint``: find the defects of a spec and say which erratum fixes them.

Each check reads the document as written and reports a :class:`Finding`
with a JSON path. A finding is *fixed* when it is gone from the document
after the overlays; the erratum credited with the fix is the first one after
which it is gone (errata are applied one at a time to find out). Checks are
generic (an ambiguous oneOf is found by building an instance of one branch
and validating it against the others), so they work on any spec.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

from mockserver.contract import HTTP_METHODS, resolve_ref
from mockserver.specs.loader import LoadedSpec, SpecError, bundled_specs, load_spec
from mockserver.specs.overlay import Overlay, OverlayError, apply_overlay, load_overlay
from mockserver.validation import SchemaValidator, convert_components, oas_to_json_schema


@dataclass
class Finding:
    check: str
    where: str
    message: str
    severity: str = "defect"  # or "note": worth knowing, not wrong
    fixed_by: list[str] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str]:
        return (self.check, self.where)


@dataclass
class LintReport:
    spec: LoadedSpec
    findings: list[Finding]
    stale_actions: list[str] = field(default_factory=list)

    @property
    def defects(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "defect"]

    @property
    def unfixed(self) -> list[Finding]:
        return [f for f in self.defects if not f.fixed_by]


def jpath(parts: list[Any]) -> str:
    out = "$"
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.replace("_", "").replace("-", "").isalnum() and not part[0].isdigit() and "-" not in part:
            out += f".{part}"
        else:
            out += "['" + part.replace("'", "\\'") + "']"
    return out


def _walk(node: Any, path: list[Any]) -> Iterator[tuple[list[Any], Any]]:
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, (dict, list)):
                yield from _walk(value, [*path, key])
    elif isinstance(node, list):
        for i, value in enumerate(node):
            if isinstance(value, (dict, list)):
                yield from _walk(value, [*path, i])


def _operations(doc: dict) -> Iterator[tuple[str, str, dict]]:
    for path, item in (doc.get("paths") or {}).items():
        for method in HTTP_METHODS:
            op = (item or {}).get(method)
            if isinstance(op, dict):
                yield path, method, op


def _ref_name(schema: Any) -> str | None:
    if isinstance(schema, dict) and isinstance(schema.get("$ref"), str):
        return schema["$ref"].rsplit("/", 1)[-1]
    return None


def _types(doc: dict, schema: Any) -> set[str]:
    schema = resolve_ref(doc, schema)
    if not isinstance(schema, dict):
        return set()
    t = schema.get("type")
    return set(t) if isinstance(t, list) else ({t} if t else set())


# --- checks -----------------------------------------------------------------------------

def check_oneof_ambiguity(doc: dict) -> Iterator[Finding]:
    """A oneOf whose branches accept a common instance rejects that instance."""
    from mockserver.sources.schema_instances import UnsatisfiableSchema, generate

    components = convert_components(doc.get("components") or {})
    for path, node in _walk(doc, []):
        if not isinstance(node, dict) or not isinstance(node.get("oneOf"), list):
            continue
        branches = node["oneOf"]
        validators = [SchemaValidator(oas_to_json_schema(b), components, name=str(i)) for i, b in enumerate(branches)]
        reported: set[tuple[int, int]] = set()
        for i, branch in enumerate(branches):
            resolved = _inline(doc, branch)
            for seed, minimal in ((0, True), (1, False)):
                try:
                    witness = generate(oas_to_json_schema(resolved), seed=seed, minimal=minimal)
                except (UnsatisfiableSchema, RecursionError):
                    continue
                others = [j for j, v in enumerate(validators) if j != i and v.is_valid(witness)]
                for j in others:
                    pair = (min(i, j), max(i, j))
                    if pair in reported:
                        continue
                    reported.add(pair)
                    a = _ref_name(branches[pair[0]]) or f"branch {pair[0]}"
                    b = _ref_name(branches[pair[1]]) or f"branch {pair[1]}"
                    yield Finding(
                        "oneof-ambiguous", jpath([*path, "oneOf"]),
                        f"{a} and {b} both accept {json.dumps(witness)[:120]}; oneOf requires exactly one "
                        "match, so such a value is always rejected",
                    )


def _inline(doc: dict, schema: Any, depth: int = 0) -> Any:
    """Resolve $refs so a branch can be generated on its own (bounded depth)."""
    if depth > 8:
        return {}
    schema = resolve_ref(doc, schema)
    if isinstance(schema, dict):
        return {k: _inline(doc, v, depth + 1) if isinstance(v, (dict, list)) and k != "enum" else v
                for k, v in schema.items()}
    if isinstance(schema, list):
        return [_inline(doc, v, depth + 1) for v in schema]
    return schema


_TAG_SUFFIXES = ("Message", "Content", "Part", "Param", "Chunk")


def _tag_of(name: str) -> str | None:
    for suffix in _TAG_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)].lower()
    return None


def check_tag_names(doc: dict) -> Iterator[Finding]:
    """In a oneOf of SystemMessage, UserMessage..., each branch's tag enum should
    admit the value its name announces, as its siblings' do."""
    for path, node in _walk(doc, []):
        if not isinstance(node, dict) or not isinstance(node.get("oneOf"), list):
            continue
        rows = []
        for branch in node["oneOf"]:
            name = _ref_name(branch)
            schema = resolve_ref(doc, branch)
            if not name or not isinstance(schema, dict):
                continue
            for prop, sub in (schema.get("properties") or {}).items():
                sub = resolve_ref(doc, sub)
                if isinstance(sub, dict) and isinstance(sub.get("enum"), list) and len(sub["enum"]) <= 2:
                    rows.append((name, prop, sub["enum"]))
        for name, prop, enum in rows:
            tag = _tag_of(name)
            siblings = [r for r in rows if r[1] == prop and r[0] != name]
            following = [r for r in siblings if _tag_of(r[0]) in [str(v).lower() for v in r[2]]]
            if tag and len(following) >= 2 and tag not in [str(v).lower() for v in enum]:
                yield Finding(
                    "tag-enum-mismatch", jpath(["components", "schemas", name, "properties", prop, "enum"]),
                    f"{name}.{prop} allows only {enum}, while its siblings' {prop} match their names; "
                    f"no {tag} message can be sent",
                )


def _request_schema_names(doc: dict) -> set[str]:
    """Component schemas reachable from a request body (what clients send)."""
    schemas = (doc.get("components") or {}).get("schemas") or {}
    todo = [op.get("requestBody") for _, _, op in _operations(doc)]
    seen: set[str] = set()
    while todo:
        node = todo.pop()
        for _, sub in _walk(node, []):
            name = _ref_name(sub)
            if name and name not in seen and name in schemas:
                seen.add(name)
                todo.append(schemas[name])
    return seen


def check_tool_call_turns(doc: dict) -> Iterator[Finding]:
    """An assistant turn that carries tool calls may have no content, or null content."""
    request_side = _request_schema_names(doc)
    for name, schema in ((doc.get("components") or {}).get("schemas") or {}).items():
        if not isinstance(schema, dict) or name not in request_side:
            continue
        props = schema.get("properties") or {}
        if "tool_calls" not in props or "content" not in props:
            continue
        where = ["components", "schemas", name]
        if "content" in (schema.get("required") or []):
            yield Finding("content-required-with-tool-calls", jpath([*where, "required"]),
                          f"{name} requires content, but an assistant turn that carries only tool calls has none")
        content = oas_to_json_schema(_inline(doc, props["content"]))
        if not SchemaValidator(content, {}, name="content").is_valid(None):
            yield Finding("content-not-nullable", jpath([*where, "properties", "content"]),
                          f"{name}.content rejects null, but the official OpenAI SDKs replay an assistant "
                          "turn that carried tool calls with \"content\": null")
        # Fields the SDKs' message objects carry as null when unused, and send back so.
        for field in ("audio", "refusal", "function_call"):
            if field in props:
                schema = oas_to_json_schema(_inline(doc, props[field]))
                if not SchemaValidator(schema, {}, name=field).is_valid(None):
                    yield Finding("sdk-null-field", jpath([*where, "properties", field]),
                                  f"{name}.{field} rejects null, but the official OpenAI SDKs replay an "
                                  f"assistant message with \"{field}\": null when it had none")


def check_tool_calls_arrays(doc: dict) -> Iterator[Finding]:
    for path, node in _walk(doc, []):
        if not (len(path) >= 2 and path[-1] == "tool_calls" and path[-2] == "properties"):
            continue
        if "array" not in _types(doc, node):
            yield Finding("tool-calls-not-array", jpath(path),
                          "tool_calls is a single object, but parallel tool calls (parallel_tool_calls, "
                          "default true) put several calls in one turn: it must be an array")


def check_streaming(doc: dict) -> Iterator[Finding]:
    for path, method, op in _operations(doc):
        where = ["paths", path, method]
        body = resolve_ref(doc, op.get("requestBody") or {})
        schema = resolve_ref(doc, ((body.get("content") or {}).get("application/json") or {}).get("schema"))
        stream = resolve_ref(doc, ((schema or {}).get("properties") or {}).get("stream") or {})
        streams_by_default = bool((stream or {}).get("default")) or bool(op.get("x-stream"))
        ok = resolve_ref(doc, (op.get("responses") or {}).get("200") or {})
        content = ok.get("content") or {}
        if stream and "text/event-stream" not in content:
            why = "streams by default (stream defaults to true" + (", x-stream: true)" if op.get("x-stream") else ")") \
                if streams_by_default else "accepts stream: true"
            yield Finding("stream-without-sse", jpath([*where, "responses", "200", "content"]),
                          f"the operation {why} but declares no text/event-stream response")
        if "text/event-stream" in content and "x-itemSchema" not in content["text/event-stream"]:
            yield Finding("sse-without-chunk-schema", jpath([*where, "responses", "200", "content", "text/event-stream"]),
                          "stream chunks have no schema (only an example documents them), so no chunk can be checked")


def check_empty_messages(doc: dict) -> Iterator[Finding]:
    """A chat request's ``messages`` that may be empty: nothing to answer.

    The API answers an empty list with 400 (and so does the mock), so a
    contract that allows it promises an answer that never comes.
    """
    for path, method, op in _operations(doc):
        body = resolve_ref(doc, op.get("requestBody") or {})
        media = (body.get("content") or {}).get("application/json") or {}
        raw = media.get("schema")
        where = ["paths", path, method, "requestBody", "content", "application/json", "schema"]
        if _ref_name(raw):
            where = ["components", "schemas", _ref_name(raw)]
        schema = resolve_ref(doc, raw)
        messages = ((schema or {}).get("properties") or {}).get("messages")
        if messages is None or "array" not in _types(doc, messages):
            continue
        if _ref_name(messages) is None and (messages.get("minItems") or 0) < 1:
            yield Finding("messages-may-be-empty", jpath([*where, "properties", "messages"]),
                          "messages may be an empty list, but a conversation without a message has nothing to "
                          "answer: the API (and the mock) answers it with 400; declare minItems: 1")


def check_error_responses(doc: dict) -> Iterator[Finding]:
    for path, method, op in _operations(doc):
        codes = [str(c) for c in (op.get("responses") or {})]
        if not any(c == "default" or c[0] in "45" for c in codes):
            yield Finding("no-error-response", jpath(["paths", path, method, "responses"]),
                          "no error response is declared, yet invalid requests are answered with 4xx errors "
                          "in the OpenAI error shape")


def check_servers(doc: dict) -> Iterator[Finding]:
    from urllib.parse import urlsplit

    for i, server in enumerate(doc.get("servers") or []):
        url = (server or {}).get("url", "")
        base = urlsplit(url).path.rstrip("/")
        if base and any(p.startswith("/v") for p in (doc.get("paths") or {})):
            yield Finding("servers-path", jpath(["servers", i, "url"]),
                          f"the server URL {url!r} carries the path {base!r}, while the operations already "
                          "carry their version prefix; clients call them at the root")


def note_unused_schemas(doc: dict) -> Iterator[Finding]:
    text = json.dumps(doc)
    for name in ((doc.get("components") or {}).get("schemas") or {}):
        if f'"#/components/schemas/{name}"' not in text:
            yield Finding("unused-schema", jpath(["components", "schemas", name]),
                          f"{name} is never referenced", severity="note")


def note_openai_divergence(doc: dict) -> Iterator[Finding]:
    image = ((doc.get("components") or {}).get("schemas") or {}).get("ImageContent") or {}
    if _types(doc, (image.get("properties") or {}).get("image_url")) == {"string"}:
        yield Finding("openai-divergence", jpath(["components", "schemas", "ImageContent", "properties", "image_url"]),
                      "image_url is a URL string here, while the OpenAI API takes an object {url, detail}; "
                      "the mock enforces the contract as written", severity="note")


CHECKS = (check_oneof_ambiguity, check_tag_names, check_tool_call_turns, check_tool_calls_arrays,
          check_streaming, check_empty_messages, check_error_responses, check_servers, note_unused_schemas,
          note_openai_divergence)


def find(doc: dict) -> list[Finding]:
    findings: list[Finding] = []
    for check in CHECKS:
        findings.extend(check(doc))
    return findings


def remaining_defects(spec: LoadedSpec) -> list[Finding]:
    """The defects of the document as served: what the start-up banner warns about.
    (One pass over the served document; :func:`lint_spec` also credits errata.)"""
    return [f for f in find(spec.document) if f.severity == "defect"]


def lint_spec(spec: LoadedSpec) -> LintReport:
    """Findings of the document as written, each credited to the erratum that fixes it."""
    findings = find(spec.original)
    remaining = {f.key for f in findings}
    doc = spec.original
    stale = []
    for result in spec.overlays:
        groups: list[tuple[str, list]] = []
        for applied in result.applied:
            label = applied.action.erratum or result.overlay.name
            if not groups or groups[-1][0] != label:
                groups.append((label, []))
            groups[-1][1].append(applied.action)
            if applied.matched == 0:
                stale.append(f"{result.overlay.name}: action on {applied.action.target} matches nothing")
        for label, actions in groups:
            doc, _ = apply_overlay(doc, Overlay(None, label, "", None, actions))
            now = {f.key for f in find(doc)}
            for finding in findings:
                if finding.key in remaining and finding.key not in now:
                    finding.fixed_by.append(label)
            remaining &= now
    return LintReport(spec, findings, stale)


def format_report(report: LintReport) -> str:
    spec = report.spec
    defects, unfixed = report.defects, report.unfixed
    notes = [f for f in report.findings if f.severity == "note"]
    lines = [f"{spec.path}: {len(defects)} defect(s), {len(defects) - len(unfixed)} fixed by errata/overlays, "
             f"{len(unfixed)} unfixed; {len(notes)} note(s)"]
    for f in report.findings:
        tag = ("fixed by " + ", ".join(f.fixed_by)) if f.fixed_by else ("UNFIXED" if f.severity == "defect" else "note")
        lines.append(f"  [{tag}] {f.check} at {f.where}\n      {f.message}")
    for stale in report.stale_actions:
        lines.append(f"  [stale overlay] {stale}")
    return "\n".join(lines)


def run_lint(paths: list[Path], *, overlays: list[Path], errata: bool, as_json: bool) -> int:
    paths = [Path(p) for p in paths] or bundled_specs()
    try:
        extra: list[Overlay] = [load_overlay(Path(p)) for p in overlays]
        reports = []
        for path in paths:
            mine = [o for o in extra if not o.extends or Path(o.extends).name == path.name]
            reports.append(lint_spec(load_spec(path, errata=errata, overlays=mine)))
    except (SpecError, OverlayError) as exc:
        print(f"mockserver lint: {exc}", file=sys.stderr)
        return 2
    if as_json:
        print(json.dumps([{"spec": str(r.spec.path), "findings": [asdict(f) for f in r.findings],
                           "stale_actions": r.stale_actions} for r in reports], indent=2))
    else:
        print("\n\n".join(format_report(r) for r in reports))
    return 1 if any(r.unfixed or r.stale_actions for r in reports) else 0
