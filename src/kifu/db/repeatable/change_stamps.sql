-- change_stamps (repeatable): the triggers that bump the change stamps of migrations 130-134.
--
-- Why: a kept answer (kifu.kit.answers) is served again only while its user's stamps are the ones
-- it was computed under, so every change to the tables it reads must bump them, whichever writer
-- made it (the ledger's writer, sync, the journal, the outcome job, SQL run by hand). Statement
-- triggers do that once per statement and user: an import of 10,000 fills bumps one row.
--   * ledger_change_stamps: trade_events (migration 130), and what the ledger's lists read beside
--     them: trades, accounts (per user); venues and instruments, shared by every user, bump
--     everyone's when a row of theirs is updated or deleted (kifu only ever inserts them). And
--     the drain of ledger_pnl_dirty: positions and realized PnL catch up from that queue after
--     the fills changed, so an answer read before the catch-up (a reader that found the ledger
--     lock taken reads what is stored) is not served after it.
--   * journal_change_stamps: bubbles, outcomes (migration 130), review_notes (GET /notes) and
--     manual_positions (their list).
--   * alerts_change_stamps (migration 131): alert_rules and alerts (their lists).
--   * accounts_change_stamps (migration 132): users (updated) and subscriptions (GET /users/me),
--     user_symbols (the watch list).
--   * review_change_stamps (migration 133): guided reviews, their items, streaks, safety labels.
--   * ai_change_stamps (migration 133): AI opinions and their accuracy scores.
--   * exchanges_change_stamps (migration 134): exchange connections and their sync health.
--   * notify_change_stamps (migration 134): notification channels.
--
-- Same rules as ledger_rollups.sql: idempotent, definitions only.

-- The next stamp for each of `changed` (users that still exist: during a user's cascading
-- delete the user is gone and so are their stamps) in `target`, upserted in user order so
-- concurrent writers lock the rows in one order.
CREATE OR REPLACE FUNCTION kifu_change_stamp(target TEXT, changed UUID[]) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    EXECUTE format(
        'INSERT INTO %I AS s (user_id, stamp)'
        ' SELECT c.id, nextval(''kifu_change_stamp_seq'')'
        ' FROM (SELECT DISTINCT id FROM unnest($1) AS c(id)) c'
        ' WHERE c.id IS NOT NULL AND EXISTS (SELECT 1 FROM users u WHERE u.id = c.id)'
        ' ORDER BY c.id'
        ' ON CONFLICT (user_id) DO UPDATE SET stamp = EXCLUDED.stamp', target)
    USING changed;
END
$fn$;

-- Every user's next stamp in `target` (users whose data predates migration 130 have no row yet).
CREATE OR REPLACE FUNCTION kifu_change_stamp_everyone(target TEXT) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    EXECUTE format(
        'INSERT INTO %I AS s (user_id, stamp)'
        ' SELECT u.id, nextval(''kifu_change_stamp_seq'') FROM users u ORDER BY u.id'
        ' ON CONFLICT (user_id) DO UPDATE SET stamp = EXCLUDED.stamp', target);
END
$fn$;

-- A table with a user_id column: the users of its inserted, deleted or updated (old and new)
-- rows get the next stamp in TG_ARGV[0]; a TRUNCATE bumps everyone's.
CREATE OR REPLACE FUNCTION kifu_user_stamp() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
    target CONSTANT TEXT := TG_ARGV[0];
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM kifu_change_stamp(target, ARRAY(SELECT user_id FROM new_rows));
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM kifu_change_stamp(target, ARRAY(SELECT user_id FROM old_rows));
    ELSIF TG_OP = 'UPDATE' THEN
        PERFORM kifu_change_stamp(target, ARRAY(
            SELECT user_id FROM old_rows UNION SELECT user_id FROM new_rows));
    ELSE  -- TRUNCATE: every user's rows are gone
        PERFORM kifu_change_stamp_everyone(target);
    END IF;
    RETURN NULL;
END
$fn$;

-- venues and instruments: every user's ledger stamp, when a row was updated or deleted (or all
-- truncated).
CREATE OR REPLACE FUNCTION kifu_ledger_stamp_all() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM kifu_change_stamp_everyone('ledger_change_stamps');
    ELSIF EXISTS (SELECT 1 FROM old_rows) THEN
        PERFORM kifu_change_stamp_everyone('ledger_change_stamps');
    END IF;
    RETURN NULL;
END
$fn$;

-- A table whose rows belong to a user through a parent row (outcomes, AI opinions and scores
-- through their bubble; guided review items through their review): the users of the parents of
-- its inserted, deleted or updated rows get the next stamp in TG_ARGV[0]; TG_ARGV[1] is the
-- parent table (with user_id), TG_ARGV[2] the row's column naming it. A row deleted with its
-- parent finds none, and the parent's own trigger has bumped the user's stamp. A TRUNCATE bumps
-- everyone's.
CREATE OR REPLACE FUNCTION kifu_parent_stamp() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
    target CONSTANT TEXT := TG_ARGV[0];
    parents CONSTANT TEXT := format('SELECT p.user_id FROM %%s r JOIN %I p ON p.id = r.%I',
                                    TG_ARGV[1], TG_ARGV[2]);
    changed UUID[];
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM kifu_change_stamp_everyone(target);
        RETURN NULL;
    ELSIF TG_OP = 'INSERT' THEN
        EXECUTE format('SELECT ARRAY(' || parents || ')', 'new_rows') INTO changed;
    ELSIF TG_OP = 'DELETE' THEN
        EXECUTE format('SELECT ARRAY(' || parents || ')', 'old_rows') INTO changed;
    ELSE
        EXECUTE format('SELECT ARRAY(' || parents || ' UNION ' || parents || ')',
                       'old_rows', 'new_rows') INTO changed;
    END IF;
    PERFORM kifu_change_stamp(target, changed);
    RETURN NULL;
