-- 015_add_ai_quota_limit: add subscriptions.ai_quota_limit, backfilled from ai_quota_remaining, then NOT NULL DEFAULT 200.

ALTER TABLE subscriptions
    ADD COLUMN ai_quota_limit INTEGER;

UPDATE subscriptions
SET ai_quota_limit = ai_quota_remaining
WHERE ai_quota_limit IS NULL;

ALTER TABLE subscriptions
    ALTER COLUMN ai_quota_limit SET NOT NULL,
    ALTER COLUMN ai_quota_limit SET DEFAULT 200;
