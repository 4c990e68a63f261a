-- trades_summary (repeatable): the triggers that keep migration 048's summary rollups
-- (trade_summary_totals, _days, _hours) current on every change to trades.
--
-- Why: trades has several writers (the ledger's writer, exchange sync, the legacy
-- importer and backfill, SQL run by hand), and the summary must equal a scan of the table
-- whichever wrote it. Statement triggers with transition tables fold a whole batch into one
-- grouped upsert per grain, so an import of 10,000 rows pays three upserts, not 10,000.
--
-- Same rules as ledger_rollups.sql: idempotent, definitions only (the data is filled by 048).

-- The grouped rows of `src` (a query with a `sign` column, 1 to add or -1 to subtract,
-- followed by every trades column) upserted into the three grains in one statement: hours from
-- the rows, days and totals from the hours. Ordered by key so concurrent writers lock rows in
-- one order.
CREATE OR REPLACE FUNCTION kifu_trades_summary_upsert_sql(src TEXT) RETURNS TEXT
LANGUAGE sql IMMUTABLE AS $fn$
    SELECT format($q$
        WITH g AS MATERIALIZED (
            SELECT d.user_id, date_trunc('hour', d.trade_time, 'UTC') AS hour,
                   d.exchange::text AS exchange, d.symbol::text AS symbol,
                   upper(d.side) AS side,
                   sum(d.sign)::bigint AS n,
                   coalesce(sum(d.sign * d.quantity * d.price), 0) AS volume,
                   coalesce(sum(d.sign * d.realized_pnl), 0) AS pnl,
                   coalesce(sum(d.sign) FILTER (WHERE d.realized_pnl IS NOT NULL), 0)::bigint
                     AS pnl_n,
                   coalesce(sum(d.sign) FILTER (WHERE d.realized_pnl > 0), 0)::bigint AS wins,
                   coalesce(sum(d.sign) FILTER (WHERE d.realized_pnl < 0), 0)::bigint AS losses,
                   coalesce(sum(d.sign) FILTER (WHERE d.realized_pnl = 0), 0)::bigint
                     AS breakeven
            FROM (%s) d
            GROUP BY 1, 2, 3, 4, 5
        ), hours AS (
            INSERT INTO trade_summary_hours AS t
            SELECT * FROM g ORDER BY user_id, hour, exchange, symbol, side
            ON CONFLICT (user_id, hour, exchange, symbol, side) DO UPDATE SET
                n = t.n + EXCLUDED.n, volume = t.volume + EXCLUDED.volume,
                pnl = t.pnl + EXCLUDED.pnl, pnl_n = t.pnl_n + EXCLUDED.pnl_n,
                wins = t.wins + EXCLUDED.wins, losses = t.losses + EXCLUDED.losses,
                breakeven = t.breakeven + EXCLUDED.breakeven
        ), days AS (
            INSERT INTO trade_summary_days AS t
            SELECT user_id, date_trunc('day', hour, 'UTC') AS day, exchange, symbol, side,
                   sum(n), sum(volume), sum(pnl), sum(pnl_n), sum(wins), sum(losses),
                   sum(breakeven)
            FROM g GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
            ON CONFLICT (user_id, day, exchange, symbol, side) DO UPDATE SET
                n = t.n + EXCLUDED.n, volume = t.volume + EXCLUDED.volume,
                pnl = t.pnl + EXCLUDED.pnl, pnl_n = t.pnl_n + EXCLUDED.pnl_n,
                wins = t.wins + EXCLUDED.wins, losses = t.losses + EXCLUDED.losses,
                breakeven = t.breakeven + EXCLUDED.breakeven
        )
        INSERT INTO trade_summary_totals AS t
        SELECT user_id, exchange, symbol, side, sum(n), sum(volume), sum(pnl), sum(pnl_n),
               sum(wins), sum(losses), sum(breakeven)
        FROM g GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
        ON CONFLICT (user_id, exchange, symbol, side) DO UPDATE SET
            n = t.n + EXCLUDED.n, volume = t.volume + EXCLUDED.volume,
            pnl = t.pnl + EXCLUDED.pnl, pnl_n = t.pnl_n + EXCLUDED.pnl_n,
            wins = t.wins + EXCLUDED.wins, losses = t.losses + EXCLUDED.losses,
            breakeven = t.breakeven + EXCLUDED.breakeven
    $q$, src)
$fn$;

CREATE OR REPLACE FUNCTION kifu_trades_summary() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
    -- the columns the summary reads
    moved CONSTANT TEXT := '(o.user_id, o.exchange, o.symbol, o.side, o.quantity, o.price,'
        ' o.realized_pnl, o.trade_time) IS DISTINCT FROM (n.user_id, n.exchange, n.symbol,'
        ' n.side, n.quantity, n.price, n.realized_pnl, n.trade_time)';
