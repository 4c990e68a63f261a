"""CSV that kifu writes for people to open in a spreadsheet: cells that a spreadsheet would run
as a formula are neutralised, and every download names its file the same way (``attachment``).

A cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is a formula to
Excel, LibreOffice and Google Sheets (``=HYPERLINK(…)``, ``@SUM(…)``); such a cell gets a leading
``'``, which the spreadsheet shows as text. Plain numbers (``-12.5``, ``-3%``) are left alone:
they are values, not formulas, and the figures must stay numbers.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?%?")


def safe_cell(value: Any) -> Any:
    """``value`` as a spreadsheet shows it without running it."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        if _PLAIN_NUMBER.fullmatch(value):
            return value
        return "'" + value
    return value


class SafeWriter:
    """``csv.writer`` whose cells pass through ``safe_cell``."""

    def __init__(self, out: Any, **kwargs: Any) -> None:
        self._writer = csv.writer(out, **kwargs)

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._writer.writerow([safe_cell(v) for v in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def attachment(name: str) -> dict[str, str]:
    """The ``Content-Disposition`` of every download, as the reference sent it:
    ``attachment; filename=<name>; filename*=UTF-8''<name>``.

    The filename is bare, not quoted: the KIFU client takes the text after ``filename=`` as it is,
    so quotes would end up in the saved file's name. A bare value must be an RFC 7230 token, so
    ``name`` is kept to letters, digits, ``_``, ``-`` and ``.`` (anything else is replaced, which
    also means no header can be injected); the RFC 5987 ``filename*`` beside it is what browsers
    prefer when both are present.
    """
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", name) or "download"
    return {"Content-Disposition": f"attachment; filename={safe}; filename*=UTF-8''{quote(safe)}"}
