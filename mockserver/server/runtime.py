"""Tuning of a serving process: the cyclic garbage collector.

Why: paced streams are a latency contract (the next chunk 50 ms after this
one, say), and CPython's collector stops the event loop while it runs. With
the default thresholds (700, 10, 10) a mock holding 1,000 paced streams ran a
young collection every ~20 ms, and the collections that also walked the
older generations (the specs, compiled schemas, Faker's data and the
in-flight streams) took 20 to 55 ms each: every stream due in that window
came late, and the p99 gap between chunks was 80 to 130 ms instead of 50.

What: everything built at start-up (specs, validators, fixtures, Faker)
lives until exit, so it is moved out of the collector's sight with
:func:`gc.freeze`, and the young generation is allowed to grow to
``GEN0_THRESHOLD`` objects before it is collected (fewer, still short,
collections; a few MB of cyclic garbage lives a little longer). Measured
the same way afterwards: young collections a few times per 10 s, the p99
gap 51-54 ms with one worker (``bench/README.md``, "The streams scenario").

Only ``mockserver serve`` applies it, to its own process or to each worker:
in-process uses (the pytest plugin) leave the host process's collector alone.
"""

from __future__ import annotations

import gc

GEN0_THRESHOLD = 50_000
GEN1_THRESHOLD = 20
GEN2_THRESHOLD = 20


def tune_gc() -> None:
    """Freeze what start-up built and raise the collection thresholds (call once, after building the app)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GEN0_THRESHOLD, GEN1_THRESHOLD, GEN2_THRESHOLD)
