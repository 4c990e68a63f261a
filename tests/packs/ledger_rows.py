"""Direct SQL inserts of the ledger rows packs read (runs, venues, instruments, events)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg

ANCHOR = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class Ledger:
    def __init__(self, conninfo: str, user_id: uuid.UUID) -> None:
        self.conninfo = conninfo
        self.user_id = user_id
        self._venues: dict[str, uuid.UUID] = {}
        self._instruments: dict[str, uuid.UUID] = {}
        self._accounts: dict[tuple[str, str], uuid.UUID] = {}

    def _one(self, sql: str, params: tuple) -> object:
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            row = conn.execute(sql, params).fetchone()
        return row[0] if row else None

    def run(
        self,
        status: str = "completed",
        run_type: str = "trade_csv_import",
        finished: datetime | None = ANCHOR,
        meta: dict | None = None,
    ) -> uuid.UUID:
        return self._one(
            "INSERT INTO runs (user_id, run_type, status, started_at, finished_at, meta)"
            " VALUES (%s, %s, %s, %s, %s, %s) RETURNING run_id",
            (
                self.user_id,
                run_type,
                status,
                (finished or ANCHOR) - timedelta(minutes=1),
                finished,
                json.dumps(meta or {}),
            ),
        )

    def venue(self, code: str) -> uuid.UUID:
        if code not in self._venues:
            self._venues[code] = self._one(
                "INSERT INTO venues (code, venue_type, display_name) VALUES (%s, 'cex', %s)"
                " ON CONFLICT (code) DO UPDATE SET code = EXCLUDED.code RETURNING id",
                (code, code),
            )
        return self._venues[code]

    def instrument(self, symbol: str) -> uuid.UUID:
        if symbol not in self._instruments:
            base, quote = symbol.split("/")
            self._instruments[symbol] = self._one(
                "INSERT INTO instruments (asset_class, base_asset, quote_asset, symbol)"
                " VALUES ('crypto', %s, %s, %s) ON CONFLICT (asset_class, symbol)"
                " DO UPDATE SET symbol = EXCLUDED.symbol RETURNING id",
                (base, quote, symbol),
            )
        return self._instruments[symbol]

    def account(self, venue: str, source: str) -> uuid.UUID:
        key = (venue, source)
        if key not in self._accounts:
            self._accounts[key] = self._one(
                "INSERT INTO accounts (user_id, venue_id, label, source)"
                " VALUES (%s, %s, %s, %s) RETURNING id",
                (self.user_id, self.venue(venue), f"{source}-label", source),
            )
        return self._accounts[key]

    def fill(
        self,
        venue: str,
        symbol: str | None,
        side: str | None,
        qty: str,
        price: str,
        at: datetime,
        *,
        fee: str | None = None,
        fee_asset: str | None = None,
        source: str = "csv",
        external_id: str | None = None,
        event_type: str | None = None,
        metadata: dict | None = None,
    ) -> uuid.UUID:
        et = event_type or ("perp_trade" if "futures" in venue else "spot_trade")
        return self._one(
            "INSERT INTO trade_events (user_id, account_id, venue_id, instrument_id, asset_class,"
            " venue_type, event_type, side, qty, price, fee, fee_asset, executed_at, source,"
            " external_id, metadata) VALUES (%s, %s, %s, %s, 'crypto', 'cex', %s, %s, %s, %s,"
            " %s, %s, %s, %s, %s, %s) RETURNING id",
            (
                self.user_id,
                self.account(venue, source),
                self.venue(venue),
                self.instrument(symbol) if symbol else None,
                et,
                side,
                Decimal(qty),
                Decimal(price),
                Decimal(fee) if fee else None,
                fee_asset,
                at,
                source,
                external_id,
                json.dumps(metadata) if metadata else None,
            ),
        )

    def income(
        self,
        venue: str,
        income_type: str,
        symbol: str,
        asset: str,
        amount: str,
        at: datetime,
        tran_id: int,
    ) -> uuid.UUID:
        fee = -Decimal(amount)
        return self._one(
            "INSERT INTO trade_events (user_id, account_id, venue_id, asset_class, venue_type,"
            " event_type, qty, price, fee, fee_asset, executed_at, source, external_id, metadata)"
            " VALUES (%s, %s, %s, 'crypto', 'cex', 'fee', 0, 0, %s, %s, %s, 'api', %s, %s)"
            " RETURNING id",
            (
                self.user_id,
                self.account(venue, "api"),
                self.venue(venue),
                fee,
                asset,
                at,
                str(tran_id),
                json.dumps(
                    {
                        "income_type": income_type,
                        "symbol": symbol,
                        "asset": asset,
                        "income": amount,
                        "tran_id": tran_id,
                    }
                ),
            ),
        )

    def sync_cursor(self, exchange: str, symbol: str, last_trade_id: int) -> None:
        self._one(
            "INSERT INTO trade_sync_state (user_id, exchange, symbol, last_trade_id)"
            " VALUES (%s, %s, %s, %s) RETURNING id",
            (self.user_id, exchange, symbol, last_trade_id),
        )
