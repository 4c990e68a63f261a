"""CSV exports: review statistics and every bubble (streamed in a stable order, no cap)."""

from __future__ import annotations

import io
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from kifu.journal import rules
from kifu.kit.csvout import SafeWriter
from kifu.kit.errors import BadRequest
from kifu.kit.timeutil import utc_now

BUBBLE_HEADER = [
    "ID",
    "Symbol",
    "Timeframe",
    "Candle Time",
    "Price",
    "Type",
    "Asset Class",
    "Venue",
    "Memo",
    "Tags",
    "Created At",
]
STREAM_BATCH = 1000
PERIOD_DAYS = {"7d": 7, "30d": 30, "all": None}


def since_of(period: str | None, now: datetime) -> datetime | None:
    value = (period or "30d").strip().lower()
    if value not in PERIOD_DAYS:
        raise BadRequest("INVALID_REQUEST", "period: must be 7d, 30d or all")
    days = PERIOD_DAYS[value]
    return None if days is None else now - timedelta(days=days)


def _csv_line(values: list[Any]) -> str:
    buf = io.StringIO()
    SafeWriter(buf, lineterminator="\r\n").writerow(values)
    return buf.getvalue()


def _when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if value else ""


def _rate(wins: int, count: int) -> str:
    if not count:
        return "0.00%"
    return f"{(Decimal(wins) * 100 / count).quantize(Decimal('0.01'), ROUND_HALF_UP)}%"


def _four(value: Decimal | None) -> str:
    return str((value or Decimal(0)).quantize(Decimal("0.0001"), ROUND_HALF_UP))


_AGG = (
    "count(*) AS n, count(*) FILTER (WHERE o.pnl_percent > 0) AS wins, avg(o.pnl_percent) AS avg,"
    " sum(o.pnl_percent) AS total, max(o.pnl_percent) AS best, min(o.pnl_percent) AS worst"
)


async def stats_csv(conn: AsyncConnection, user_id: uuid.UUID, period: str | None) -> str:
    """Win = pnl > 0; win rate = wins / bubbles with an outcome (breakeven is not a win).
    Overall, per tag and per symbol use 1h outcomes; rows are sorted, so the file is stable."""
    since = since_of(period, utc_now())
    scope = "b.user_id = %s AND (%s::timestamptz IS NULL OR b.candle_time >= %s)"
    args = [user_id, since, since]
    join = f"FROM bubbles b JOIN outcomes o ON o.bubble_id = b.id WHERE {scope}"
    cur = await conn.execute(
        f"SELECT count(*), count(*) FILTER (WHERE EXISTS (SELECT 1 FROM outcomes o"
        f" WHERE o.bubble_id = b.id)) FROM bubbles b WHERE {scope}",
        args,
    )
    total, with_outcome = await cur.fetchone()  # type: ignore[misc]
    cur = await conn.execute(f"SELECT o.period, {_AGG} {join} GROUP BY o.period", args)
    by_period = {row[0]: row[1:] for row in await cur.fetchall()}
    cur = await conn.execute(
        f"SELECT t.tag, {_AGG} FROM bubbles b JOIN outcomes o ON o.bubble_id = b.id"
        f" CROSS JOIN LATERAL unnest(b.tags) AS t(tag) WHERE {scope} AND o.period = '1h'"
        " GROUP BY t.tag ORDER BY t.tag",
        args,
    )
    by_tag = await cur.fetchall()
    cur = await conn.execute(
        f"SELECT b.symbol, {_AGG} {join} AND o.period = '1h' GROUP BY b.symbol ORDER BY b.symbol",
        args,
    )
    by_symbol = await cur.fetchall()

    lines = [_csv_line(["Category", "Metric", "Value"])]
    n, wins, avg, sum_, best, worst = by_period.get("1h", (0, 0, None, None, None, None))
    overall = [
        ("Total Bubbles", total),
        ("Bubbles with Outcome", with_outcome),
        ("Win Rate", _rate(wins, n)),
        ("Average PnL", _four(avg)),
        ("Total PnL", _four(sum_)),
        ("Max Gain", _four(best)),
        ("Max Loss", _four(worst)),
    ]
    lines += [_csv_line(["Overall", metric, value]) for metric, value in overall]
    for p in rules.PERIODS:
        n, wins, avg, *_ = by_period.get(p, (0, 0, None))
        category = f"Period {p}"
        lines.append(_csv_line([category, "Win Rate", _rate(wins, n)]))
        lines.append(_csv_line([category, "Average PnL", _four(avg)]))
        lines.append(_csv_line([category, "Count", n]))
    for label, rows in (("Tag", by_tag), ("Symbol", by_symbol)):
        for key, n, wins, avg, *_ in rows:
            category = f"{label}: {key}"
            lines.append(_csv_line([category, "Count", n]))
            lines.append(_csv_line([category, "Win Rate", _rate(wins, n)]))
            lines.append(_csv_line([category, "Average PnL", _four(avg)]))
    return "".join(lines)


async def bubbles_csv(pool: AsyncConnectionPool, user_id: uuid.UUID) -> AsyncIterator[str]:
    """Every bubble of the user, newest candle first (ties by id), read in keyset batches on
    the stream's own connection so the file can be any size."""
    yield _csv_line(BUBBLE_HEADER)
    after: tuple[datetime, uuid.UUID] | None = None
    async with pool.connection() as conn:
        while True:
            keyset = "AND (candle_time, id) < (%s, %s)" if after else ""
            cur = await conn.execute(
                "SELECT id, symbol, timeframe, candle_time, price, bubble_type, asset_class,"
                " venue_name, memo, tags, created_at FROM bubbles"
                f" WHERE user_id = %s {keyset} ORDER BY candle_time DESC, id DESC LIMIT %s",
                [user_id, *(after or ()), STREAM_BATCH],
            )
            rows = await cur.fetchall()
            if not rows:
                return
            chunk = []
            for r in rows:
                chunk.append(
                    _csv_line(
                        [
                            str(r[0]),
                            r[1],
                            r[2],
                            _when(r[3]),
                            format(r[4], "f"),
                            r[5],
                            r[6] or "",
                            r[7] or "",
                            r[8] or "",
                            ", ".join(r[9] or []),
                            _when(r[10]),
                        ]
                    )
                )
            yield "".join(chunk)
            if len(rows) < STREAM_BATCH:
                return
            after = (rows[-1][3], rows[-1][0])
