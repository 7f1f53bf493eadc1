"""Who else used the CPUs while the bench ran.

On a small shared machine other work (a test suite, a browser) distorts every
number, the ratios included, and the load average cannot tell it from the
bench's own load. So a thread reads /proc/*/stat about once a second, counts
the CPU time of every process that is not a descendant of the bench (the
servers, wrk and the clients all are), and books it to the current phase.
Processes that start and end between two samples, and the last second of one
that exits, are missed: the figure is a lower bound.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter

TICK = os.sysconf("SC_CLK_TCK")


def snapshot() -> dict[int, tuple[int, int, str]]:
    """pid -> (ppid, utime+stime in ticks, command name) for every process."""
    out: dict[int, tuple[int, int, str]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        comm = stat[stat.find("(") + 1:stat.rfind(")")]
        fields = stat.rpartition(")")[2].split()
        # after the ')': state ppid ... utime is field 14, stime 15 of the whole line
        out[int(entry)] = (int(fields[1]), int(fields[11]) + int(fields[12]), comm)
    return out


def descendants(root: int, snap: dict[int, tuple[int, int, str]]) -> set[int]:
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in snap.items():
        children.setdefault(ppid, []).append(pid)
    found, frontier = {root}, [root]
    while frontier:
        for child in children.get(frontier.pop(), []):
            found.add(child)
            frontier.append(child)
    return found


class ForeignCpu(threading.Thread):
    """CPU seconds used by processes outside the bench's process tree, per phase."""

    def __init__(self, every_s: float = 1.0) -> None:
        super().__init__(daemon=True)
        self.every_s = every_s
        self.root = os.getpid()
        self.halt = threading.Event()
        self.lock = threading.Lock()
        self.phase = "start"
        self.phase_began = time.perf_counter()
        self.phases: dict[str, dict] = {}
        self.prev: dict[int, int] = {}
        self.first = True

    def set_phase(self, name: str) -> None:
        self._sample()
        with self.lock:
            self._close_phase()
            self.phase, self.phase_began = name, time.perf_counter()

    def _book(self) -> dict:
        return self.phases.setdefault(self.phase, {"wall_s": 0.0, "ticks": 0, "by_command": Counter()})

    def _close_phase(self) -> None:
        self._book()["wall_s"] += time.perf_counter() - self.phase_began

    def _sample(self) -> None:
        snap = snapshot()
        ours = descendants(self.root, snap)
        with self.lock:
            book = self._book()
            current = {}
            for pid, (_, ticks, comm) in snap.items():
                current[pid] = ticks
                if pid in ours or self.first:
                    continue
                delta = ticks - self.prev.get(pid, 0)  # a new process: all its time is since the last sample
                if delta > 0:
                    book["ticks"] += delta
                    book["by_command"][comm] += delta
            self.prev, self.first = current, False

    def run(self) -> None:
        self._sample()
        while not self.halt.wait(self.every_s):
            self._sample()

    def stop(self) -> dict[str, dict]:
        """Stop sampling; per phase: wall seconds, foreign CPU seconds, average cores, top commands."""
        self.halt.set()
        self.join()
        self._sample()
        with self.lock:
            self._close_phase()
            self.phase_began = time.perf_counter()
        report = {}
        for name, book in self.phases.items():
            cpu_s = book["ticks"] / TICK
            report[name] = {
                "wall_s": round(book["wall_s"], 1), "foreign_cpu_s": round(cpu_s, 1),
                "foreign_cores": round(cpu_s / book["wall_s"], 2) if book["wall_s"] else 0.0,
                "top": [[comm, round(ticks / TICK, 1)] for comm, ticks in book["by_command"].most_common(4)],
            }
        return report
