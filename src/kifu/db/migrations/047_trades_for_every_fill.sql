-- 047_trades_for_every_fill: every trade-like fill of the ledger has its `trades` row, linked to
-- its event; the change queue also carries fee changes, which move positions but not FIFO.
--
-- Why: the Trades screen, the Chart markers and every trade count of Home and Review read `trades`,
-- which only the legacy importer and exchange sync wrote. Fills brought in by the unified importer
-- (`POST /imports/trades`, `kifu import`) never showed, so a trader who imported a Binance export
-- saw an empty Trades page. From now on the ledger's one write path (kifu.ledger.writer) writes
-- the `trades` row of each new trade-like fill in the same transaction, and `trades.event_id`
-- says which event a row projects (nothing in the reference schema linked the two). This file
-- links the rows that already exist and projects the fills that have none:
--   1. rows whose event names them in `metadata.trade_id` (what the legacy importer, the backfill
--      and sync stored) are linked to that event;
--   2. every other trade-like event gets a new row: `binance_trade_id` is the venue's numeric
--      trade id when it has one, else the stable negative id the legacy importer derives from the
--      key (kifu_synthetic_trade_id, written out here because repeatable functions are applied
--      after the migrations); the symbol is the chart's (BASE || QUOTE), as sync writes it.
--   A row that would collide with an existing unlinked trade of the same (exchange, symbol, id)
--   is that trade: it is linked instead of duplicated.
-- ledger_pnl_dirty.replay: the queue of changed books drives positions and the realized-PnL
-- replay alike (kifu.ledger.tracker); a fee edit dirties the book's position (fees) without a
-- FIFO replay.

ALTER TABLE trades ADD COLUMN IF NOT EXISTS event_id UUID REFERENCES trade_events (id)
    ON DELETE CASCADE;
CREATE UNIQUE INDEX IF NOT EXISTS idx_trades_event_id ON trades (event_id)
    WHERE event_id IS NOT NULL;

ALTER TABLE ledger_pnl_dirty ADD COLUMN IF NOT EXISTS replay BOOLEAN NOT NULL DEFAULT true;

-- 1. Rows the events name.
UPDATE trades t SET event_id = e.id
FROM (
    SELECT DISTINCT ON (user_id, metadata->>'trade_id') id, user_id,
           (metadata->>'trade_id')::uuid AS trade_id
    FROM trade_events
    WHERE jsonb_typeof(metadata) = 'object'
      AND metadata->>'trade_id' ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
    ORDER BY user_id, metadata->>'trade_id', executed_at, id
) e
WHERE t.id = e.trade_id AND t.user_id = e.user_id AND t.event_id IS NULL
  AND NOT EXISTS (SELECT 1 FROM trades x WHERE x.event_id = e.id);

-- 2. Every other trade-like event: its projected row.
CREATE TEMP TABLE _projected ON COMMIT DROP AS
SELECT DISTINCT ON (e.user_id, k.exchange, k.symbol, k.trade_no)
       e.id AS event_id, e.user_id, k.exchange, k.symbol, k.trade_no, upper(e.side) AS side,
       e.qty, e.price, e.executed_at
FROM trade_events e
JOIN instruments i ON i.id = e.instrument_id
LEFT JOIN venues v ON v.id = e.venue_id
CROSS JOIN LATERAL (
    SELECT left(coalesce(v.code, 'unknown'), 30) AS exchange,
           left(upper(i.base_asset || i.quote_asset), 20) AS symbol,
           CASE WHEN e.external_id ~ '^[1-9][0-9]{0,17}$' THEN e.external_id::bigint
                ELSE -((('x' || substr(
                        CASE WHEN e.dedupe_key ~ '^[0-9a-f]{16}' THEN e.dedupe_key
                             ELSE encode(sha256(convert_to(coalesce(e.dedupe_key, e.id::text),
                                                           'UTF8')), 'hex') END,
                        1, 16))::bit(64) >> 2)::bigint) - 1
           END AS trade_no
) k
WHERE e.event_type IN ('spot_trade', 'perp_trade', 'dex_swap')
  AND e.side IN ('buy', 'sell') AND e.qty IS NOT NULL AND e.price IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM trades t WHERE t.event_id = e.id)
ORDER BY e.user_id, k.exchange, k.symbol, k.trade_no, e.executed_at, e.id;

UPDATE trades t SET event_id = p.event_id
FROM _projected p
WHERE t.user_id = p.user_id AND t.exchange = p.exchange AND t.symbol = p.symbol
  AND t.binance_trade_id = p.trade_no AND t.event_id IS NULL;

INSERT INTO trades (user_id, binance_trade_id, exchange, symbol, side, quantity, price,
                    trade_time, event_id)
SELECT p.user_id, p.trade_no, p.exchange, p.symbol, p.side, p.qty, p.price, p.executed_at,
       p.event_id
FROM _projected p
WHERE NOT EXISTS (SELECT 1 FROM trades t WHERE t.event_id = p.event_id)
ON CONFLICT DO NOTHING;
