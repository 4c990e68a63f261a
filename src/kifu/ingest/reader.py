"""Stream a CSV upload row by row: sniff the encoding, refuse non-CSV, never hold the file."""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Callable, Iterator
from typing import BinaryIO

from kifu.kit.errors import DomainError

SNIFF_BYTES = 64 * 1024


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

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.raw.read(len(b))
        n = len(data)
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
        raw.seek(0)
        buffered = io.BufferedReader(_Counting(raw, on_bytes), buffer_size=1 << 16)
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

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        reader = self._reader
        while True:
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
            if any(cells):
                yield reader.line_num, cells
