-- 060_exchange_sync_status: per-credential sync health, shared by every API process and worker.
--
-- Why: the reference poller kept its schedule in process memory (one loop per credential started
-- at boot), so credentials added later were never polled, two replicas synced the same account at
-- once, and a failing key was retried every 5 minutes forever (§3, §7.2 item 6). kifu's poller
-- reads this table on every tick: when a credential was last tried and last succeeded, how many
-- syncs in a row failed and therefore when it may be tried again (backoff, or the end of an
-- exchange's IP ban), the last error, and how far back Binance's 3-month income history reached.
-- Rows go with their credential (ON DELETE CASCADE).

CREATE TABLE IF NOT EXISTS exchange_sync_status (
    credential_id        UUID PRIMARY KEY REFERENCES exchange_credentials (id) ON DELETE CASCADE,
    user_id              UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    last_attempt_at      TIMESTAMPTZ,
    last_success_at      TIMESTAMPTZ,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    next_attempt_at      TIMESTAMPTZ,
    last_error           TEXT,
    last_error_code      VARCHAR(50),
    last_run_id          UUID,
    income_history_from  TIMESTAMPTZ,
    updated_at           TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Foreign keys get an index (as in 023): user deletion cascades through it.
CREATE INDEX IF NOT EXISTS idx_exchange_sync_status_user ON exchange_sync_status (user_id);
