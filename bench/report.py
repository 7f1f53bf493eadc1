"""Turn bench results into ratios and plain-text tables.

Kept apart from run.py so that what is measured and how it is shown can change
independently (and the JSON stays the source of truth for both).
"""

from __future__ import annotations

from typing import Any


def ratio(mine: float | None, theirs: float | None) -> float | None:
    if mine is None or theirs is None or theirs == 0:
        return None
    return mine / theirs


def fmt(value: Any, width: int, digits: int = 1) -> str:
    if value is None:
        return "-".rjust(width)
    if isinstance(value, float):
        return f"{value:,.{digits}f}".rjust(width)
    return str(value).rjust(width)


def fmt_ratio(value: float | None, width: int = 9) -> str:
    return fmt(None if value is None else f"{value:.2f}x", width)


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = lambda cells: "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def request_ratios(cells: list[dict], others: list[str]) -> list[dict]:
    """For every (row, concurrency): mock ÷ other for req/s, p50 and p99."""
    by_key = {(c["row"], c["concurrency"], c["server"]): c for c in cells}
    out = []
    for (row, conc, server), mock in by_key.items():
        if server != "mock":
            continue
        entry: dict[str, Any] = {"row": row, "concurrency": conc}
        for other in others:
            them = by_key.get((row, conc, other))
            for metric in ("rps", "p50_ms", "p99_ms"):
                entry[f"{metric}_mock_over_{other}"] = ratio(mock[metric], them and them[metric])
        out.append(entry)
    return out


def stream_ratios(cells: list[dict], others: list[str]) -> list[dict]:
    by_key = {(c["concurrency"], c["server"]): c for c in cells}
    out = []
    for (conc, server), mock in by_key.items():
        if server != "mock":
            continue
        entry: dict[str, Any] = {"concurrency": conc}
        for other in others:
            them = by_key.get((conc, other))
            for metric in ("chunks_per_s", "ttfb_p50_ms", "done_p50_ms"):
                entry[f"{metric}_mock_over_{other}"] = ratio(mock[metric], them and them[metric])
        out.append(entry)
    return out


def request_table(cells: list[dict]) -> str:
    rows = [[c["row"], str(c["concurrency"]), c["server"], fmt(c["rps"], 9), fmt(c["p50_ms"], 8, 2),
             fmt(c["p99_ms"], 8, 2), str(c["non_2xx"]), str(c["socket_errors"])] for c in cells]
    return table(["row", "c", "server", "req/s", "p50 ms", "p99 ms", "non-2xx", "sock err"], rows)


def stream_table(cells: list[dict]) -> str:
    rows = [[str(c["concurrency"]), c["server"], fmt(c["streams_per_s"], 8), fmt(c["chunks_per_s"], 9),
             fmt(c["chunks_per_stream"], 6), fmt(c["ttfb_p50_ms"], 7, 2), fmt(c["ttfb_p99_ms"], 7, 2),
             fmt(c["done_p50_ms"], 7, 2), fmt(c["done_p99_ms"], 7, 2),
             f'{c["non_2xx"]}/{c["incomplete"]}/{c["errors"]}'] for c in cells]
    return table(["c", "server", "streams/s", "chunks/s", "chunks", "TTFB p50", "TTFB p99",
                  "DONE p50", "DONE p99", "non2xx/incompl/err"], rows)


def request_ratio_table(ratios: list[dict], others: list[str]) -> str:
    headers = ["row", "c"]
    for other in others:
        headers += [f"req/s m/{other[:5]}", f"p50 m/{other[:5]}", f"p99 m/{other[:5]}"]
    rows = []
    for r in ratios:
        cells = [r["row"], str(r["concurrency"])]
        for other in others:
            cells += [fmt_ratio(r.get(f"{m}_mock_over_{other}")) for m in ("rps", "p50_ms", "p99_ms")]
        rows.append(cells)
    return table(headers, rows)


def stream_ratio_table(ratios: list[dict], others: list[str]) -> str:
    headers = ["c"]
    for other in others:
        headers += [f"chunks/s m/{other[:5]}", f"TTFB m/{other[:5]}", f"DONE m/{other[:5]}"]
    rows = []
    for r in ratios:
        cells = [str(r["concurrency"])]
        for other in others:
            cells += [fmt_ratio(r.get(f"{m}_mock_over_{other}"))
                      for m in ("chunks_per_s", "ttfb_p50_ms", "done_p50_ms")]
        rows.append(cells)
    return table(headers, rows)
