"""The fixture registry while serving: matching order after a hot reload, ids
shared by two files, and the line a load error points at.

A real ``mockserver serve`` polls its ``--fixtures`` paths; each test edits a
directory of its own and polls the admin API until the change is seen (the
poll has a deadline; nothing here measures time).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from test_fixtures import poll, rewrite as write

ROOT = Path(__file__).resolve().parents[1]
GREETING = ROOT / "fixtures" / "examples" / "greeting.yaml"

A0 = """\
fixtures:
  - id: a0-1
    match: {last_user: "[a0-1]"}
    response: {content: "a0 one"}
  - id: a0-2
    match: {last_user: "[a0-2]"}
    response: {content: "a0 two"}
"""
ZZ = """\
fixtures:
  - id: zz-1
    match: {last_user: "[zz-1]"}
    response: {content: "zz one"}
"""


def listing(url: str) -> dict[str, Any]:
    return httpx.get(url + "/__admin/fixtures", timeout=30).json()


def order(url: str) -> list[str]:
    return [f["id"] for f in listing(url)["fixtures"]]


def test_the_order_after_a_hot_reload_is_a_fresh_starts(make_server, tmp_path):
    fx = tmp_path / "fx"
    (fx / "examples").mkdir(parents=True)
    (fx / "examples" / "greeting.yaml").write_text(GREETING.read_text())
    (fx / "zz.yaml").write_text(ZZ)
    running = make_server("--fixtures", str(fx))
    assert order(running.url) == ["greeting-exact", "greeting-any-case", "zz-1"]
    write(fx / "a0.yaml", A0)
    assert poll(lambda: "a0-1" in order(running.url)), order(running.url)
    fresh = make_server("--fixtures", str(fx))
    expected = ["a0-1", "a0-2", "greeting-exact", "greeting-any-case", "zz-1"]  # path order, then position
    assert order(fresh.url) == expected
    assert order(running.url) == expected
    # Removing a file (and adding it back) keeps the path order too.
    (fx / "a0.yaml").unlink()
    assert poll(lambda: "a0-1" not in order(running.url))
    write(fx / "a0.yaml", A0)
    assert poll(lambda: "a0-1" in order(running.url))
    assert order(running.url) == expected


DUP_A = """\
fixtures:
  - id: shared
    match: {last_user: "[shared]"}
    response: {content: "from a"}
"""
DUP_B = """\
fixtures:
  - id: b-own
    match: {last_user: "[b-own]"}
    response: {content: "from b"}
  - id: shared
    match: {last_user: "[shared]"}
    response: {content: "from b"}
"""


def test_an_id_used_by_two_files_rejects_the_later_one_until_the_clash_is_gone(make_server, tmp_path):
    fx = tmp_path / "fx"
    fx.mkdir()
    (fx / "a.yaml").write_text(DUP_A)
    (fx / "b.yaml").write_text(DUP_B)
    srv = make_server("--fixtures", str(fx))
    found = listing(srv.url)
    assert [f["id"] for f in found["fixtures"]] == ["shared"]
    (error,) = found["errors"]
    assert error["file"] == str(fx / "b.yaml") and error["line"] == 5
    assert f"fixture id 'shared' is already used by {fx / 'a.yaml'}:2" in error["reason"]
    # The clash goes away with the other file: the rejected one loads, untouched, as a fresh start would.
    (fx / "a.yaml").unlink()
    assert poll(lambda: order(srv.url) == ["b-own", "shared"]), listing(srv.url)
    assert listing(srv.url)["errors"] == []
    reply = httpx.post(srv.url + "/v1/chat/completions", timeout=30,
                       json={"model": "m", "messages": [{"role": "user", "content": "[shared]"}]})
    assert reply.json()["choices"][0]["message"]["content"] == "from b"


TYPO = """\
fixtures:
  - id: typo
    match: {last_user: "[typo]"}
    response:
      conten: "misspelled"
"""
TYPO_IN_MATCH = """\
fixtures:
  - id: typo-in-match
    match:
      last_user: "[typo]"

      modle: gpt-4o
"""
TYPO_AT_THE_TOP = """\
# a comment
fixtures: []
fixture:
  - id: x
"""


def test_a_load_error_points_at_the_offending_keys_own_line(make_server, tmp_path):
    fx = tmp_path / "fx"
    fx.mkdir()
    (fx / "typo.yaml").write_text(TYPO)
    (fx / "typo_in_match.yaml").write_text(TYPO_IN_MATCH)
    (fx / "typo_at_the_top.yaml").write_text(TYPO_AT_THE_TOP)
    srv = make_server("--fixtures", str(fx))
    errors = {Path(e["file"]).name: e for e in listing(srv.url)["errors"]}
    assert errors["typo.yaml"]["line"] == 5, errors["typo.yaml"]  # conten:, not response: (line 4)
    assert "'conten' was unexpected" in errors["typo.yaml"]["reason"]
    assert errors["typo_in_match.yaml"]["line"] == 6, errors["typo_in_match.yaml"]
    assert errors["typo_at_the_top.yaml"]["line"] == 3, errors["typo_at_the_top.yaml"]
    output = srv.output()
    assert f"rejected: {fx / 'typo.yaml'}:5: at fixtures/0/response: " in output
    assert output.count("'conten' was unexpected") == 1, output  # printed at start-up once, not logged again
