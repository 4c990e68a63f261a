"""Stream a CSV upload row by row: sniff the encoding, refuse non-CSV, never hold the file.

Opening a source reads the whole file once when its first 64 KB are plain ASCII (to find the
first non-ASCII bytes and tell UTF-8 from CP949), so callers on an event loop open it in a
thread. A row the reader cannot take as it stands is yielded as a ``BadRow`` carrying the
reason, for the importer to report under its line number: a quote left open (which would
otherwise swallow the rest of the file into one cell) and NUL characters.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Callable, Iterator
from typing import BinaryIO

from kifu.kit.errors import DomainError

SNIFF_BYTES = 64 * 1024
SCAN_CHUNK = 1 << 20


class BadRow(list[str]):
    """A row the importer must report rather than parse: ``reason`` says why."""

    def __init__(self, cells: list[str], reason: str) -> None:
        super().__init__(cells)
        self.reason = reason


class ImportFailed(DomainError):
    """The file as a whole cannot be imported; nothing is written. ``extra`` (for example the
    missing columns) goes into the answer."""

    def __init__(self, code: str, message: str, **extra: object) -> None:
        super().__init__(message, code=code, extra=extra)


def _decodes(data: bytes, encoding: str) -> bool:
    try:
        codecs.getincrementaldecoder(encoding)().decode(data, final=False)
    except UnicodeDecodeError:
        return False
    return True


def _first_non_ascii(raw: BinaryIO, start: int) -> bytes:
    """A few KB from the first non-ASCII byte at or after ``start`` (empty when there is none);
    ``raw`` is left where it was found."""
    at = raw.tell()
    try:
        raw.seek(start)
        while chunk := raw.read(SCAN_CHUNK):
            if not chunk.isascii():
                i = next(n for n, b in enumerate(chunk) if b > 0x7F)
                return chunk[i:] + raw.read(4096)
        return b""
    finally:
        raw.seek(at)


def sniff_encoding(head: bytes) -> str:
    """``utf-8-sig`` (with or without BOM) or ``cp949`` (Korean Excel exports); else refuse."""
    if b"\x00" in head:
        raise ImportFailed("NOT_CSV", "the file is not a CSV text file (it contains NUL bytes)")
    if _decodes(head, "utf-8"):
        return "utf-8-sig"
    if _decodes(head, "cp949"):
        return "cp949"
    raise ImportFailed(
        "INVALID_ENCODING", "the file is neither UTF-8 nor CP949 (EUC-KR) text; save it as UTF-8"
    )


class _Counting(io.RawIOBase):
    """Counts bytes read so a progress bar can follow a stream it does not own."""

    def __init__(self, raw: BinaryIO, on_bytes: Callable[[int], None] | None) -> None:
        self.raw = raw
        self.on_bytes = on_bytes

    def readable(self) -> bool:
        return True

    saw_nul = False  # a NUL byte was read: rows are then checked for it one by one

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.raw.read(len(b))
        n = len(data)
        if b"\x00" in data:
            self.saw_nul = True
        b[:n] = data
        if self.on_bytes and n:
            self.on_bytes(n)
        return n


class CsvSource:
    """Header and rows of a seekable binary stream; rows are ``(line number, cells)``."""

    def __init__(self, raw: BinaryIO, on_bytes: Callable[[int], None] | None = None) -> None:
        head = raw.read(SNIFF_BYTES)
        if not head.strip(b"\xef\xbb\xbf \t\r\n"):
            raise ImportFailed("EMPTY_FILE", "the file is empty")
        self.encoding = sniff_encoding(head)
        if head.isascii() and len(head) == SNIFF_BYTES:
            # ASCII so far says nothing: a Korean export may have its first Hangul after 64 KB.
            later = _first_non_ascii(raw, SNIFF_BYTES)
            if later and not _decodes(later[:4096], "utf-8"):
                if not _decodes(later[:4096], "cp949"):
                    raise ImportFailed(
                        "INVALID_ENCODING",
                        "the file is neither UTF-8 nor CP949 (EUC-KR) text; save it as UTF-8",
                    )
                self.encoding = "cp949"
        raw.seek(0)
        self._counting = _Counting(raw, on_bytes)
        buffered = io.BufferedReader(self._counting, buffer_size=1 << 16)
        self._text = io.TextIOWrapper(buffered, encoding=self.encoding, newline="")
        self._reader = csv.reader(self._text)
        try:
            header: list[str] = []
            while not any(c.strip() for c in header):
                header = next(self._reader)
        except StopIteration as exc:
            raise ImportFailed("EMPTY_FILE", "the file has no header row") from exc
        except (csv.Error, UnicodeDecodeError) as exc:
            raise ImportFailed("NOT_CSV", f"the header cannot be read as CSV: {exc}") from exc
        self.header = header
        seen: set[str] = set()
        for cell in header:
            name = cell.replace("\ufeff", "").strip().lower()
            if name and name in seen:
                raise ImportFailed(
                    "DUPLICATE_COLUMN",
                    f"the header names column {cell.strip()!r} more than once",
                    column=cell.strip(),
                )
            seen.add(name)

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        reader = self._reader
        while True:
            first = reader.line_num + 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except UnicodeDecodeError as exc:
                raise ImportFailed(
                    "INVALID_ENCODING",
                    f"line {reader.line_num + 1}: not valid {self.encoding} text",
                ) from exc
            except csv.Error as exc:
                raise ImportFailed("NOT_CSV", f"line {reader.line_num}: {exc}") from exc
            if not any(cells):
                continue
            if reader.line_num > first and any("\n" in c or "\r" in c for c in cells):
                # A quote left open runs to the next quote or the end of the file: report the
                # row where it opened (trade exports have no cells that span lines).
                yield (
                    first,
                    BadRow(
                        cells,
                        f"a quoted cell opened on line {first} is not closed on that line"
                        f" (lines {first}-{reader.line_num} were read as one row)",
                    ),
                )
            elif self._counting.saw_nul and any("\x00" in c for c in cells):
                yield reader.line_num, BadRow(cells, "the row contains a NUL character")
            else:
                yield reader.line_num, cells
