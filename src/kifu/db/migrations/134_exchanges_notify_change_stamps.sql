-- 134_exchanges_notify_change_stamps: a number per user that changes with every change to their
-- exchange connections and sync health, and one that changes with every change to their
-- notification channels.
--
-- Why: GET /exchanges and GET /notifications/channels (the Settings screen's lists) were the last
-- reads of bench/api.py under half the floor, 0.40x and 0.43x with two processes (a routed
-- request and a query each time), once the review reads (migration 133), the manual positions
-- and the watch list were kept answers. With these stamps an API process keeps each list and
-- serves it again after one probe of a primary key, until a connection is added, tested,
-- synced or deleted, or a channel changes (kifu.exchanges.service, kifu.notify.service).
--
--  * exchanges_change_stamps (owner: exchanges): exchange_credentials and exchange_sync_status
--    (the poller's every attempt moves it, so the list's sync health is never stale).
--  * notify_change_stamps (owner: notify): notification_channels.
--
-- Bumped by the statement triggers of db/repeatable/change_stamps.sql, as the stamps of
-- migrations 130-133 are.

CREATE TABLE IF NOT EXISTS exchanges_change_stamps (
    user_id UUID   PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    stamp   BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS notify_change_stamps (
    user_id UUID   PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    stamp   BIGINT NOT NULL
);
