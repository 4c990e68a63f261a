"""The ``kifu`` command end to end: ``db upgrade``/``db status`` and a real ``kifu serve``."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg
import pytest

from kifu.db import runner
from kifu.db.files import discover, discover_repeatables


def _kifu(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kifu", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_db_upgrade_then_nothing_to_do_then_status(empty_db: str) -> None:
    env = {"DATABASE_URL": empty_db}
    first = _kifu("db", "upgrade", env=env)
    assert first.returncode == 0, first.stderr
    assert "applied  001_init.sql" in first.stdout
    assert "applied  repeatable/ledger_rollups.sql" in first.stdout
    n, r = len(discover()), len(discover_repeatables())
    assert f"done: 0 adopted, {n} applied, {r} repeatable(s) applied" in first.stdout
    second = _kifu("db", "upgrade", env=env)
    assert second.returncode == 0
    assert "nothing to apply" in second.stdout
    status = _kifu("db", "status", env=env)
    assert status.returncode == 0
    assert "022_create_runs_and_summary_packs.sql" in status.stdout
    assert "repeatable/ledger_rollups.sql" in status.stdout
    assert "pending" not in status.stdout


def test_db_status_lists_a_changed_repeatable_and_upgrade_reapplies_it(empty_db: str) -> None:
    env = {"DATABASE_URL": empty_db}
    assert _kifu("db", "upgrade", env=env).returncode == 0
    with psycopg.connect(empty_db, autocommit=True) as conn:
        conn.execute(f"UPDATE {runner.REPEATABLE_TABLE} SET sha256 = repeat('0', 64)")
    status = _kifu("db", "status", env=env)
    assert status.returncode == 0, "a changed repeatable is not an error"
    line = next(x for x in status.stdout.splitlines() if "repeatable/ledger_rollups.sql" in x)
    assert "changed" in line
    upgrade = _kifu("db", "upgrade", env=env)
    assert upgrade.returncode == 0, upgrade.stderr
    assert "applied  repeatable/ledger_rollups.sql" in upgrade.stdout
    r = len(discover_repeatables())
    assert f"done: 0 adopted, 0 applied, {r} repeatable(s) applied" in upgrade.stdout
    line = next(
        x
        for x in _kifu("db", "status", env=env).stdout.splitlines()
        if "repeatable/ledger_rollups.sql" in x
    )
    assert "applied" in line


def test_db_status_flags_a_changed_file_and_exits_nonzero(empty_db: str) -> None:
    env = {"DATABASE_URL": empty_db}
    assert _kifu("db", "upgrade", env=env).returncode == 0
    with psycopg.connect(empty_db, autocommit=True) as conn:
        conn.execute(
            f"UPDATE {runner.BOOKKEEPING_TABLE} SET sha256 = repeat('0', 64)"
            " WHERE filename = '006_review_notes.sql'"
        )
    status = _kifu("db", "status", env=env)
    assert status.returncode == 1
    assert "006_review_notes.sql" in status.stdout and "changed" in status.stdout
    upgrade = _kifu("db", "upgrade", env=env)
    assert upgrade.returncode == 1
    assert "006_review_notes.sql was changed after it was applied" in upgrade.stderr


def test_db_upgrade_refusal_exits_nonzero_with_message(empty_db: str) -> None:
    with psycopg.connect(empty_db, autocommit=True) as conn:
        conn.execute("CREATE TABLE users (id serial PRIMARY KEY)")
    result = _kifu("db", "upgrade", env={"DATABASE_URL": empty_db})
    assert result.returncode == 1
    assert "001_init.sql is only partly applied" in result.stderr
    with psycopg.connect(empty_db) as conn:
        assert conn.execute("SELECT to_regclass(%s)", (runner.BOOKKEEPING_TABLE,)).fetchone() == (
            None,
        )


def test_unreachable_database_is_a_clear_error() -> None:
    url = "postgresql://nobody:x@127.0.0.1:1/nothing?connect_timeout=2"
    result = _kifu("db", "upgrade", env={"DATABASE_URL": url})
    assert result.returncode == 1
    assert "cannot connect to the database" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_requires_secrets_with_database_url(empty_db: str) -> None:
    result = _kifu("serve", env={"DATABASE_URL": empty_db, "JWT_SECRET": "", "KIFU_ENC_KEY": ""})
    assert result.returncode == 1
    assert "JWT_SECRET, KIFU_ENC_KEY must be set" in result.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_healthy(proc: subprocess.Popen[str], base: str) -> float:
    """Wait until ``kifu serve`` answers /health (failing if it exits first); the deadline."""
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return deadline
        except httpx.HTTPError:
            pass
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        assert time.monotonic() < deadline, f"kifu serve ({proc.args}) did not become healthy"
        time.sleep(0.2)


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_serve_embedded_answers_and_stops_cleanly(tmp_path: Path, stop_signal: int) -> None:
    home = tmp_path / "home"
    port = _free_port()
    env = {**os.environ, "KIFU_HOME": str(home), "PORT": str(port)}
    env.pop("DATABASE_URL", None)
    env.pop("JWT_SECRET", None)
    env.pop("KIFU_ENC_KEY", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "kifu", "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(proc, base)
        assert httpx.get(f"{base}/health").json() == {"status": "healthy"}
        assert httpx.get(f"{base}/docs").status_code == 200
        missing = httpx.get(f"{base}/nope")
        assert missing.status_code == 404
        assert missing.json()["code"] == "NOT_FOUND"
        assert (home / "secrets.json").stat().st_mode & 0o077 == 0
    finally:
        proc.send_signal(stop_signal)
        proc.wait(timeout=60)
    pidfile = home / "postgres" / "postmaster.pid"
    assert not pidfile.exists(), "the embedded PostgreSQL was left running"
    assert proc.returncode in (0, -stop_signal, 128 + stop_signal, 130)
    # kifu's access log (kit.accesslog), written when the worker stopped; not uvicorn's too.
    out = proc.stdout.read() if proc.stdout else ""
    expected = f'"GET /nope HTTP/1.1" 404 .*ms {missing.headers["x-request-id"]}$'
    assert re.search(expected, out, re.M), out
    assert '- "GET /nope HTTP/1.1" 404' not in out


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return out


def test_serve_workers_starts_that_many_processes(db: str) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": db,
        "JWT_SECRET": "x" * 40,
        "KIFU_ENC_KEY": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
        "PORT": str(port),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "kifu", "serve", "--workers", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = _wait_healthy(proc, base)
        # uvicorn's supervisor and two spawned workers (its resource tracker is not a worker).
        while time.monotonic() < deadline:
            workers = [
                p
                for p in _children(proc.pid)
                if "multiprocessing.spawn" in (Path("/proc") / str(p) / "cmdline").read_text()
                and "resource_tracker" not in (Path("/proc") / str(p) / "cmdline").read_text()
            ]
            if len(workers) == 2:
                break
            time.sleep(0.2)
        assert len(workers) == 2
        asked = [httpx.get(f"{base}/health").headers["x-request-id"] for _ in range(20)]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    assert proc.returncode in (0, -signal.SIGTERM, 128 + signal.SIGTERM)
    assert all(not (Path("/proc") / str(p)).exists() for p in workers)
    # Each worker wrote its access lines when it stopped: every request has its whole line.
    out = proc.stdout.read() if proc.stdout else ""
    for request_id in asked:
        assert re.search(f'"GET /health HTTP/1.1" 200 .*ms {request_id}$', out, re.M), out


def test_serve_rejects_zero_workers() -> None:
    result = _kifu("serve", "--workers", "0", env={"DATABASE_URL": "postgresql://unused"})
    assert result.returncode != 0
    assert "workers" in (result.stdout + result.stderr)
