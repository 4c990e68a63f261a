-- ledger_rollups (repeatable): the functions and triggers that keep migration 046's rollups
-- current, and the legacy importer's synthetic trade id.
--
-- Why: these are definitions, not data. Migration 046 created them, and a released migration is
-- never edited, so the next change to one function body would have meant copying them all into a
-- new migration. `kifu db upgrade` applies this file again whenever its SHA-256 changes (after
-- every versioned migration, in its own transaction, under the runner's advisory lock), so a
-- change is an edit here. The functions and triggers of 046 are repeated below as 046 wrote them
-- (046 still creates them on the way up: its initial fill calls them), with these changes since:
--   * kifu_synthetic_trade_id, the legacy importer's trade id (kifu.ledger.writer uses it);
--   * the change queue (ledger_pnl_dirty, column `replay` from 047) also takes fee edits, which
--     move a position's fees but not FIFO, so positions and realized PnL share one tracker.
--   * the duplicate flags probe a fill's venue trade id by (venue_id, external_id) whatever the
--     statistics say (kifu_ledger_flag_sql).
--   * a deleted fill's ledger_fill_pnl row goes in the delete trigger, and TRUNCATE empties the
--     table (migration 049 dropped the foreign key whose ON DELETE CASCADE did it) and the replay
--     state of 049 (ledger_fifo_books).
--
-- Rules for this file: idempotent (CREATE OR REPLACE FUNCTION; DROP TRIGGER IF EXISTS then CREATE
-- TRIGGER, in one transaction so no write slips between them); definitions only, no data changes
-- or backfills (those belong in a numbered migration); a function whose arguments or return type
-- change must be dropped here first (CREATE OR REPLACE cannot change them). Versioned migrations
-- run before this file, so none may rely on a definition only this file has.

-- Binance's signed income for a FUNDING_FEE income event (positive = received), else −fee.
CREATE OR REPLACE FUNCTION kifu_funding_amount(event_type TEXT, metadata JSONB, fee NUMERIC)
RETURNS NUMERIC LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN event_type = 'fee' AND metadata->>'income_type' = 'FUNDING_FEE'
                THEN coalesce(
                    CASE WHEN metadata->>'income' ~ '^\s*[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)\s*$'
                         THEN (metadata->>'income')::numeric END,
                    -fee)
           END
$$;

-- The grouped rows of ledger_event_hours for the rows of `src`, a query with a `sign` column
-- (1 to add, -1 to subtract) followed by every trade_events column.
CREATE OR REPLACE FUNCTION kifu_ledger_hour_rows_sql(src TEXT) RETURNS TEXT
LANGUAGE sql IMMUTABLE AS $fn$
    SELECT format($q$
        SELECT user_id, hour, ROW(event_type, side, source, venue_id, instrument_id, fee_asset,
                                  meta_asset, income_type)::text AS key,
               event_type, side, source, venue_id, instrument_id, fee_asset, meta_asset,
               income_type,
               sum(sign)::bigint AS n,
               coalesce(sum(sign * qty * price), 0) AS notional,
               coalesce(sum(sign) FILTER (WHERE fee <> 0), 0)::bigint AS fee_n,
               coalesce(sum(sign * fee) FILTER (WHERE fee <> 0), 0) AS fee_sum,
               coalesce(sum(sign * funding), 0) AS funding,
               coalesce(sum(sign) FILTER (WHERE qty IS NULL OR qty <= 0), 0)::bigint AS bad_qty,
               coalesce(sum(sign) FILTER (WHERE qty > 0 AND (price IS NULL OR price < 0)), 0)
                 ::bigint AS bad_price,
               coalesce(sum(sign) FILTER (WHERE qty > 0 AND price >= 0 AND fee <> 0), 0)
                 ::bigint AS fee_ok
        FROM (
            SELECT d.sign, d.user_id, date_trunc('hour', d.executed_at, 'UTC') AS hour,
                   d.event_type::text AS event_type, d.side::text AS side,
                   d.source::text AS source, d.venue_id, d.instrument_id,
                   d.fee_asset::text AS fee_asset, d.metadata->>'asset' AS meta_asset,
                   CASE WHEN d.event_type = 'fee' THEN d.metadata->>'income_type' END
                     AS income_type,
                   d.qty, d.price, d.fee,
                   kifu_funding_amount(d.event_type, d.metadata, d.fee) AS funding
            FROM (%s) d
        ) r
        GROUP BY user_id, hour, event_type, side, source, venue_id, instrument_id, fee_asset,
                 meta_asset, income_type
    $q$, src)
$fn$;

-- Add the rows of `src` (see above) to ledger_event_hours; groups that reach zero rows go.
CREATE OR REPLACE FUNCTION kifu_ledger_hours_upsert_sql(src TEXT) RETURNS TEXT
LANGUAGE sql IMMUTABLE AS $fn$
    SELECT format($q$
        INSERT INTO ledger_event_hours AS h (user_id, hour, key, event_type, side, source,
            venue_id, instrument_id, fee_asset, meta_asset, income_type, n, notional, fee_n,
            fee_sum, funding, bad_qty, bad_price, fee_ok)
        SELECT * FROM (%s) g ORDER BY user_id, hour, key
        ON CONFLICT (user_id, hour, key) DO UPDATE SET
            n = h.n + EXCLUDED.n, notional = h.notional + EXCLUDED.notional,
            fee_n = h.fee_n + EXCLUDED.fee_n, fee_sum = h.fee_sum + EXCLUDED.fee_sum,
            funding = h.funding + EXCLUDED.funding, bad_qty = h.bad_qty + EXCLUDED.bad_qty,
            bad_price = h.bad_price + EXCLUDED.bad_price, fee_ok = h.fee_ok + EXCLUDED.fee_ok
    $q$, kifu_ledger_hour_rows_sql(src))
$fn$;

-- Flag the trade fills of `src` (trade_events columns) that share a venue trade id with another
-- fill of the user at the same venue and instrument, or whose side, qty, price and second match
-- a fill from another source at the same venue (looked for only where the user's fills at that
-- venue come from more than one source), and the fills they match.
-- A fill with a venue trade id is matched through idx_trade_events_external_id (venue_id,
-- external_id), a few rows per probe. The user's other columns stay out of that probe (OFFSET 0
-- keeps them from being pushed into it): offered `t.user_id = s.user_id` as well, the planner,
-- misled by statistics that lag a large first sync, probed (user_id, venue_id) instead and read
-- every stored fill of the venue for every new fill (a quadratic sync: 11.9 s for one batch of
-- 5,000 fills with 5,000 stored).
CREATE OR REPLACE FUNCTION kifu_ledger_flag_sql(src TEXT) RETURNS TEXT
LANGUAGE sql IMMUTABLE AS $fn$
    SELECT format($q$
        WITH s AS MATERIALIZED (
            SELECT * FROM (%1$s) s
            WHERE s.event_type IN ('spot_trade', 'perp_trade', 'dex_swap')
        ), mixed AS (
            SELECT h.user_id, h.venue_id FROM ledger_event_hours h
            WHERE (h.user_id, h.venue_id) IN (SELECT DISTINCT user_id, venue_id FROM s)
              AND h.event_type IN ('spot_trade', 'perp_trade', 'dex_swap') AND h.n > 0
            GROUP BY h.user_id, h.venue_id HAVING count(DISTINCT h.source) > 1
        ), pairs AS (
            SELECT s.user_id, s.id AS a, t.id AS b FROM s
            CROSS JOIN LATERAL (  -- OFFSET 0: probed by (venue_id, external_id), see above
                SELECT t.id, t.user_id, t.instrument_id, t.event_type FROM trade_events t
                WHERE t.venue_id = s.venue_id AND t.external_id = s.external_id OFFSET 0
            ) t
            WHERE s.external_id IS NOT NULL AND s.external_id <> '' AND t.id <> s.id
              AND t.user_id = s.user_id AND t.instrument_id IS NOT DISTINCT FROM s.instrument_id
              AND t.event_type IN ('spot_trade', 'perp_trade', 'dex_swap')
            UNION ALL
            SELECT s.user_id, s.id, t.id FROM s
            JOIN trade_events t ON t.user_id = s.user_id AND t.venue_id IS NULL
             AND t.external_id = s.external_id
            WHERE s.venue_id IS NULL AND s.external_id <> '' AND t.id <> s.id
              AND t.instrument_id IS NOT DISTINCT FROM s.instrument_id
              AND t.event_type IN ('spot_trade', 'perp_trade', 'dex_swap')
            UNION ALL
            SELECT s.user_id, s.id, t.id FROM s
            JOIN mixed m ON m.user_id = s.user_id AND m.venue_id = s.venue_id
            JOIN trade_events t ON t.user_id = s.user_id
             AND t.executed_at >= date_trunc('second', s.executed_at)
             AND t.executed_at < date_trunc('second', s.executed_at) + interval '1 second'
            WHERE t.venue_id = s.venue_id AND t.source <> s.source
              AND t.instrument_id IS NOT DISTINCT FROM s.instrument_id
              AND t.side IS NOT DISTINCT FROM s.side AND t.qty IS NOT DISTINCT FROM s.qty
              AND t.price IS NOT DISTINCT FROM s.price
              AND t.event_type IN ('spot_trade', 'perp_trade', 'dex_swap')
        )
        INSERT INTO ledger_duplicate_flags (event_id, user_id)
        SELECT DISTINCT e, user_id FROM pairs CROSS JOIN LATERAL (VALUES (a), (b)) v(e)
        ORDER BY 1
        ON CONFLICT (event_id) DO NOTHING
    $q$, src)
