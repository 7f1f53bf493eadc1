"""The served operation closest to a mistyped path, for the 404's "did you mean".

Why: a 404 that lists every served operation still leaves the reader to spot
``/v1/chat/completion`` against ``/v1/chat/completions``; naming the nearest
one (by edit distance of the path, the request's method preferred on a tie)
does it for them. Paths too far from every served one get no suggestion: a
guess that is not close is noise.
"""

from __future__ import annotations

from typing import Iterable


def distance(a: str, b: str, limit: int) -> int:
    """Levenshtein distance of ``a`` and ``b``, or ``limit + 1`` if it is more than ``limit``.

    Bounded because the path comes from the client: a path kilobytes long must
    not cost a full quadratic table per served operation. Lengths further apart
    than ``limit`` are answered at once, and a row whose best is past the
    limit ends the work.
    """
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        if min(current) > limit:
            return limit + 1
        previous = current
    return previous[-1]


def closest(method: str, path: str, operations: Iterable[tuple[str, str]]) -> tuple[str, str] | None:
    """The (method, path) of ``operations`` nearest ``path``, or None if none is close.

    Close: at most a third of the served path's length apart (and at least 3
    edits allowed), so a dropped letter or a wrong version segment is found and
    an unrelated path is not.
    """
    best: tuple[int, bool, str, str] | None = None
    for op_method, op_path in operations:
        limit = max(3, len(op_path) // 3)
        edits = distance(path, op_path, limit)
        if edits > limit:
            continue
        key = (edits, op_method != method, op_path, op_method)
        if best is None or key < best:
            best = key
    return None if best is None else (best[3], best[2])
