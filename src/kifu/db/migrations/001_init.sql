-- 001_init: base schema (pgcrypto + 12 core tables); not re-runnable by design (plain CREATE TABLE).

CREATE EXTENSION IF NOT EXISTS pgcrypto;

CREATE TABLE users (
    id            UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    email         VARCHAR(255) NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    name          VARCHAR(255) NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT NOW()
);

CREATE TABLE ai_providers (
    id         UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    name       VARCHAR(50) NOT NULL,
    model      VARCHAR(100) NOT NULL,
    enabled    BOOLEAN NOT NULL DEFAULT true,
    is_default BOOLEAN NOT NULL DEFAULT false,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    UNIQUE (name, model)
);

CREATE TABLE refresh_tokens (
    id             UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id        UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash     VARCHAR(64) NOT NULL UNIQUE,
    expires_at     TIMESTAMPTZ NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    revoked_at     TIMESTAMPTZ,
    last_used_at   TIMESTAMPTZ,
    replaced_by    UUID REFERENCES refresh_tokens (id),
    revoked_reason VARCHAR(50)
);

CREATE TABLE exchange_credentials (
    id             UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id        UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    exchange       VARCHAR(50) NOT NULL,
    api_key_enc    TEXT NOT NULL,
    api_secret_enc TEXT NOT NULL,
    api_key_last4  VARCHAR(4) NOT NULL,
    is_valid       BOOLEAN NOT NULL DEFAULT true,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    UNIQUE (user_id, exchange)
);

CREATE TABLE user_symbols (
    id                UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id           UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    symbol            VARCHAR(20) NOT NULL,
    timeframe_default VARCHAR(10) NOT NULL DEFAULT '1h',
    created_at        TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    UNIQUE (user_id, symbol)
);

CREATE TABLE bubbles (
    id          UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    symbol      VARCHAR(20) NOT NULL,
    timeframe   VARCHAR(10) NOT NULL,
    candle_time TIMESTAMPTZ NOT NULL,
    price       NUMERIC(18, 8) NOT NULL,
    bubble_type VARCHAR(10) NOT NULL CHECK (bubble_type IN ('manual', 'auto')),
    memo        TEXT,
    tags        TEXT[],
    created_at  TIMESTAMPTZ NOT NULL DEFAULT NOW()
);

CREATE INDEX idx_bubbles_tags ON bubbles USING GIN (tags);

CREATE TABLE trades (
    id               UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id          UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    bubble_id        UUID REFERENCES bubbles (id) ON DELETE SET NULL,
    binance_trade_id BIGINT NOT NULL,
    symbol           VARCHAR(20) NOT NULL,
    side             VARCHAR(10) NOT NULL,
    quantity         NUMERIC(18, 8) NOT NULL,
    price            NUMERIC(18, 8) NOT NULL,
    realized_pnl     NUMERIC(18, 8),
    trade_time       TIMESTAMPTZ NOT NULL,
    UNIQUE (user_id, symbol, binance_trade_id)
);

CREATE TABLE trade_sync_state (
    id            UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id       UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    symbol        VARCHAR(20) NOT NULL,
    last_trade_id BIGINT NOT NULL,
    last_sync_at  TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    UNIQUE (user_id, symbol)
);

CREATE TABLE ai_opinions (
    id              UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    bubble_id       UUID NOT NULL REFERENCES bubbles (id) ON DELETE CASCADE,
    provider        VARCHAR(50) NOT NULL,
    model           VARCHAR(100) NOT NULL,
    prompt_template TEXT NOT NULL,
    response        TEXT NOT NULL,
    tokens_used     INTEGER,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT NOW()
);

CREATE TABLE user_ai_keys (
    id            UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id       UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider      VARCHAR(50) NOT NULL,
    api_key_enc   TEXT NOT NULL,
    api_key_last4 VARCHAR(4) NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    UNIQUE (user_id, provider)
);

CREATE TABLE outcomes (
    id              UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    bubble_id       UUID NOT NULL REFERENCES bubbles (id) ON DELETE CASCADE,
    period          VARCHAR(10) NOT NULL CHECK (period IN ('1h', '4h', '1d')),
    reference_price NUMERIC(18, 8) NOT NULL,
    outcome_price   NUMERIC(18, 8) NOT NULL,
    pnl_percent     NUMERIC(18, 8) NOT NULL,
    calculated_at   TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    UNIQUE (bubble_id, period)
);

CREATE TABLE subscriptions (
    id                 UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id            UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    tier               VARCHAR(20) NOT NULL CHECK (tier IN ('free', 'silver', 'gold', 'vip')),
    ai_quota_remaining INTEGER NOT NULL,
    last_reset_at      TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    expires_at         TIMESTAMPTZ,
    UNIQUE (user_id)
);
