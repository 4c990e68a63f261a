-- 080_ai_verdicts_rate_limit_one_shot_cache: machine-readable verdicts and their scores, the shared
-- AI rate limiter, the one-shot answer cache, and the indexes the AI reads go through.
--
-- Why:
-- * ai_opinions.verdict_direction / verdict_probability hold the verdict each provider is asked to
--   give besides its text (BUY/SELL/HOLD and the probability that this call is right at the
--   horizon), so opinions can be scored with the Brier score and calibration buckets, not only by
--   words found in the text. momentum_direction is the no-AI baseline for the same moment (the
--   direction of the last candle closed before the bubble), kept with the opinion because it is
--   computed from the same candles the prompt showed.
-- * ai_opinion_accuracies gains the verdict's score next to the reference's text-based columns, so
--   the scoring job writes each (opinion, outcome) row once, with everything the reports read.
-- * ai_rate_buckets: the per-user token bucket of the two AI POSTs, in PostgreSQL so that every API
--   process shares it (the reference kept it in one process's memory).
-- * ai_one_shot_cache: the 60-second cache of POST /ai/one-shot, in PostgreSQL for the same reason;
--   rows carry their expiry and are purged by the scoring job.
-- * Indexes: opinions are listed per bubble newest first; the scoring job anti-joins opinions with
--   their accuracy rows by opinion.

ALTER TABLE ai_opinions
    ADD COLUMN IF NOT EXISTS verdict_direction   VARCHAR(10),
    ADD COLUMN IF NOT EXISTS verdict_probability NUMERIC(6, 5),
    ADD COLUMN IF NOT EXISTS momentum_direction  VARCHAR(10);

ALTER TABLE ai_opinion_accuracies
    ADD COLUMN IF NOT EXISTS verdict_direction   VARCHAR(10),
    ADD COLUMN IF NOT EXISTS verdict_probability NUMERIC(6, 5),
    ADD COLUMN IF NOT EXISTS verdict_correct     BOOLEAN,
    ADD COLUMN IF NOT EXISTS momentum_direction  VARCHAR(10),
    ADD COLUMN IF NOT EXISTS model               VARCHAR(100);

CREATE INDEX IF NOT EXISTS idx_ai_opinions_bubble_created
    ON ai_opinions (bubble_id, created_at DESC);

CREATE TABLE IF NOT EXISTS ai_rate_buckets (
    user_id     UUID PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    tokens      DOUBLE PRECISION NOT NULL,
    refilled_at TIMESTAMPTZ      NOT NULL
);

CREATE TABLE IF NOT EXISTS ai_one_shot_cache (
    cache_key  VARCHAR(64) PRIMARY KEY,  -- sha256 hex of the request (user included)
    user_id    UUID        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    answer     JSONB       NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);

CREATE INDEX IF NOT EXISTS idx_ai_one_shot_cache_expires ON ai_one_shot_cache (expires_at);
CREATE INDEX IF NOT EXISTS idx_ai_one_shot_cache_user ON ai_one_shot_cache (user_id);
