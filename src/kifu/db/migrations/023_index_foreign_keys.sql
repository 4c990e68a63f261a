-- 023_index_foreign_keys: add a B-tree index on every foreign-key column that no index leads with.
--
-- Why: reference schema doc §7.4 item 16. These 17 FK columns have no index whose leading column
-- covers them, so per-user/per-parent lookups (e.g. bubbles by user, trades by bubble) scan the table,
-- and every DELETE or key update on the parent row (ON DELETE CASCADE / SET NULL / NO ACTION checks)
-- does a sequential scan of the child table. Every other FK in 001-022 is already covered by a
-- primary key, UNIQUE constraint or index that leads with it, so nothing else is added here.
-- (summary_packs.source_run_id only appears as the second column of idx_summary_packs_user_source_run,
-- which cannot serve the cascade from runs.)
--
-- Plain CREATE INDEX (no concurrent build: the runner applies each file inside a transaction);
-- each build briefly blocks writes to its table. IF NOT EXISTS keeps the file safe on databases
-- where someone already added an index of the same name by hand.

CREATE INDEX IF NOT EXISTS idx_refresh_tokens_user_id               ON refresh_tokens (user_id);
CREATE INDEX IF NOT EXISTS idx_refresh_tokens_replaced_by           ON refresh_tokens (replaced_by);
CREATE INDEX IF NOT EXISTS idx_bubbles_user_id                      ON bubbles (user_id);
CREATE INDEX IF NOT EXISTS idx_trades_bubble_id                     ON trades (bubble_id);
CREATE INDEX IF NOT EXISTS idx_ai_opinions_bubble_id                ON ai_opinions (bubble_id);
CREATE INDEX IF NOT EXISTS idx_ai_opinion_accuracies_outcome_id     ON ai_opinion_accuracies (outcome_id);
CREATE INDEX IF NOT EXISTS idx_alerts_rule_id                       ON alerts (rule_id);
CREATE INDEX IF NOT EXISTS idx_alert_decisions_user_id              ON alert_decisions (user_id);
CREATE INDEX IF NOT EXISTS idx_alert_outcomes_decision_id           ON alert_outcomes (decision_id);
CREATE INDEX IF NOT EXISTS idx_telegram_verify_codes_user_id        ON telegram_verify_codes (user_id);
CREATE INDEX IF NOT EXISTS idx_trade_events_account_id              ON trade_events (account_id);
CREATE INDEX IF NOT EXISTS idx_positions_venue_id                   ON positions (venue_id);
CREATE INDEX IF NOT EXISTS idx_position_events_trade_event_id       ON position_events (trade_event_id);
CREATE INDEX IF NOT EXISTS idx_trade_safety_reviews_trade_id        ON trade_safety_reviews (trade_id);
CREATE INDEX IF NOT EXISTS idx_trade_safety_reviews_trade_event_id  ON trade_safety_reviews (trade_event_id);
CREATE INDEX IF NOT EXISTS idx_guided_review_items_trade_id         ON guided_review_items (trade_id);
CREATE INDEX IF NOT EXISTS idx_summary_packs_source_run_id          ON summary_packs (source_run_id);
