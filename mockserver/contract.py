"""What the mock knows about each operation of a served spec, prepared once.

A :class:`Contract` is one served spec; each :class:`Operation` holds the
compiled validators for its request body, JSON response, stream chunks and
errors, plus the facts handlers need (does it stream by default? may chunks
carry ``finish_reason: null``?). Everything is derived from the spec at
start-up, so a request never touches the spec again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from mockserver.specs.loader import LoadedSpec
from mockserver.validation import SchemaValidator, convert_components, oas_to_json_schema

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
JSON = "application/json"
SSE = "text/event-stream"


def resolve_ref(document: dict, schema: Any) -> Any:
    """Follow local ``$ref``s (``#/a/b``) until a schema without one."""
    seen = set()
    while isinstance(schema, dict) and "$ref" in schema:
        ref = schema["$ref"]
        if ref in seen or not ref.startswith("#/"):
            break
        seen.add(ref)
        node: Any = document
        for part in ref[2:].split("/"):
            node = node.get(part.replace("~1", "/").replace("~0", "~"), {}) if isinstance(node, dict) else {}
        schema = node
    return schema


@dataclass
class Operation:
    spec: str
    path: str
    method: str
    operation_id: str
    request: SchemaValidator | None
    request_properties: dict[str, Any]
    body_required: bool
    response: SchemaValidator | None  # the 200 JSON body
    chunk: SchemaValidator | None  # one SSE data event
    error: SchemaValidator | None  # the JSON error body (default / 4xx)
    stream_default: bool
    declares_stream: bool
    handler: Callable[..., Any] | None = None
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.spec}:{self.operation_id}"

    def default(self, name: str, fallback: Any = None) -> Any:
        """The spec's default for a top-level request property."""
        prop = self.request_properties.get(name)
        if isinstance(prop, dict) and "default" in prop:
            return prop["default"]
        return fallback

    def declares(self, name: str) -> bool:
        return name in self.request_properties


@dataclass
class Contract:
    spec: LoadedSpec
    operations: dict[str, Operation]  # by operationId
    routes: dict[str, dict[str, Operation]]  # path -> METHOD -> operation

    @property
    def name(self) -> str:
        return self.spec.name


def build_contract(spec: LoadedSpec) -> Contract:
    doc = spec.document
    components = convert_components(doc.get("components") or {})
    operations: dict[str, Operation] = {}
    routes: dict[str, dict[str, Operation]] = {}
    for path, item in (doc.get("paths") or {}).items():
        for method in HTTP_METHODS:
            raw = (item or {}).get(method)
            if not isinstance(raw, dict):
                continue
            op_id = raw.get("operationId") or f"{method}_{path}"
            op = _build_operation(spec.name, doc, components, path, method, op_id, raw)
            operations[op_id] = op
            routes.setdefault(path, {})[method.upper()] = op
    return Contract(spec, operations, routes)


def _validator(schema: Any, components: dict, name: str) -> SchemaValidator | None:
    if not isinstance(schema, dict):
        return None
    return SchemaValidator(oas_to_json_schema(schema), components, name=name)


def _build_operation(
    spec_name: str, doc: dict, components: dict, path: str, method: str, op_id: str, raw: dict
) -> Operation:
    body = (raw.get("requestBody") or {})
    body = resolve_ref(doc, body)
    body_schema = ((body.get("content") or {}).get(JSON) or {}).get("schema")
    request_props = resolve_ref(doc, body_schema) if body_schema else {}
    request_props = (request_props or {}).get("properties", {}) if isinstance(request_props, dict) else {}
    request_props = {k: resolve_ref(doc, v) for k, v in request_props.items()}

    responses = raw.get("responses") or {}
    ok = resolve_ref(doc, responses.get("200") or responses.get("201") or {})
    ok_content = ok.get("content") or {}
    json_schema = (ok_content.get(JSON) or {}).get("schema")
    sse = ok_content.get(SSE)
    chunk_schema = (sse or {}).get("x-itemSchema")
    error_schema = None
    for status in ("default", "400", "4XX"):
        candidate = resolve_ref(doc, responses.get(status) or {})
        error_schema = ((candidate.get("content") or {}).get(JSON) or {}).get("schema")
        if error_schema:
            break

    stream_prop = request_props.get("stream") or {}
    stream_default = bool(stream_prop.get("default", raw.get("x-stream", False)))
    where = f"{spec_name} {method.upper()} {path}"
    op = Operation(
        spec=spec_name,
        path=path,
        method=method.upper(),
        operation_id=op_id,
        request=_validator(body_schema, components, f"{where} request body"),
        request_properties=request_props,
        body_required=bool(body.get("required", False)),
        response=_validator(json_schema, components, f"{where} 200 application/json"),
        chunk=_validator(chunk_schema, components, f"{where} 200 text/event-stream chunk"),
        error=_validator(error_schema, components, f"{where} error response"),
        stream_default=stream_default,
        declares_stream=sse is not None,
    )
    op.facts = _derive_facts(op, doc, json_schema)
    return op


def declares(doc: dict, schema: Any, path: list[str]) -> bool:
    """Whether ``schema`` declares the nested property ``path`` (following $refs)."""
    node = resolve_ref(doc, schema)
    for name in path:
        props = node.get("properties") if isinstance(node, dict) else None
        if not isinstance(props, dict) or name not in props:
            return False
        node = resolve_ref(doc, props[name])
    return True


def _derive_facts(op: Operation, doc: dict, response_schema: Any) -> dict[str, Any]:
    """Rendering choices read off the schemas instead of hard-coded per spec."""
    facts: dict[str, Any] = {
        "usage_details": declares(doc, response_schema, ["usage", "completion_tokens_details"]),
    }
    if op.chunk is not None:
        probe = {"choices": [{"index": 0, "delta": {}, "finish_reason": None}]}
        facts["chunk_finish_reason_nullable"] = op.chunk.is_valid(probe)
    if op.response is not None:
        probe = {"choices": [{"index": 0, "message": {"role": "assistant"}, "finish_reason": None}]}
        facts["finish_reason_nullable"] = op.response.is_valid(probe)
    return facts
