"""Summary-pack use cases: generate (v1 and v1.1), read, list.

A pack is a deterministic snapshot of one user's ledger over a range that ends at the source
run's finish time; see ``rules`` for the range, sign conventions, thresholds and hashing.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from psycopg import AsyncConnection

from kifu.kit.errors import BadRequest, NotFound
from kifu.ledger import curve, pnl, reconciliation, tracker
from kifu.ledger.curve import Segment
from kifu.packs import rules, store
from kifu.runs import queries as run_queries

try:  # the ledger's symbol normalisation, so income symbols match instruments the same way
    from kifu.ledger.rules import RuleError as _SymbolError
    from kifu.ledger.rules import split_symbol as _split_symbol
except ImportError:  # pragma: no cover - the ledger package always ships with kifu
    _split_symbol = None
    _SymbolError = ValueError


def _dec(text: Any) -> Decimal | None:
    try:
        d = Decimal(str(text).strip())
    except (InvalidOperation, ValueError):
        return None
    return d if d.is_finite() else None


def parse_options(range_: str | None, tz: str | None, default_tz: str) -> tuple[str, Any]:
    """The range and zone of a request (``rules.RuleError``: ``INVALID_RANGE``/``_TIMEZONE``)."""
    return rules.check_range(range_), rules.check_timezone(tz, default_tz)


def anchor_of(run: dict) -> datetime:
    return run["finished_at"] or run["started_at"]


async def _owned_completed_run(
    conn: AsyncConnection, user_id: uuid.UUID, run_id: uuid.UUID
) -> dict:
    run = await run_queries.get_run(conn, user_id, run_id)
    if run is None:
        raise NotFound("RUN_NOT_FOUND", f"run {run_id} not found")
    if run["status"] != "completed":
        raise BadRequest(
            "RUN_NOT_COMPLETED",
            f"source_run_id: run {run_id} is {run['status']}; only completed runs can be packed",
            extra={"run_status": run["status"]},
        )
    return run


async def generate(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    run_id: uuid.UUID,
    range_: str | None,
    tz: str | None,
    default_tz: str,
) -> tuple[dict, bool]:
    r, zone = parse_options(range_, tz, default_tz)
    run = await _owned_completed_run(conn, user_id, run_id)
    return await _generate_for_run(conn, user_id, run, r, zone)


async def generate_latest(
    conn: AsyncConnection, user_id: uuid.UUID, range_: str | None, tz: str | None, default_tz: str
) -> tuple[dict, bool, dict]:
    r, zone = parse_options(range_, tz, default_tz)
    run = await run_queries.latest_completed_run(conn, user_id, rules.RUN_TYPES_FOR_LATEST)
    if run is None:
        raise NotFound("NO_COMPLETED_RUN", "completed sync/import run not found")
    pack, created = await _generate_for_run(conn, user_id, run, r, zone)
    return pack, created, run


async def _generate_for_run(
    conn: AsyncConnection, user_id: uuid.UUID, run: dict, range_: str, zone: Any
) -> tuple[dict, bool]:
    window = rules.range_window(range_, zone, anchor_of(run))
    pack_id = uuid.uuid4()
    async with conn.transaction():
        # The ledger stands still while the pack reads it (no kifu writer can change it), and
        # rows written by hand since the last write are folded in first.
        await tracker.hold(conn, user_id)
        payload = await build_payload(conn, user_id, run, window, pack_id)
    digest = rules.content_hash(payload)
    existing = await store.find_by_hash(conn, user_id, digest)
    if existing is not None:
        return existing, False
    payload["content_hash"] = digest
    rec = payload["reconciliation"]
    row = {
        "pack_id": pack_id,
        "user_id": user_id,
        "source_run_id": run["run_id"],
        "range": range_,
        "schema_version": rules.SCHEMA_VERSION,
        "calc_version": rules.CALC_VERSION,
        "content_hash": digest,
        "reconciliation_status": rec["reconciliation_status"],
        "missing_suspects_count": rec["missing_suspects_count"],
        "duplicate_suspects_count": rec["duplicate_suspects_count"],
        "normalization_warnings": list(rec["normalization_warnings"]),
        "payload": rules._canonical(payload),
    }
    stored = await store.insert_pack(conn, row)
    return stored, stored["pack_id"] == pack_id


# -- the payload --------------------------------------------------------------------------------


async def build_payload(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    run: dict,
    window: rules.Window,
    pack_id: uuid.UUID,
) -> dict[str, Any]:
    start, end = window.start, window.end
    realized, drawdown = await _realized(conn, user_id, start, end)
    suspects = await _spot_suspects(conn, user_id, start, end)
    cut = rules.hour_cut(start, end)
    groups = await reconciliation.event_groups(conn, user_id, cut.first, cut.stop, cut.spans)
    totals = rules.fold_groups(groups)
    counts, notional, flow = totals.counts, totals.notional, totals.flow
    fees, funding = totals.fees, totals.funding
    trade_count, buys, sells = totals.trade_count, totals.buys, totals.sells
    venues, sources, income_types = totals.venues, totals.sources, totals.income_types
    for quote in counts:
        realized.setdefault(quote, Decimal(0))
        drawdown.setdefault(quote, Decimal(0))

    suspects += await _duplicate_suspects(conn, user_id, start, end)
    suspects += await _order_suspects(conn, user_id, start, end)
    suspects += await _time_suspects(conn, user_id, start)
    suspects += await _cursor_suspects(conn, user_id)
    suspects += await _income_suspects(conn, user_id, start, end)
    suspects = rules.sort_suspects(suspects)

    details = [
        {
            "code": code,
            "row_count": rows,
            "event_ids": await reconciliation.normalisation_ids(
                conn,
                user_id,
                start,
                end,
                code,
                totals.unmapped_instruments,
                rules.MAX_EVIDENCE_IDS,
            ),
        }
        for code, rows in sorted(totals.normalisation.items())
    ]
    warnings = [d["code"] for d in details]

    status = rules.reconciliation_status(suspects, warnings)
    by_category = {
        c: sum(1 for s in suspects if s["category"] == c) for c in ("missing", "duplicate", "time")
    }

    meta = run.get("meta") if isinstance(run.get("meta"), dict) else {}
    modules = {"trades"}
    for m in meta.get("modules") or [] if isinstance(meta.get("modules"), list) else []:
        if isinstance(m, str) and m.strip():
            modules.add(m.strip().lower())
    if fees:
        modules.add("fees")
    if funding:
        modules.add("funding")
    if "REALIZED_PNL" in income_types:
        modules.add("realized_pnl_income")
    exchanges = set(venues)
    sync_exchange = meta.get("exchange") if run["run_type"] == "exchange_sync" else None
    if isinstance(sync_exchange, str) and sync_exchange.strip():
        exchanges.add(sync_exchange.strip().lower())

    sample = await reconciliation.trade_id_sample(conn, user_id, start, end, rules.MAX_EVIDENCE_IDS)

    return {
        "pack_id": str(pack_id),
        "schema_version": rules.SCHEMA_VERSION,
        "calc_version": rules.CALC_VERSION,
        "content_hash": "",
        "time_range": {
            "range": window.range,
            "timezone": window.timezone,
            "start_ts": rules.ts_seconds(start),
            "end_ts": rules.ts_seconds(end),
        },
        "data_sources": {
            "exchanges": sorted(exchanges),
            "csv_imported": run["run_type"] in rules.CSV_RUN_TYPES or "csv" in sources,
            "modules": sorted(modules),
            "sources": sorted(sources),
            "source_run_id": str(run["run_id"]),
            "run_type": run["run_type"],
        },
        "pnl_summary": {
            "realized_pnl_total": rules.single_total(realized),
            "realized_pnl_by_currency": rules.decimal_map(realized),
            "unrealized_pnl_snapshot": None,
            "fees_total": rules.single_total(fees),
            "fees_by_currency": rules.decimal_map(fees),
            "funding_total": rules.single_total(funding),
            "funding_by_currency": rules.decimal_map(funding),
        },
        "flow_summary": {
            "net_exchange_flow": rules.single_total(flow),
            "net_exchange_flow_by_currency": rules.decimal_map(flow),
            "net_wallet_flow": None,
        },
        "activity_summary": {
            "trade_count": trade_count,
            "buy_count": buys,
            "sell_count": sells,
            "trade_count_by_quote": {k: counts[k] for k in sorted(counts)},
            "notional_volume_total": rules.single_total(notional),
            "notional_volume_by_currency": rules.decimal_map(notional),
            "long_short_ratio": rules.dec(rules.ratio(buys, sells)),
            "leverage_summary": None,
            "max_drawdown_est": rules.single_total(drawdown),
            "max_drawdown_by_currency": rules.decimal_map(drawdown),
        },
        "reconciliation": {
            "reconciliation_status": status,
            "missing_suspects_count": by_category["missing"],
            "duplicate_suspects_count": by_category["duplicate"],
            "time_suspects_count": by_category["time"],
            "normalization_warnings": warnings,
            "normalization_details": details,
            "suspects": suspects[: rules.MAX_LISTED_SUSPECTS],
            "suspects_truncated": len(suspects) > rules.MAX_LISTED_SUSPECTS,
            "thresholds": {
                "error_when_missing_plus_duplicate_at_least": rules.ERROR_SUSPECTS,
                "error_kinds": sorted(
                    k for k, (_, sev) in rules.SUSPECT_KINDS.items() if sev == "error"
                ),
                "future_tolerance_seconds": int(rules.FUTURE_TOLERANCE.total_seconds()),
                "earliest_plausible_ts": rules.ts(rules.EARLIEST_PLAUSIBLE),
            },
        },
        "evidence_index": {
            "exchange_trade_ids_sample": sample,
            "evidence_pack_ref": f"evidence_pack://{pack_id}",
        },
    }


async def _realized(
    conn: AsyncConnection, user_id: uuid.UUID, start: datetime | None, end: datetime
) -> tuple[dict[str, Decimal], dict[str, Decimal]]:
    """Realized PnL and the largest fall of its running sum per quote: the stored hourly curve
    segments of the range's whole hours, and segments of the fills in its partial hours."""
    cut = rules.hour_cut(start, end)
    pieces: dict[str, list[tuple[datetime, Segment]]] = {}
    for quote, hour, seg in await pnl.hour_segments(conn, user_id, cut.first, cut.stop):
        pieces.setdefault(quote, []).append((hour, seg))
    for quote, i, seg in await pnl.span_segments(conn, user_id, cut.spans):
        pieces.setdefault(quote, []).append((cut.spans[i][0], seg))
    realized: dict[str, Decimal] = {}
    drawdown: dict[str, Decimal] = {}
    for quote, parts in pieces.items():
        whole = curve.fold(seg for _, seg in sorted(parts, key=lambda p: p[0]))
        realized[quote], drawdown[quote] = whole.total, whole.fall
    return realized, drawdown


