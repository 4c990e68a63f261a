"""The migration files shipped with kifu, in the order they apply.

Order is (number, filename): the reference ships two files numbered 007 and two numbered 013, and
numbers 016–019 do not exist, so the number alone is not a key. Files 001–022 are the reference
system's, byte for byte in effect; kifu's own changes start at 023.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
LAST_REFERENCE_NUMBER = 22
_NAME = re.compile(r"^(\d{3,})_[a-z0-9_]+\.sql$")


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
        match = _NAME.match(path.name)
        if not match:
            raise MigrationFileError(
                f"migration file name {path.name!r} does not match NNN_lower_snake_name.sql"
            )
        found.append(
            MigrationFile(filename=path.name, number=int(match.group(1)), raw=path.read_bytes())
        )
    return sorted(found, key=lambda m: (m.number, m.filename))
