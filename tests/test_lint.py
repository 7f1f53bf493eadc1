"""`mockserver lint` on the verbatim specs, the overlay applier, and the start-up report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mockserver.specs.overlay import OverlayError, apply_overlay, load_overlay, parse_overlay

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "specs"


def lint(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mockserver", "lint", *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)


def findings(*args: str) -> tuple[int, list[dict]]:
    done = lint("--json", *args)
    return done.returncode, json.loads(done.stdout)[0]["findings"]


def by_check(items: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for f in items:
        out.setdefault(f["check"], []).append(f)
    return out


def test_specs_are_verbatim_copies():
    shared = ROOT.parent / "shared" / "specs"
    if not shared.is_dir():
        pytest.skip("no ../shared/specs beside this checkout")
    for name in ("ark.yaml", "multimedia.yaml"):
        assert (SPECS / name).read_bytes() == (shared / name).read_bytes()


def test_multimedia_defects_are_all_found_and_fixed():
    code, items = findings("specs/multimedia.yaml")
    assert code == 0
    checks = by_check([f for f in items if f["severity"] == "defect"])
    ambiguous = {f["where"]: f["fixed_by"] for f in checks["oneof-ambiguous"]}
    assert ambiguous == {
        "$.components.schemas.ChatCompletionRequest.properties.messages.items.oneOf": ["MM-1"],
        "$.paths['/chat/completions'].post.responses['200'].content['application/json'].schema.oneOf": ["MM-6"],
    }
    messages = " ".join(f["message"] for f in checks["oneof-ambiguous"])
    assert "SystemMessage and AssistantMessage both accept" in messages
    assert "ChatCompletionResponse and ChatCompletionChunk both accept" in messages
    assert [f["fixed_by"] for f in checks["tag-enum-mismatch"]] == [["MM-1"]]
    assert checks["tag-enum-mismatch"][0]["where"] == "$.components.schemas.AssistantMessage.properties.role.enum"
    assert [f["fixed_by"] for f in checks["content-required-with-tool-calls"]] == [["MM-2"]]
    assert [f["fixed_by"] for f in checks["content-not-nullable"]] == [["MM-3"]]
    assert [(f["where"], f["fixed_by"]) for f in checks["sdk-null-field"]] == [
        ("$.components.schemas.AssistantMessage.properties.audio", ["MM-9"])]
    arrays = {f["where"]: f["fixed_by"] for f in checks["tool-calls-not-array"]}
    assert arrays == {
        "$.components.schemas.AssistantMessage.properties.tool_calls": ["MM-4"],
        "$.components.schemas.ResponseMessage.properties.tool_calls": ["MM-5"],
    }
    assert [f["fixed_by"] for f in checks["stream-without-sse"]] == [["MM-7"]]
    assert [f["fixed_by"] for f in checks["no-error-response"]] == [["MM-8"]]
    assert [(f["where"], f["fixed_by"]) for f in checks["messages-may-be-empty"]] == [
        ("$.components.schemas.ChatCompletionRequest.properties.messages", ["MM-10"])]
    assert all(f["fixed_by"] for f in items if f["severity"] == "defect")


def test_ark_defects():
    code, items = findings("specs/ark.yaml")
    assert code == 0
    checks = by_check(items)
    assert [f["fixed_by"] for f in checks["servers-path"]] == [["ARK-1"]]
    assert [f["fixed_by"] for f in checks["sse-without-chunk-schema"]] == [["ARK-2"]]
    assert [f["fixed_by"] for f in checks["no-error-response"]] == [["ARK-3"]]
    assert [f["fixed_by"] for f in checks["messages-may-be-empty"]] == [["ARK-4"]]


def test_no_errata_leaves_defects_unfixed_and_fails():
    done = lint("--no-errata", "specs/multimedia.yaml")
    assert done.returncode == 1
    assert done.stdout.count("[UNFIXED]") == 11
    assert "0 fixed" in done.stdout


def test_text_report_names_path_defect_and_erratum():
    done = lint("specs/multimedia.yaml")
    assert done.returncode == 0
    assert "[fixed by MM-4] tool-calls-not-array at $.components.schemas.AssistantMessage.properties.tool_calls" in done.stdout
    assert "[note] unused-schema at $.components.schemas.Delta" in done.stdout


def test_lint_of_a_missing_file_is_a_clear_error():
    done = lint("specs/nope.yaml")
    assert done.returncode == 2
    assert "nope.yaml" in done.stderr and "Traceback" not in done.stderr


def test_overlay_semantics():
    doc = {"a": {"b": 1, "list": [1]}, "arr": [1, 2, 3], "gone": {"x": 1}}
    overlay = parse_overlay({
        "overlay": "1.0.0", "info": {"title": "t", "version": "1"},
        "actions": [
            {"target": "$.a", "update": {"c": 2, "list": [9]}},
            {"target": "$.arr", "update": 4},
            {"target": "$.gone", "remove": True},
            {"target": "$.arr[?@ > 2]", "remove": True},
            {"target": "$.missing", "update": {"x": 1}},
        ],
    })
    out, result = apply_overlay(doc, overlay)
    assert out == {"a": {"b": 1, "c": 2, "list": [9]}, "arr": [1, 2]}
    assert doc["arr"] == [1, 2, 3], "the input document is not modified"
    assert [a.matched for a in result.applied] == [1, 1, 1, 2, 0]
    assert [a.target for a in result.unmatched] == ["$.missing"]


@pytest.mark.parametrize("doc,needle", [
    ({"overlay": "2.0.0", "info": {"title": "t", "version": "1"}, "actions": [{"target": "$", "remove": True}]}, "1.0.x"),
    ({"overlay": "1.0.0", "info": {"title": "t"}, "actions": []}, "info"),
    ({"overlay": "1.0.0", "info": {"title": "t", "version": "1"}, "actions": [{"target": "$["}]}, "JSONPath"),
    ({"overlay": "1.0.0", "info": {"title": "t", "version": "1"}, "actions": [{"target": "$.a"}]}, "update"),
])
def test_bad_overlays_are_rejected_with_the_file(tmp_path, doc, needle):
    path = tmp_path / "bad.yaml"
    path.write_text(json.dumps(doc))
    with pytest.raises(OverlayError) as caught:
        load_overlay(path)
    assert str(path) in str(caught.value) and needle in str(caught.value)


def test_serve_reports_specs_and_errata_at_start_up(server):
    out = server.output()
    assert "spec ark:" in out and "errata: ARK-1, ARK-2, ARK-3, ARK-4" in out
    assert "spec multimedia:" in out and "errata: MM-1, MM-2, MM-3, MM-4, MM-5, MM-6, MM-7, MM-8, MM-9, MM-10" in out
    assert "POST /chat/completions" in out


def test_serve_without_errata_warns_about_each_defect(make_server):
    srv = make_server("--no-errata")
    out = srv.output()
    assert "errata: none" in out
    assert out.count("warning:") == 11 + 4
    assert "oneOf requires exactly one" in out


def test_serve_refuses_a_broken_overlay(make_server, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("overlay: 1.0.0\ninfo: {title: x, version: '1'}\nactions: [{target: '$.x'}]\n")
    srv = make_server("--overlay", str(bad), wait=False)
    assert srv.process.wait(30) == 2
    assert str(bad) in srv.output() and "Traceback" not in srv.output()