BEGIN
    IF TG_OP = 'INSERT' THEN
        EXECUTE kifu_trades_summary_upsert_sql('SELECT 1 AS sign, r.* FROM new_rows r');
        RETURN NULL;
    ELSIF TG_OP = 'DELETE' THEN
        EXECUTE kifu_trades_summary_upsert_sql('SELECT -1 AS sign, r.* FROM old_rows r');
    ELSE  -- only rows whose summed columns changed (linking a bubble changes none)
        EXECUTE kifu_trades_summary_upsert_sql(
            'SELECT -1 AS sign, o.* FROM old_rows o LEFT JOIN new_rows n ON n.id = o.id'
            || ' WHERE n.id IS NULL OR ' || moved
            || ' UNION ALL SELECT 1, n.* FROM new_rows n LEFT JOIN old_rows o ON o.id = n.id'
            || ' WHERE o.id IS NULL OR ' || moved);
    END IF;
    -- Groups that lost their last row go (their sums are exactly zero by then).
    DELETE FROM trade_summary_hours
    WHERE n = 0 AND user_id IN (SELECT DISTINCT user_id FROM old_rows);
    DELETE FROM trade_summary_days
    WHERE n = 0 AND user_id IN (SELECT DISTINCT user_id FROM old_rows);
    DELETE FROM trade_summary_totals
    WHERE n = 0 AND user_id IN (SELECT DISTINCT user_id FROM old_rows);
    IF TG_OP = 'UPDATE' THEN  -- a row moved to another user
        DELETE FROM trade_summary_hours
        WHERE n = 0 AND user_id IN (SELECT DISTINCT user_id FROM new_rows);
        DELETE FROM trade_summary_days
        WHERE n = 0 AND user_id IN (SELECT DISTINCT user_id FROM new_rows);
        DELETE FROM trade_summary_totals
        WHERE n = 0 AND user_id IN (SELECT DISTINCT user_id FROM new_rows);
    END IF;
    RETURN NULL;
END
$fn$;

CREATE OR REPLACE FUNCTION kifu_trades_summary_truncated() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    TRUNCATE trade_summary_totals, trade_summary_days, trade_summary_hours;
    RETURN NULL;
END
$fn$;

DROP TRIGGER IF EXISTS trades_summary_insert ON trades;
DROP TRIGGER IF EXISTS trades_summary_update ON trades;
DROP TRIGGER IF EXISTS trades_summary_delete ON trades;
DROP TRIGGER IF EXISTS trades_summary_truncate ON trades;
CREATE TRIGGER trades_summary_insert AFTER INSERT ON trades
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION kifu_trades_summary();
CREATE TRIGGER trades_summary_update AFTER UPDATE ON trades
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION kifu_trades_summary();
CREATE TRIGGER trades_summary_delete AFTER DELETE ON trades
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION kifu_trades_summary();
CREATE TRIGGER trades_summary_truncate AFTER TRUNCATE ON trades
    FOR EACH STATEMENT EXECUTE FUNCTION kifu_trades_summary_truncated();

-- The quote currency of a trades row from its exchange and symbol, for /trades/summary's
-- per-currency sums written by the database: kifu.ledger.rules.quote_of (split_symbol of the
-- symbol on that venue, crypto) for text that is all ASCII, NULL for any other text, whose
-- case mapping and white space differ between Python and the database's locale (the summary
-- then asks Python). The quote list (highest priority first), the same by length, and the
-- venues whose bare symbols are KRW-quoted are copies of rules.QUOTES, rules._SUFFIXES and
-- kit.venues.KRW_QUOTED; the function is pinned to the Python, those lists included, by
-- tests/ledger/test_trade_summary.py.
CREATE OR REPLACE FUNCTION kifu_quote_of(exchange TEXT, symbol TEXT) RETURNS TEXT
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
DECLARE
    quotes CONSTANT TEXT[] := ARRAY['USDT', 'USDC', 'FDUSD', 'BUSD', 'TUSD', 'USD', 'KRW', 'EUR',
                                    'TRY', 'BTC', 'ETH', 'BNB'];
    -- a quote ending the symbol after at least one character: the earliest-starting match is
    -- the longest, which rules._SUFFIXES tries first (two of one length cannot both end it)
    suffixes CONSTANT TEXT := '(FDUSD|USDT|USDC|BUSD|TUSD|USD|KRW|EUR|TRY|BTC|ETH|BNB)$';
    krw_venues CONSTANT TEXT[] := ARRAY['bithumb', 'kis', 'upbit'];
    asset CONSTANT TEXT := '^[A-Z0-9][A-Z0-9.]{0,19}$';
    lower_ascii CONSTANT TEXT := 'abcdefghijklmnopqrstuvwxyz';
    upper_ascii CONSTANT TEXT := 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
    s TEXT;
    b TEXT;
    q TEXT;
    parts TEXT[];
BEGIN
    IF (exchange || symbol) ~ '[^\x01-\x7f]' THEN
        RETURN NULL;
    END IF;
    -- str.strip() (ASCII white space is these ten), str.upper(), then no spaces
    s := replace(translate(btrim(symbol, E' \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f'), lower_ascii,
                           upper_ascii), ' ', '');
    IF s = '' THEN
        RETURN '?';
    END IF;
    IF position(':' IN s) > 0 THEN  -- ccxt's BTC/USDT:USDT: the settle asset is not the pair's
        s := split_part(s, ':', 1);
    END IF;
    IF position('/' IN s) > 0 THEN
        parts := string_to_array(s, '/');
        IF cardinality(parts) <> 2 THEN
            RETURN '?';
        END IF;
        b := parts[1];
        q := parts[2];
    ELSIF s ~ '[-_]' THEN
        parts := regexp_split_to_array(s, '[-_]');
        IF cardinality(parts) <> 2 THEN
            RETURN '?';
        END IF;
        -- the higher-priority quote asset is the quote (Upbit's KRW-BTC, Binance's BTC-USDT)
        IF coalesce(array_position(quotes, parts[1]), 99)
           < coalesce(array_position(quotes, parts[2]), 99) THEN
            b := parts[2];
            q := parts[1];
        ELSE
            b := parts[1];
            q := parts[2];
        END IF;
    ELSE
        q := substring(substr(s, 2) FROM suffixes);
        IF q IS NOT NULL THEN
            b := left(s, length(s) - length(q));
        ELSE
            b := s;
            q := CASE WHEN translate(exchange, upper_ascii, lower_ascii) = ANY (krw_venues)
                      THEN 'KRW' ELSE 'USDT' END;
        END IF;
    END IF;
    IF b !~ asset OR q !~ asset OR b = q THEN
        RETURN '?';
    END IF;
    RETURN q;
END
$fn$;