async def _spot_suspects(conn, user_id, start, end) -> list[dict]:
    return [
        rules.suspect(
            "spot_position_negative",
            venue=row["venue"],
            symbol=row["symbol"],
            key=str(row["account_id"]),
            compared="running bought minus sold quantity of the account's spot fills "
            "(whole history) at each fill in range",
            lowest_position=rules.dec(row["lowest"]),
            first_event_id=row["first_event_id"],
            first_executed_at=rules.ts(row["first_executed_at"]),
            fills_below_zero=int(row["fills_below_zero"]),
        )
        for row in await pnl.spot_below_zero(conn, user_id, start, end)
    ]


async def _duplicate_suspects(conn, user_id, start, end) -> list[dict]:
    out = []
    for row in await reconciliation.duplicates(conn, user_id, start, end):
        compared = (
            "venue trade id (external_id) of fills at the same venue"
            if row["kind"] == "duplicate_external_id"
            else "side, qty, price and second of fills at the same venue from different sources"
        )
        out.append(
            rules.suspect(
                row["kind"],
                venue=row["venue"],
                symbol=row["symbol"],
                key=row["key"],
                compared=compared,
                copies=int(row["n"]),
                sources=list(row["sources"]),
                event_ids=list(row["ids"])[: rules.MAX_EVIDENCE_IDS],
            )
        )
    return out


