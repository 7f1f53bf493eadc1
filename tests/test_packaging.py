"""`pip install .` gives a package that serves both contracts from any directory."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import httpx

from conftest import free_port

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_ships_specs_errata_and_console_script(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path), str(ROOT)], check=True, timeout=300)
    wheel = next(tmp_path.glob("mockserver-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for name in ("ark.yaml", "multimedia.yaml", "ark.errata.yaml", "multimedia.errata.yaml"):
        assert f"mockserver/bundled_specs/{name}" in names
    # Every module and data file of the package is in the wheel (a package
    # missing from pyproject's list would only fail on a user's machine).
    source = ROOT / "mockserver"
    for path in source.rglob("*"):
        if path.suffix in (".py", ".yaml", ".json") and "__pycache__" not in path.parts:
            assert f"mockserver/{path.relative_to(source).as_posix()}" in names, path
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "mockserver = mockserver.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()

    # Install the wheel's files alone (dependencies come from this environment) and
    # serve from an unrelated directory: the bundled specs must be found inside the package.
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
                    str(wheel)], check=True, timeout=300)
    port = free_port()
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target)}
    proc = subprocess.Popen([sys.executable, "-m", "mockserver", "serve", "--port", str(port)],
                            cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        first = proc.stdout.readline()
        assert str(target / "mockserver" / "bundled_specs" / "ark.yaml") in first, first
        for _ in range(200):
            try:
                r = httpx.post(f"http://127.0.0.1:{port}/chat/completions", timeout=1,
                               json={"stream": False, "messages": [{"role": "user", "content": "hi"}]})
                break
            except httpx.HTTPError:
                if proc.poll() is not None:
                    raise AssertionError(proc.stdout.read())
                import time
                time.sleep(0.05)
        assert r.status_code == 200
        assert httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", timeout=5,
                          json={"model": "m", "messages": [{"role": "user", "content": "hi"}]}).status_code == 200
    finally:
        proc.terminate()
        proc.wait(10)
