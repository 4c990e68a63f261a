"""Realized-PnL curves cut into segments that compose: pure rules, no I/O.

A segment is a run of consecutive fills' realized PnL, in execution order, summarised as
``Segment(total, peak, trough, fall)``: ``total`` the sum, ``peak`` and ``trough`` the highest and
lowest running sum measured from the segment's start (the start itself counts, so peak ≥ 0 ≥
trough), ``fall`` the largest drop from a running peak to a later point (≥ 0). Two adjacent
segments combine without their fills, so the drawdown of a range is the fold of its per-hour
segments (``ledger_pnl_hours``) and the fills of its partial hours. Arithmetic never rounds
(``kit.money.EXACT``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from kifu.kit.money import EXACT

_ZERO = Decimal(0)


@dataclass(frozen=True)
class Segment:
    total: Decimal = _ZERO
    peak: Decimal = _ZERO
    trough: Decimal = _ZERO
    fall: Decimal = _ZERO

    def then(self, later: Segment) -> Segment:
        """This segment followed by ``later``."""
        lowest_later = EXACT.add(self.total, later.trough)
        return Segment(
            total=EXACT.add(self.total, later.total),
            peak=max(self.peak, EXACT.add(self.total, later.peak)),
            trough=min(self.trough, lowest_later),
            fall=max(self.fall, later.fall, EXACT.subtract(self.peak, lowest_later)),
        )


EMPTY = Segment()


def of(pnls: Iterable[Decimal]) -> Segment:
    """The segment of these fills' realized PnL, in order."""
    cum = peak = trough = fall = _ZERO
    for p in pnls:
        cum = EXACT.add(cum, p)
        peak = max(peak, cum)
        trough = min(trough, cum)
        fall = max(fall, EXACT.subtract(peak, cum))
    return Segment(cum, peak, trough, fall)


def fold(segments: Iterable[Segment]) -> Segment:
    out = EMPTY
    for s in segments:
        out = out.then(s)
    return out
