"""The exit report for CI: one JUnit test case per request that failed.

A request fails when the mock refused it as invalid (a 4xx for a served
operation before any source answered: not an error a fixture, a recording,
the upstream or ``Prefer`` gave) or, under
``--unmatched error``, matched no fixture. Written at shutdown as JUnit XML
(``--report FILE``) and as JSON beside it (``FILE`` with ``.json``), so a CI
job fails on its client's contract violations.
"""

from __future__ import annotations

import json
import os
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any


def failed(entry: dict[str, Any]) -> str | None:
    """Why this journal entry is a failed case, or None."""
    if entry.get("source") == "unmatched":
        return "unmatched"
    status = entry.get("status") or 0
    # Refused by the mock itself: no source (fixture, recording, upstream, Prefer) was chosen.
    if 400 <= status < 500 and entry.get("source") is None and entry.get("spec"):
        return "invalid_request"
    return None


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


def write_report(path: Path, entries: list[dict[str, Any]]) -> dict[str, Any]:
    cases = []
    for number, entry in enumerate(entries, 1):
        reason = failed(entry)
        cases.append((number, entry, reason))
    failures = [c for c in cases if c[2]]
    suite = ET.Element("testsuite", name="mockserver", tests=str(len(cases)), failures=str(len(failures)),
                       errors="0", skipped="0")
    for number, entry, reason in cases:
        name = f"#{number} {entry.get('method')} {entry.get('path')}"
        case = ET.SubElement(suite, "testcase", classname=f"mockserver.{entry.get('spec') or 'unknown'}",
                             name=name, time=f"{(entry.get('duration_ms') or 0) / 1000:.3f}")
        if reason:
            error = entry.get("error") or {}
            failure = ET.SubElement(case, "failure", type=reason,
                                    message=str(error.get("message") or reason))
            failure.text = json.dumps({"session": entry.get("session"), "error": error,
                                       "near_misses": entry.get("near_misses"), "body": entry.get("body")},
                                      indent=2, default=str)
    tree = ET.ElementTree(ET.Element("testsuites"))
    tree.getroot().append(suite)
    _write_atomic(path, ET.tostring(tree.getroot(), encoding="utf-8", xml_declaration=True))
    summary = {"requests": len(cases), "failures": len(failures),
               "failed": [{"number": n, "reason": r, **e} for n, e, r in failures]}
    _write_atomic(path.with_suffix(".json"), json.dumps(summary, indent=2, default=str).encode())
    return summary