$fn$;

CREATE OR REPLACE FUNCTION kifu_trade_events_rollup() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
    src TEXT;
    -- the columns a FIFO replay depends on
    moved CONSTANT TEXT := '(o.user_id, o.account_id, o.venue_id, o.instrument_id, o.event_type,'
        ' o.side, o.qty, o.price, o.executed_at) IS DISTINCT FROM (n.user_id, n.account_id,'
        ' n.venue_id, n.instrument_id, n.event_type, n.side, n.qty, n.price, n.executed_at)';
    -- the columns a position reads besides those (its fees)
    charged CONSTANT TEXT := '(o.fee, o.fee_asset) IS DISTINCT FROM (n.fee, n.fee_asset)';
BEGIN
    IF TG_OP = 'INSERT' THEN
        src := 'SELECT 1 AS sign, r.* FROM new_rows r';
    ELSIF TG_OP = 'DELETE' THEN
        src := 'SELECT -1 AS sign, r.* FROM old_rows r';
    ELSE
        src := 'SELECT -1 AS sign, r.* FROM old_rows r UNION ALL SELECT 1, r.* FROM new_rows r';
    END IF;
    EXECUTE kifu_ledger_hours_upsert_sql(src);
    DELETE FROM ledger_event_hours WHERE n = 0;

    -- The change queue (kifu.ledger.tracker): books whose fills changed, from the earliest fill
    -- that moved; `replay` is false when only fees changed (the position's fees move, FIFO
    -- does not).
    IF TG_OP = 'UPDATE' THEN
        src := 'SELECT o.*, ' || moved || ' AS replay'
            || ' FROM old_rows o LEFT JOIN new_rows n ON n.id = o.id'
            || ' WHERE n.id IS NULL OR ' || moved || ' OR ' || charged
            || ' UNION ALL SELECT n.*, ' || moved || ' AS replay'
            || ' FROM new_rows n LEFT JOIN old_rows o ON o.id = n.id'
            || ' WHERE o.id IS NULL OR ' || moved || ' OR ' || charged;
    ELSE
        src := 'SELECT r.*, true AS replay FROM (' || src || ') r';  -- every row moves its book
    END IF;
    EXECUTE format(
        'INSERT INTO ledger_pnl_dirty (user_id, account_id, venue_id, instrument_id, since,'
        '                              replay)'
        ' SELECT d.user_id, d.account_id, d.venue_id, d.instrument_id, min(d.executed_at),'
        '        coalesce(bool_or(d.replay), true)'
        ' FROM (%s) d'
        ' WHERE d.event_type IN (''spot_trade'', ''perp_trade'', ''dex_swap'')'
        '   AND d.instrument_id IS NOT NULL'
        '   AND EXISTS (SELECT 1 FROM users u WHERE u.id = d.user_id)'
        ' GROUP BY 1, 2, 3, 4', src);

    IF TG_OP = 'DELETE' THEN
        DELETE FROM ledger_fill_pnl p USING old_rows o WHERE p.event_id = o.id;
        -- a deleted user's curve goes with them
        DELETE FROM ledger_pnl_hours h WHERE h.user_id IN (SELECT DISTINCT user_id FROM old_rows)
          AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = h.user_id);
    ELSE
        EXECUTE kifu_ledger_flag_sql('SELECT * FROM new_rows');
    END IF;
    RETURN NULL;