async def _order_suspects(conn, user_id, start, end) -> list[dict]:
    out = []
    for row in await reconciliation.order_fills(conn, user_id, start, end):
        executed = _dec(row["executed_text"])
        if executed is None or row["filled"] == executed:
            continue
        kind = "order_fill_shortfall" if row["filled"] < executed else "order_fill_excess"
        out.append(
            rules.suspect(
                kind,
                venue=row["venue"],
                symbol=row["symbol"],
                key=str(row["order_id"]),
                compared="sum of the order's fill quantities vs the order's executed quantity "
                "in fill metadata",
                order_id=row["order_id"],
                order_executed_qty=rules.dec(executed),
                filled_qty=rules.dec(row["filled"]),
                difference=rules.dec(row["filled"] - executed),
                fills=int(row["n"]),
                event_ids=list(row["ids"])[: rules.MAX_EVIDENCE_IDS],
            )
        )
    return out


async def _time_suspects(conn, user_id, start) -> list[dict]:
    tol = int(rules.FUTURE_TOLERANCE.total_seconds())
    out = []
    for row in await reconciliation.time_suspects(
        conn, user_id, start, tol, rules.EARLIEST_PLAUSIBLE
    ):
        if row["kind"] == "future_fill":
            evidence = {
                "compared": "executed_at vs the time the row was recorded (created_at)",
                "recorded_at": rules.ts(row["created_at"]),
                "tolerance_seconds": tol,
            }
        else:
            evidence = {
                "compared": "executed_at vs the earliest plausible time",
                "earliest_plausible_ts": rules.ts(rules.EARLIEST_PLAUSIBLE),
            }
        out.append(
            rules.suspect(
                row["kind"],
                venue=row["venue"],
                symbol=row["symbol"],
                key=row["id"],
                event_id=row["id"],
                executed_at=rules.ts(row["executed_at"]),
                source=row["source"],
                **evidence,
            )
        )
    return out