END
$fn$;

-- users: the updated users' own accounts stamp (a user row's key is its id; a new user has no
-- answer to change, a deleted one takes their stamps along).
CREATE OR REPLACE FUNCTION kifu_users_stamp() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM kifu_change_stamp('accounts_change_stamps', ARRAY(SELECT id FROM new_rows));
    RETURN NULL;
END
$fn$;

-- Who bumps which stamp: each table's statement triggers <table>_stamp_<event>, made from this
-- list (dropped and made again, so a changed line takes effect on the next upgrade); events NULL
-- means insert, update, delete and truncate.
DO $do$
DECLARE
    t RECORD;
    event TEXT;
BEGIN
    FOR t IN SELECT * FROM (VALUES
        -- ledger_change_stamps: the fills and what the ledger's lists read beside them
        ('trade_events', 'kifu_user_stamp(''ledger_change_stamps'')', NULL),
        ('trades', 'kifu_user_stamp(''ledger_change_stamps'')', NULL),
        ('accounts', 'kifu_user_stamp(''ledger_change_stamps'')', NULL),
        ('ledger_pnl_dirty', 'kifu_user_stamp(''ledger_change_stamps'')', '{delete}'),
        ('venues', 'kifu_ledger_stamp_all()', '{update,delete,truncate}'),
        ('instruments', 'kifu_ledger_stamp_all()', '{update,delete,truncate}'),
        -- journal_change_stamps
        ('bubbles', 'kifu_user_stamp(''journal_change_stamps'')', NULL),
        ('review_notes', 'kifu_user_stamp(''journal_change_stamps'')', NULL),
        ('manual_positions', 'kifu_user_stamp(''journal_change_stamps'')', NULL),
        ('outcomes', 'kifu_parent_stamp(''journal_change_stamps'', ''bubbles'', ''bubble_id'')',
         NULL),
        -- alerts_change_stamps
        ('alert_rules', 'kifu_user_stamp(''alerts_change_stamps'')', NULL),
        ('alerts', 'kifu_user_stamp(''alerts_change_stamps'')', NULL),
        -- accounts_change_stamps
        ('users', 'kifu_users_stamp()', '{update}'),
        ('subscriptions', 'kifu_user_stamp(''accounts_change_stamps'')', NULL),
        ('user_symbols', 'kifu_user_stamp(''accounts_change_stamps'')', NULL),
        -- review_change_stamps
        ('guided_reviews', 'kifu_user_stamp(''review_change_stamps'')', NULL),
        ('guided_review_items',
         'kifu_parent_stamp(''review_change_stamps'', ''guided_reviews'', ''review_id'')', NULL),
        ('user_streaks', 'kifu_user_stamp(''review_change_stamps'')', NULL),
        ('trade_safety_reviews', 'kifu_user_stamp(''review_change_stamps'')', NULL),
        -- ai_change_stamps
        ('ai_opinions', 'kifu_parent_stamp(''ai_change_stamps'', ''bubbles'', ''bubble_id'')',
         NULL),
        ('ai_opinion_accuracies',
         'kifu_parent_stamp(''ai_change_stamps'', ''bubbles'', ''bubble_id'')', NULL),
        -- exchanges_change_stamps
        ('exchange_credentials', 'kifu_user_stamp(''exchanges_change_stamps'')', NULL),
        ('exchange_sync_status', 'kifu_user_stamp(''exchanges_change_stamps'')', NULL),
        -- notify_change_stamps
        ('notification_channels', 'kifu_user_stamp(''notify_change_stamps'')', NULL)
    ) AS v(tbl, fn, events) LOOP
        FOREACH event IN ARRAY coalesce(t.events::text[], '{insert,update,delete,truncate}') LOOP
            EXECUTE format('DROP TRIGGER IF EXISTS %I ON %I', t.tbl || '_stamp_' || event, t.tbl);
            EXECUTE format(
                'CREATE TRIGGER %I AFTER %s ON %I %s FOR EACH STATEMENT EXECUTE FUNCTION %s',
                t.tbl || '_stamp_' || event, upper(event), t.tbl,
                CASE event
                    WHEN 'insert' THEN 'REFERENCING NEW TABLE AS new_rows'
                    WHEN 'update' THEN 'REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows'
                    WHEN 'delete' THEN 'REFERENCING OLD TABLE AS old_rows'
                    ELSE ''
                END,
                t.fn);
        END LOOP;
    END LOOP;
END
$do$;

-- Earlier definitions of this file, no longer used by any trigger.
DROP FUNCTION IF EXISTS kifu_ledger_stamp();
DROP FUNCTION IF EXISTS kifu_journal_stamp();
DROP FUNCTION IF EXISTS kifu_outcomes_stamp();
