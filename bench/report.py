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


def workers_table(cells: list[dict]) -> str:
    """ark row at the concurrencies the --workers 2 servers were measured at: 1 vs 2 workers."""
    by_key = {(c["row"], c["concurrency"], c["server"]): c for c in cells}
    rows = []
    for conc in sorted({c["concurrency"] for c in cells if c["server"] == "mock w2"}):
        get = lambda server, metric: (by_key.get(("ark", conc, server)) or {}).get(metric)
        rows.append([str(conc), fmt(get("mock", "rps"), 9), fmt(get("mock w2", "rps"), 9),
                     fmt_ratio(ratio(get("mock w2", "rps"), get("mock", "rps")), 6),
                     fmt(get("mock", "p99_ms"), 7, 2), fmt(get("mock w2", "p99_ms"), 7, 2),
                     fmt(get("reference", "rps"), 9), fmt(get("reference w2", "rps"), 9),
                     fmt_ratio(ratio(get("mock w2", "rps"), get("reference w2", "rps")), 6)])
    return table(["c", "mock req/s", "mock w2 req/s", "w2/w1", "mock p99", "mock w2 p99",
                  "ref req/s", "ref w2 req/s", "mock w2/ref w2"], rows)


def static_table(static: dict, cells: list[dict]) -> str:
    """The issue's fixed figures beside the mock's measured ark row (req/s and p99)."""
    by_key = {(c["row"], c["concurrency"], c["server"]): c for c in cells}
    rows = []
    for ref in static["cells"]:
        conc = ref["concurrency"]
        mine = lambda server, metric: (by_key.get(("ark", conc, server)) or {}).get(metric)
        rows.append([str(conc), fmt(ref["rps"], 9, 0), fmt(ref["p99_ms"], 7, 0),
                     fmt(mine("mock", "rps"), 9), fmt(mine("mock", "p99_ms"), 7, 2),
                     fmt(mine("mock w2", "rps"), 9), fmt(mine("mock w2", "p99_ms"), 7, 2)])
    return table(["c", f"{static['name']} req/s", "its p99 ms", "mock req/s", "mock p99",
                  "mock w2 req/s", "mock w2 p99"], rows)


def streams_scenario_table(cells: list[dict]) -> str:
    slash = lambda c, *keys: "/".join(f"{c[k]:.1f}" for k in keys)
    opened = lambda c: (f'{c["active_streams_min"]}-{c["active_streams_max"]} ({c["active_streams_polls"]})'
                        if c["active_streams_polls"] else "no answer" if c.get("server", "mock") == "mock" else "-")
    rows = [[c.get("server", "mock"), str(c["workers"]), str(c["streams"]), opened(c),
             str(c["streams_measured"]), f'{c["non_2xx"]}/{c["incomplete"]}/{c["errors"]}',
             slash(c, "ttfb_p50_ms", "ttfb_p99_ms"), slash(c, "ttft_p50_ms", "ttft_p99_ms"),
             slash(c, "gap_p1_ms", "gap_p50_ms", "gap_p99_ms", "gap_max_ms"),
             "yes" if c["gap_p99_within_10pct"] else "NO",
             f'{c["client_procs"]}: {"/".join(f"{p:.0f}" for p in c["client_cpu_pct"])} %, '
             f'lag p99 {c["client_loop_lag_p99_ms"]:.1f} ms'] for c in cells]
    return table(["server", "workers", "streams", "open (polls)", "measured", "non2xx/incompl/err",
                  "TTFB p50/p99 ms", "TTFT p50/p99 ms", "gap p1/p50/p99/max ms", "gap p99 within 10%",
                  "client procs: CPU, loop lag"], rows)


def soak_lines(soak: dict) -> list[str]:
    if "skipped" in soak:
        return [f"soak skipped: {soak['skipped']}"]
    mib = lambda kib: f"{kib / 1024:.1f}"
    samples = soak["samples"]
    step = max(1, len(samples) // 12)
    curve = [s for s in samples[::step]]
    if curve[-1] is not samples[-1]:
        curve.append(samples[-1])
    bound = ("" if soak["stopped_by_count"] else
             f"  STOPPED BY THE TIME BOUND ({soak['time_bound_s']:.0f} s) before {soak['requests_asked']:,}")
    lines = [
        f"requests {soak['requests']:,} (asked {soak['requests_asked']:,}) in {soak['elapsed_s']:.0f} s "
        f"({soak['rps']:,.0f} req/s, c={soak['concurrency']}, {soak['workers']} worker(s)); "
        f"with thread_id {soak['threaded_sent']:,}; non-2xx {soak['non_2xx']}, sock err {soak['socket_errors']}"
        + bound,
        f"threads stored at the end: {soak['threads_stored']} (bound --max-threads {soak['max_threads']}, "
        f"ids drawn from {soak['ids']:,}), {soak['thread_messages_stored']} messages"
        + ("" if soak["threads_stored"] == soak["max_threads"] else
           "  (bound not reached: too few requests to exercise eviction; ~125,000 are needed)"
           if (soak["threads_stored"] or 0) < soak["max_threads"] else "  OVER THE BOUND"),
        f"RSS MiB: start {mib(soak['rss_start_kib'])}, after warm-up ({soak['warmup_requests']:,} req) "
        f"{mib(soak['rss_after_warmup_kib'])}, max {mib(soak['rss_max_kib'])}, end {mib(soak['rss_end_kib'])}"
        f"  -> end - warm-up {soak['rss_growth_after_warmup_kib'] / 1024:+.1f} MiB: {soak['verdict']} "
        "(flat = within 15 % or 20 MiB)",
        "curve (s: MiB): " + ", ".join(f"{s['t_s']:.0f}: {mib(s['rss_kib'])}" for s in curve),
        f"open fds {soak['open_fds_start']} -> {soak['open_fds_end']}, "
        f"asyncio tasks {soak['asyncio_tasks_start']} -> {soak['asyncio_tasks_end']}",
    ]
    return lines
