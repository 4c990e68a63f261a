-- 100_alert_monitor_state: what the alert monitor, the briefing step and the alert outcome job need.
--
-- Why:
-- * alert_rules_due: the monitor scans every enabled rule each 30 s grouped by symbol; the reference
--   index (user_id, enabled) does not serve a scan across users.
-- * alerts.brief_lease_until: the step after a trigger (briefing, then notification) claims a pending
--   alert for a while, so two workers never brief or notify the same alert, and an alert whose
--   worker died is taken up again when the lease ends.
-- * alerts.brief_error: a briefing that failed still moves the alert to 'briefed'; the reason is kept.
-- * idx_alerts_open_created: the expiry sweep (pending/briefed older than 24 h) and the briefing
--   claim read only open alerts, oldest first.
-- * idx_alerts_user_created: GET /alerts lists a user's alerts newest first.
-- * alert_outcome_attempts: the 1h/4h/1d outcome job claims its work here (a lease, as
--   outcome_attempts does for bubbles), backs off when a candle is not there yet and marks symbols
--   without a price source once instead of re-scanning them every minute.

ALTER TABLE alerts ADD COLUMN IF NOT EXISTS brief_lease_until TIMESTAMPTZ;
ALTER TABLE alerts ADD COLUMN IF NOT EXISTS brief_error TEXT;

CREATE INDEX IF NOT EXISTS idx_alert_rules_due ON alert_rules (symbol) WHERE enabled = true;
CREATE INDEX IF NOT EXISTS idx_alerts_open_created
    ON alerts (created_at) WHERE status IN ('pending', 'briefed');
CREATE INDEX IF NOT EXISTS idx_alerts_user_created ON alerts (user_id, created_at DESC, id);

CREATE TABLE IF NOT EXISTS alert_outcome_attempts (
    alert_id        UUID        NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    period          VARCHAR(10) NOT NULL CHECK (period IN ('1h', '4h', '1d')),
    status          VARCHAR(10) NOT NULL CHECK (status IN ('retry', 'skipped')),
    attempts        INTEGER     NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    last_error      TEXT,
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    PRIMARY KEY (alert_id, period)
);
