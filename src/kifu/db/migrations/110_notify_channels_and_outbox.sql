-- 110_notify_channels_and_outbox: webhook and ntfy channels, and the outbox every message leaves by.
--
-- Why:
-- * notification_channels took only 'telegram' and 'web_push', one row per type. Self-hosters get
--   two channels that need no Telegram: 'webhook' (JSON POST signed with HMAC-SHA256 under a
--   per-channel secret, stored encrypted in secret_enc) and 'ntfy' (a topic on an ntfy server).
--   A user may add several of those, so the one-per-type rule stays only for telegram/web_push.
-- * notification_outbox: every message to the outside (alert notifications, Telegram bot replies,
--   channel tests) is written here in the transaction that decides to send it, then delivered by
--   the delivery job: claimed with SKIP LOCKED under a lease, sent once, retried with backoff,
--   kept as 'failed' with the reason after the last try. dedupe_key makes enqueueing idempotent
--   (one notification per alert and channel, whatever retries the producer makes).

ALTER TABLE notification_channels DROP CONSTRAINT IF EXISTS notification_channels_channel_type_check;
ALTER TABLE notification_channels ADD CONSTRAINT notification_channels_channel_type_check
    CHECK (channel_type IN ('telegram', 'web_push', 'webhook', 'ntfy'));
ALTER TABLE notification_channels
    DROP CONSTRAINT IF EXISTS notification_channels_user_id_channel_type_key;
CREATE UNIQUE INDEX IF NOT EXISTS uq_notification_channels_user_single_type
    ON notification_channels (user_id, channel_type)
    WHERE channel_type IN ('telegram', 'web_push');
CREATE INDEX IF NOT EXISTS idx_notification_channels_user
    ON notification_channels (user_id, created_at);
ALTER TABLE notification_channels ADD COLUMN IF NOT EXISTS secret_enc TEXT;

CREATE INDEX IF NOT EXISTS idx_telegram_verify_codes_open
    ON telegram_verify_codes (code, expires_at) WHERE used = false;

CREATE TABLE IF NOT EXISTS notification_outbox (
    id              UUID        PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id         UUID        REFERENCES users (id) ON DELETE CASCADE,
    channel_id      UUID        REFERENCES notification_channels (id) ON DELETE CASCADE,
    channel_type    VARCHAR(20) NOT NULL CHECK (channel_type IN ('telegram', 'webhook', 'ntfy')),
    target          JSONB       NOT NULL,  -- chat_id / url / server + topic, as at enqueue time
    kind            VARCHAR(30) NOT NULL,  -- alert | telegram_reply | test
    payload         JSONB       NOT NULL,  -- title, body, severity, link, data
    dedupe_key      TEXT        UNIQUE,
    status          VARCHAR(10) NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
    attempts        INTEGER     NOT NULL DEFAULT 0,
    max_attempts    INTEGER     NOT NULL DEFAULT 5,
    next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    lease_until     TIMESTAMPTZ,
    last_error      TEXT,
    sent_at         TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT NOW()
);

CREATE INDEX IF NOT EXISTS idx_notification_outbox_due
    ON notification_outbox (next_attempt_at) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS idx_notification_outbox_leased
    ON notification_outbox (lease_until) WHERE status = 'sending';
CREATE INDEX IF NOT EXISTS idx_notification_outbox_user
    ON notification_outbox (user_id, created_at DESC);
CREATE INDEX IF NOT EXISTS idx_notification_outbox_channel ON notification_outbox (channel_id);
