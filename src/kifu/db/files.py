"""The SQL files shipped with kifu: versioned migrations and repeatable files.

Versioned migrations (``migrations/NNN_name.sql``) apply once each, in (number, filename) order:
the reference ships two files numbered 007 and two numbered 013, and numbers 016–019 do not
exist, so the number alone is not a key. Files 001–022 are the reference system's, byte for byte
in effect; kifu's own changes start at 023.

Repeatable files (``repeatable/name.sql``) hold definitions that are replaced rather than
migrated (functions, triggers): idempotent SQL that the runner applies again whenever the file's
checksum changes, after every versioned migration, in filename order.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
REPEATABLE_DIR = Path(__file__).with_name("repeatable")
LAST_REFERENCE_NUMBER = 22
_NAME = re.compile(r"^(\d{3,})_[a-z0-9_]+\.sql$")
# No leading number: a repeatable has no place in the versioned sequence.
_REPEATABLE_NAME = re.compile(r"^[a-z][a-z0-9_]*\.sql$")


class MigrationFileError(RuntimeError):
    pass


@dataclass(frozen=True)
class MigrationFile:
    filename: str
    number: int
    raw: bytes

    @property
    def sql(self) -> str:
        return self.raw.decode("utf-8")

    @property
    def sha256(self) -> str:
        """Of the file's bytes as shipped, so any edit (even of line endings) is seen."""
        return hashlib.sha256(self.raw).hexdigest()

    @property
    def is_reference(self) -> bool:
        """True for the reference system's files (001–022), which kifu can adopt."""
        return self.number <= LAST_REFERENCE_NUMBER


def discover(directory: Path = MIGRATIONS_DIR) -> list[MigrationFile]:
    """All ``NNN_name.sql`` files of ``directory`` in apply order; other names are an error."""
    found = []
    for path in directory.iterdir():
        if path.suffix != ".sql":
            continue
        match = _NAME.fullmatch(path.name)
        if not match:
            raise MigrationFileError(
                f"migration file name {path.name!r} does not match NNN_lower_snake_name.sql"
            )
        found.append(
            MigrationFile(filename=path.name, number=int(match.group(1)), raw=path.read_bytes())
        )
    return sorted(found, key=lambda m: (m.number, m.filename))


@dataclass(frozen=True)
class RepeatableFile:
    filename: str
    raw: bytes

    @property
    def sql(self) -> str:
        return self.raw.decode("utf-8")

    @property
    def sha256(self) -> str:
        """Of the file's bytes as shipped: any edit makes the next upgrade apply it again."""
        return hashlib.sha256(self.raw).hexdigest()


def discover_repeatables(directory: Path = REPEATABLE_DIR) -> list[RepeatableFile]:
    """All ``lower_snake_name.sql`` files of ``directory`` in filename order; other names are an
    error. A missing directory holds none."""
    if not directory.is_dir():
        return []
    found = []
    for path in directory.iterdir():
        if path.suffix != ".sql":
            continue
        if not _REPEATABLE_NAME.fullmatch(path.name):
            raise MigrationFileError(
                f"repeatable file name {path.name!r} does not match lower_snake_name.sql"
            )
        found.append(RepeatableFile(filename=path.name, raw=path.read_bytes()))
    return sorted(found, key=lambda r: r.filename)
