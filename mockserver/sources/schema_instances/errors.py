"""Where in a schema no instance can exist: :class:`UnsatisfiableSchema` and the path format it uses."""

from __future__ import annotations

import json
import re
from typing import Any, Iterable


Path = tuple  # tuple[str | int, ...]; a location inside the (normalised) schema

_IDENT = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$-]*$")


def _fmt_path(path: Iterable[Any]) -> str:
    """Render a path as ``properties.city.maxLength`` / ``allOf[1].type``.

    The root itself is ``#`` so an error about the whole schema still has a
    non-empty, recognisable location.
    """
    out: list[str] = []
    for tok in path:
        if isinstance(tok, int):
            out.append(f"[{tok}]")
        elif _IDENT.match(tok):
            out.append(("." if out else "") + tok)
        else:
            out.append("[" + json.dumps(tok) + "]")
    return "".join(out) or "#"


class UnsatisfiableSchema(ValueError):
    """Raised when no instance can satisfy the schema.

    ``path`` is where inside the schema the contradiction sits (dotted and
    bracketed, e.g. ``properties.city.maxLength`` or ``allOf[1].type``;
    ``#`` is the root) and ``reason`` a sentence a spec author can act on.
    """

    path: str
    reason: str

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason
        # Soft failures come from a bounded search (patterns, oneOf, not,
        # uniqueness); another seed may succeed, so generate() retries them.
        self.soft = False

    def __reduce__(self):  # keep pickling (multiprocessing, pytest-xdist) working
        return (type(self), (self.path, self.reason))


def _unsat(path: Path, reason: str, *, soft: bool = False) -> UnsatisfiableSchema:
    err = UnsatisfiableSchema(_fmt_path(path), reason)
    err.soft = soft
    return err



class GenerationBudgetExceeded(UnsatisfiableSchema):
    """An instance may exist, but not within the generator's budgets (size, time, nesting).

    A subclass so that every caller that handles :class:`UnsatisfiableSchema`
    handles this too, and the request checks can word it differently: the
    schema is not wrong, it asks for more than the mock will make.
    """


def _over_budget(path: Path, reason: str) -> GenerationBudgetExceeded:
    return GenerationBudgetExceeded(_fmt_path(path), reason)