END
$fn$;

CREATE OR REPLACE FUNCTION kifu_trade_events_truncated() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    TRUNCATE ledger_event_hours, ledger_fill_pnl, ledger_fifo_books, ledger_pnl_hours,
             ledger_pnl_dirty;
    RETURN NULL;
END
$fn$;

DROP TRIGGER IF EXISTS trade_events_rollup_insert ON trade_events;
DROP TRIGGER IF EXISTS trade_events_rollup_update ON trade_events;
DROP TRIGGER IF EXISTS trade_events_rollup_delete ON trade_events;
DROP TRIGGER IF EXISTS trade_events_rollup_truncate ON trade_events;
CREATE TRIGGER trade_events_rollup_insert AFTER INSERT ON trade_events
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION kifu_trade_events_rollup();
CREATE TRIGGER trade_events_rollup_update AFTER UPDATE ON trade_events
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION kifu_trade_events_rollup();
CREATE TRIGGER trade_events_rollup_delete AFTER DELETE ON trade_events
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION kifu_trade_events_rollup();
CREATE TRIGGER trade_events_rollup_truncate AFTER TRUNCATE ON trade_events
    FOR EACH STATEMENT EXECUTE FUNCTION kifu_trade_events_truncated();

-- trades.binance_trade_id of a trade imported by the legacy CSV importer (POST /trades/import),
-- from the fill's content key (64 lowercase hex digits, kifu.ledger.rules):
-- -(the first 16 hex digits as an unsigned 64-bit number, shifted right by 2) - 1.
--   * Negative: Binance's own trade ids are positive, so a CSV-imported trade never takes the
--     place of a synced one under UNIQUE (user_id, exchange, symbol, binance_trade_id), and the
--     backfill of trade_events from trades (kifu.ledger.service) tells them apart by sign: a
--     negative id is keyed by content, not as a venue trade id. Read as a BIGINT the 64 bits would
--     be signed; the shift clears the top two, so the result lies in -2^62 .. -1 (never 0, never
--     an overflow).
--   * Stable: a pure function of the content key, which is itself pinned (kifu.fill.v1), so the
--     same fill gets the same id on every import and on every server. Its Python twin is
--     kifu.ledger.rules.legacy_trade_id; tests/ledger/test_stored_keys.py pins both.
-- A single IMMUTABLE expression, so the planner inlines it into the importer's INSERT.
CREATE OR REPLACE FUNCTION kifu_synthetic_trade_id(key TEXT) RETURNS BIGINT
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT -(((('x' || substr(key, 1, 16))::bit(64)) >> 2)::bigint) - 1
$$;
