"""Rewriting a schema into plain Draft 2020-12, indexing every schema node by its path."""

from __future__ import annotations

from typing import Any

from mockserver.sources.schema_instances.errors import Path, _unsat


# Keywords whose value is a schema, a map of schemas, or a list of schemas.
_SUB_ONE = (
    "additionalProperties", "additionalItems", "contains", "not", "if", "then", "else",
    "propertyNames", "unevaluatedItems", "unevaluatedProperties", "contentSchema",
)
_SUB_MAP = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_SUB_LIST = ("allOf", "anyOf", "oneOf", "prefixItems")

# Keywords that never constrain a value: a schema made only of these accepts anything.
_ANNOTATIONS = frozenset({
    "title", "description", "default", "examples", "example", "$comment", "deprecated",
    "readOnly", "writeOnly", "$id", "$schema", "$anchor", "$dynamicAnchor", "$defs",
    "definitions", "nullable", "discriminator", "xml", "externalDocs", "contentMediaType",
    "contentEncoding", "$vocabulary", "strict",
})


def _is_trivially_true(node: Any) -> bool:
    if node is True:
        return True
    if not isinstance(node, dict):
        return False
    return all(k in _ANNOTATIONS or k.startswith("x-") for k in node)


class _Normaliser:
    """Rewrites a schema into plain Draft 2020-12 and indexes every schema node."""

    def __init__(self) -> None:
        self.nodes: dict[Path, Any] = {}
        self.refs: list[tuple[Path, str]] = []
        self.anchors: dict[str, Path] = {}

    def convert(self, node: Any, path: Path) -> Any:
        if isinstance(node, bool) or not isinstance(node, dict):
            self.nodes[path] = node
            return node
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in _SUB_ONE:
                out[key] = self.convert(value, path + (key,))
            elif key in _SUB_MAP and isinstance(value, dict):
                out[key] = {n: self.convert(s, path + (key, n)) for n, s in value.items()}
            elif key in _SUB_LIST and isinstance(value, list):
                out[key] = [self.convert(s, path + (key, i)) for i, s in enumerate(value)]
            elif key == "items":
                if isinstance(value, list):  # draft-4..2019 tuple form
                    out["prefixItems"] = [
                        self.convert(s, path + ("prefixItems", i)) for i, s in enumerate(value)
                    ]
                else:
                    out["items"] = self.convert(value, path + ("items",))
            elif key == "dependencies" and isinstance(value, dict):
                for name, dep in value.items():
                    if isinstance(dep, list):
                        out.setdefault("dependentRequired", {})[name] = dep
                    else:
                        out.setdefault("dependentSchemas", {})[name] = self.convert(
                            dep, path + ("dependentSchemas", name)
                        )
            elif key == "components" and not path and isinstance(value, dict):
                comp = dict(value)
                if isinstance(value.get("schemas"), dict):
                    comp["schemas"] = {
                        n: self.convert(s, ("components", "schemas", n))
                        for n, s in value["schemas"].items()
                    }
                out[key] = comp
            elif key == "$schema":
                continue  # we always validate as 2020-12
            else:
                out[key] = value
        # Tuple-form items: additionalItems becomes items.
        if isinstance(node.get("items"), list):
            out.pop("items", None)
            if "additionalItems" in out:
                out["items"] = self.convert(node["additionalItems"], path + ("items",))
                del out["additionalItems"]
        # Draft-4 boolean exclusive bounds (OpenAPI 3.0).
        for ex, plain in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
            flag = out.get(ex)
            if isinstance(flag, bool):
                if flag and plain in out:
                    out[ex] = out.pop(plain)
                else:
                    del out[ex]
        if "$ref" in out and isinstance(out["$ref"], str):
            self.refs.append((path, out["$ref"]))
        if "$dynamicRef" in out and isinstance(out["$dynamicRef"], str):
            self.refs.append((path, out["$dynamicRef"]))
        for key in ("$anchor", "$dynamicAnchor"):
            if isinstance(out.get(key), str):
                self.anchors.setdefault(out[key], path)
        types = out.get("type")
        if types == []:
            raise _unsat(path + ("type",), "type is an empty list, so no value can match")
        # OpenAPI 3.0 nullable: adds "null" to the type.  A bare $ref/allOf with
        # nullable has no type to extend, so it becomes anyOf [that, null].
        if out.pop("nullable", False) is True:
            if isinstance(types, str):
                out["type"] = [types, "null"]
            elif isinstance(types, list):
                if "null" not in types:
                    out["type"] = [*types, "null"]
            elif any(k in out for k in ("$ref", "allOf", "anyOf", "oneOf")):
                # Re-home the node one level down so paths stay honest.
                inner = self._rehome(out, path, path + ("anyOf", 0))
                out = {"anyOf": [inner, {"type": "null"}]}
                self.nodes[path + ("anyOf", 1)] = out["anyOf"][1]
        self.nodes[path] = out
        return out

    def _rehome(self, out: dict, old: Path, new: Path) -> dict:
        """Move the index entries of ``out``'s subtree from ``old`` to ``new``."""
        n = len(old)
        for p in [p for p in self.nodes if p[:n] == old and len(p) > n]:
            self.nodes[new + p[n:]] = self.nodes.pop(p)
        self.refs = [(new + p[n:] if p[:n] == old else p, r) for p, r in self.refs]
        self.anchors = {a: (new + p[n:] if p[:n] == old else p) for a, p in self.anchors.items()}
        self.nodes[new] = out
        return out