async def _cursor_suspects(conn, user_id) -> list[dict]:
    out = []
    for row in await reconciliation.sync_cursors(conn, user_id):
        ledger_max = row["ledger_max_id"]
        if ledger_max is not None and ledger_max >= row["last_trade_id"]:
            continue
        out.append(
            rules.suspect(
                "sync_cursor_gap",
                venue=row["exchange"],
                symbol=row["symbol"],
                key=f"{row['exchange']}|{row['symbol']}",
                compared="sync cursor last_trade_id vs the highest venue trade id in the ledger",
                cursor_last_trade_id=str(row["last_trade_id"]),
                ledger_max_trade_id=rules.dec(ledger_max),
                last_sync_at=rules.ts(row["last_sync_at"]),
            )
        )
    return out


async def _income_suspects(conn, user_id, start, end) -> list[dict]:
    out = []
    for row in await reconciliation.realized_pnl_income(conn, user_id, start, end):
        if _split_symbol is None:
            break
        try:
            base, quote = _split_symbol(row["symbol"] or "", venue=row["venue"])
        except (_SymbolError, ValueError):
            continue
        symbol = f"{base}/{quote}"
        instrument_id = await reconciliation.instrument_by_symbol(conn, symbol)
        if instrument_id is None:
            continue
        span = await reconciliation.flat_points(
            conn, user_id, row["venue_id"], instrument_id, start, end
        )
        if span is None:
            continue
        lo, hi = span["start_at"], span["end_at"]
        amounts = [
            _dec(a)
            for t, a in zip(row["times"], row["amounts"], strict=True)
            if (lo is None or t > lo) and t <= hi
        ]
        if not amounts:
            continue
        exchange = sum((a for a in amounts if a is not None), Decimal(0))
        ledger = span["end_cash"] - span["start_cash"]
        tolerance = Decimal("0.00000001") * len(amounts) + abs(ledger) * Decimal("0.000001")
        if abs(ledger - exchange) <= tolerance:
            continue
        out.append(
            rules.suspect(
                "realized_pnl_mismatch",
                venue=row["venue"],
                symbol=symbol,
                key=f"{row['venue']}|{symbol}|{rules.ts(hi)}",
                compared="ledger realized PnL (proceeds minus cost of fills between two flat "
                "points) vs the exchange's REALIZED_PNL income over the same span",
                span_start=rules.ts(lo),
                span_end=rules.ts(hi),
                ledger_realized_pnl=rules.dec(ledger),
                exchange_realized_pnl=rules.dec(exchange),
                difference=rules.dec(ledger - exchange),
                tolerance=rules.dec(tolerance),
                fills=int(span["fills"]),
                income_records=len(amounts),
            )
        )
    return out


# -- reading ------------------------------------------------------------------------------------


def pack_entity(row: dict) -> dict[str, Any]:
    return {
        "pack_id": str(row["pack_id"]),
        "user_id": str(row["user_id"]),
        "source_run_id": str(row["source_run_id"]),
        "range": row["range"],
        "schema_version": row["schema_version"],
        "calc_version": row["calc_version"],
        "content_hash": row["content_hash"],
        "reconciliation_status": row["reconciliation_status"],
        "missing_suspects_count": row["missing_suspects_count"],
        "duplicate_suspects_count": row["duplicate_suspects_count"],
        "normalization_warnings": list(row["normalization_warnings"] or []),
        "payload": row["payload"],
        "created_at": rules.ts(row["created_at"]),
    }


async def get(conn: AsyncConnection, user_id: uuid.UUID, pack_id: uuid.UUID) -> dict[str, Any]:
    row = await store.get_pack(conn, user_id, pack_id)
    if row is None:
        raise NotFound("PACK_NOT_FOUND", f"pack {pack_id} not found")
    return pack_entity(row)


async def latest(
    conn: AsyncConnection, user_id: uuid.UUID, range_: str | None, tz: str | None, default_tz: str
) -> dict[str, Any]:
    r, zone = parse_options(range_, tz, default_tz)
    row = await store.latest_pack(conn, user_id, r, zone.key if tz else None)
    if row is None:
        raise NotFound("PACK_NOT_FOUND", "latest pack not found")
    return pack_entity(row)


async def list_packs(
    conn: AsyncConnection, user_id: uuid.UUID, limit: int, offset: int
) -> tuple[list[dict], int]:
    rows, total = await store.list_packs(conn, user_id, limit, offset)
    items = [
        {
            **{k: v for k, v in r.items() if k not in ("created_at", "pack_id", "source_run_id")},
            "pack_id": str(r["pack_id"]),
            "source_run_id": str(r["source_run_id"]),
            "normalization_warnings": list(r["normalization_warnings"] or []),
            "created_at": rules.ts(r["created_at"]),
        }
        for r in rows
    ]
    return items, total
