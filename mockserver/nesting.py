"""How deep a parsed JSON value nests, measured without recursion.

Why a module of its own: a request body is parsed by orjson, which accepts
1,024 levels, but written back out (the journal, the thread store, the seed
derived from the request) by an encoder that stops at 254. A body between
the two would pass validation and fail on the way out, as a 500. So the
body is measured once, on the way in, against ``limits.MAX_JSON_DEPTH``,
and the journal uses the same measure for what it stores. The walk is
iterative: a hostile value cannot overflow the interpreter's stack.
"""

from __future__ import annotations

from typing import Any


def too_deep(value: Any, limit: int) -> tuple[bool, str | None]:
    """Whether ``value`` nests more than ``limit`` containers deep, and where.

    A scalar has depth 0, ``[]`` and ``{}`` depth 1, ``{"a": [1]}`` depth 2.
    The second item names the top-level key (or index) under which the
    limit is passed, for the error's ``param``; None if it is the top level.
    """
    if not isinstance(value, (dict, list)):
        return False, None
    stack: list[tuple[Any, int, str | None]] = [(value, 1, None)]
    while stack:
        node, depth, top = stack.pop()
        if depth > limit:
            return True, top
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, child in items:
            if isinstance(child, (dict, list)):
                stack.append((child, depth + 1, top if top is not None else str(key)))
    return False, None


def within(value: Any, limit: int) -> bool:
    """True if ``value`` (anything: a scalar too) nests at most ``limit`` levels."""
    return not too_deep(value, limit)[0]


def raw_within(raw: bytes, limit: int) -> bool:
    """A cheap sufficient test on the JSON text: fewer brackets than the limit cannot nest deeper.

    Why: almost every request body has a few dozen brackets at most; counting
    bytes in C spares those the walk over the parsed value.
    """
    return raw.count(b"[") + raw.count(b"{") <= limit
