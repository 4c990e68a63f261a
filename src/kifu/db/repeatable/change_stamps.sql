-- change_stamps (repeatable): the triggers that bump the change stamps of migrations 130 and 131.
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
--   * journal_change_stamps: bubbles, outcomes (migration 130) and review_notes (GET /notes).
--   * alerts_change_stamps (migration 131): alert_rules and alerts (their lists).
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

-- outcomes: their bubble's user's journal stamp (an outcome deleted with its bubble finds none,
-- and the bubble's own trigger has bumped it).
CREATE OR REPLACE FUNCTION kifu_outcomes_stamp() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM kifu_change_stamp_everyone('journal_change_stamps');
    ELSIF TG_OP = 'INSERT' THEN
        PERFORM kifu_change_stamp('journal_change_stamps', ARRAY(
            SELECT b.user_id FROM new_rows r JOIN bubbles b ON b.id = r.bubble_id));
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM kifu_change_stamp('journal_change_stamps', ARRAY(
            SELECT b.user_id FROM old_rows r JOIN bubbles b ON b.id = r.bubble_id));
    ELSE
        PERFORM kifu_change_stamp('journal_change_stamps', ARRAY(
            SELECT b.user_id FROM (SELECT bubble_id FROM old_rows
                                   UNION SELECT bubble_id FROM new_rows) r
            JOIN bubbles b ON b.id = r.bubble_id));
    END IF;
    RETURN NULL;
END
$fn$;

-- ledger_change_stamps
DROP TRIGGER IF EXISTS trade_events_stamp_insert ON trade_events;
DROP TRIGGER IF EXISTS trade_events_stamp_update ON trade_events;
DROP TRIGGER IF EXISTS trade_events_stamp_delete ON trade_events;
DROP TRIGGER IF EXISTS trade_events_stamp_truncate ON trade_events;
CREATE TRIGGER trade_events_stamp_insert AFTER INSERT ON trade_events
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION kifu_user_stamp('ledger_change_stamps');
CREATE TRIGGER trade_events_stamp_update AFTER UPDATE ON trade_events
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION kifu_user_stamp('ledger_change_stamps');
CREATE TRIGGER trade_events_stamp_delete AFTER DELETE ON trade_events
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION kifu_user_stamp('ledger_change_stamps');
CREATE TRIGGER trade_events_stamp_truncate AFTER TRUNCATE ON trade_events
    FOR EACH STATEMENT EXECUTE FUNCTION kifu_user_stamp('ledger_change_stamps');

DROP TRIGGER IF EXISTS trades_stamp_insert ON trades;
DROP TRIGGER IF EXISTS trades_stamp_update ON trades;
DROP TRIGGER IF EXISTS trades_stamp_delete ON trades;
DROP TRIGGER IF EXISTS trades_stamp_truncate ON trades;
CREATE TRIGGER trades_stamp_insert AFTER INSERT ON trades
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION kifu_user_stamp('ledger_change_stamps');
CREATE TRIGGER trades_stamp_update AFTER UPDATE ON trades
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION kifu_user_stamp('ledger_change_stamps');
CREATE TRIGGER trades_stamp_delete AFTER DELETE ON trades
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION kifu_user_stamp('ledger_change_stamps');
CREATE TRIGGER trades_stamp_truncate AFTER TRUNCATE ON trades
    FOR EACH STATEMENT EXECUTE FUNCTION kifu_user_stamp('ledger_change_stamps');

DROP TRIGGER IF EXISTS accounts_stamp_insert ON accounts;
DROP TRIGGER IF EXISTS accounts_stamp_update ON accounts;
DROP TRIGGER IF EXISTS accounts_stamp_delete ON accounts;
DROP TRIGGER IF EXISTS accounts_stamp_truncate ON accounts;
CREATE TRIGGER accounts_stamp_insert AFTER INSERT ON accounts
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION kifu_user_stamp('ledger_change_stamps');
CREATE TRIGGER accounts_stamp_update AFTER UPDATE ON accounts
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION kifu_user_stamp('ledger_change_stamps');
CREATE TRIGGER accounts_stamp_delete AFTER DELETE ON accounts
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION kifu_user_stamp('ledger_change_stamps');
CREATE TRIGGER accounts_stamp_truncate AFTER TRUNCATE ON accounts
    FOR EACH STATEMENT EXECUTE FUNCTION kifu_user_stamp('ledger_change_stamps');

DROP TRIGGER IF EXISTS ledger_pnl_dirty_stamp_delete ON ledger_pnl_dirty;
CREATE TRIGGER ledger_pnl_dirty_stamp_delete AFTER DELETE ON ledger_pnl_dirty
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION kifu_user_stamp('ledger_change_stamps');

DROP TRIGGER IF EXISTS venues_stamp_update ON venues;
DROP TRIGGER IF EXISTS venues_stamp_delete ON venues;
DROP TRIGGER IF EXISTS venues_stamp_truncate ON venues;
CREATE TRIGGER venues_stamp_update AFTER UPDATE ON venues
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION kifu_ledger_stamp_all();
CREATE TRIGGER venues_stamp_delete AFTER DELETE ON venues
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION kifu_ledger_stamp_all();
CREATE TRIGGER venues_stamp_truncate AFTER TRUNCATE ON venues
    FOR EACH STATEMENT EXECUTE FUNCTION kifu_ledger_stamp_all();

DROP TRIGGER IF EXISTS instruments_stamp_update ON instruments;
DROP TRIGGER IF EXISTS instruments_stamp_delete ON instruments;
DROP TRIGGER IF EXISTS instruments_stamp_truncate ON instruments;
CREATE TRIGGER instruments_stamp_update AFTER UPDATE ON instruments
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION kifu_ledger_stamp_all();
CREATE TRIGGER instruments_stamp_delete AFTER DELETE ON instruments
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION kifu_ledger_stamp_all();
CREATE TRIGGER instruments_stamp_truncate AFTER TRUNCATE ON instruments
    FOR EACH STATEMENT EXECUTE FUNCTION kifu_ledger_stamp_all();

-- journal_change_stamps
DROP TRIGGER IF EXISTS bubbles_stamp_insert ON bubbles;
DROP TRIGGER IF EXISTS bubbles_stamp_update ON bubbles;
DROP TRIGGER IF EXISTS bubbles_stamp_delete ON bubbles;
DROP TRIGGER IF EXISTS bubbles_stamp_truncate ON bubbles;
CREATE TRIGGER bubbles_stamp_insert AFTER INSERT ON bubbles
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION kifu_user_stamp('journal_change_stamps');
CREATE TRIGGER bubbles_stamp_update AFTER UPDATE ON bubbles
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION kifu_user_stamp('journal_change_stamps');
CREATE TRIGGER bubbles_stamp_delete AFTER DELETE ON bubbles
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION kifu_user_stamp('journal_change_stamps');
CREATE TRIGGER bubbles_stamp_truncate AFTER TRUNCATE ON bubbles
    FOR EACH STATEMENT EXECUTE FUNCTION kifu_user_stamp('journal_change_stamps');

DROP TRIGGER IF EXISTS review_notes_stamp_insert ON review_notes;
DROP TRIGGER IF EXISTS review_notes_stamp_update ON review_notes;
DROP TRIGGER IF EXISTS review_notes_stamp_delete ON review_notes;
DROP TRIGGER IF EXISTS review_notes_stamp_truncate ON review_notes;
CREATE TRIGGER review_notes_stamp_insert AFTER INSERT ON review_notes
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION kifu_user_stamp('journal_change_stamps');
CREATE TRIGGER review_notes_stamp_update AFTER UPDATE ON review_notes
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION kifu_user_stamp('journal_change_stamps');
CREATE TRIGGER review_notes_stamp_delete AFTER DELETE ON review_notes
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION kifu_user_stamp('journal_change_stamps');
CREATE TRIGGER review_notes_stamp_truncate AFTER TRUNCATE ON review_notes
    FOR EACH STATEMENT EXECUTE FUNCTION kifu_user_stamp('journal_change_stamps');

DROP TRIGGER IF EXISTS outcomes_stamp_insert ON outcomes;
DROP TRIGGER IF EXISTS outcomes_stamp_update ON outcomes;
DROP TRIGGER IF EXISTS outcomes_stamp_delete ON outcomes;
DROP TRIGGER IF EXISTS outcomes_stamp_truncate ON outcomes;
CREATE TRIGGER outcomes_stamp_insert AFTER INSERT ON outcomes
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION kifu_outcomes_stamp();
CREATE TRIGGER outcomes_stamp_update AFTER UPDATE ON outcomes
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION kifu_outcomes_stamp();
CREATE TRIGGER outcomes_stamp_delete AFTER DELETE ON outcomes
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION kifu_outcomes_stamp();
CREATE TRIGGER outcomes_stamp_truncate AFTER TRUNCATE ON outcomes
    FOR EACH STATEMENT EXECUTE FUNCTION kifu_outcomes_stamp();

-- alerts_change_stamps
DROP TRIGGER IF EXISTS alert_rules_stamp_insert ON alert_rules;
DROP TRIGGER IF EXISTS alert_rules_stamp_update ON alert_rules;
DROP TRIGGER IF EXISTS alert_rules_stamp_delete ON alert_rules;
DROP TRIGGER IF EXISTS alert_rules_stamp_truncate ON alert_rules;
CREATE TRIGGER alert_rules_stamp_insert AFTER INSERT ON alert_rules
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION kifu_user_stamp('alerts_change_stamps');
CREATE TRIGGER alert_rules_stamp_update AFTER UPDATE ON alert_rules
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION kifu_user_stamp('alerts_change_stamps');
CREATE TRIGGER alert_rules_stamp_delete AFTER DELETE ON alert_rules
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION kifu_user_stamp('alerts_change_stamps');
CREATE TRIGGER alert_rules_stamp_truncate AFTER TRUNCATE ON alert_rules
    FOR EACH STATEMENT EXECUTE FUNCTION kifu_user_stamp('alerts_change_stamps');

DROP TRIGGER IF EXISTS alerts_stamp_insert ON alerts;
DROP TRIGGER IF EXISTS alerts_stamp_update ON alerts;
DROP TRIGGER IF EXISTS alerts_stamp_delete ON alerts;
DROP TRIGGER IF EXISTS alerts_stamp_truncate ON alerts;
CREATE TRIGGER alerts_stamp_insert AFTER INSERT ON alerts
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION kifu_user_stamp('alerts_change_stamps');
CREATE TRIGGER alerts_stamp_update AFTER UPDATE ON alerts
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION kifu_user_stamp('alerts_change_stamps');
CREATE TRIGGER alerts_stamp_delete AFTER DELETE ON alerts
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION kifu_user_stamp('alerts_change_stamps');
CREATE TRIGGER alerts_stamp_truncate AFTER TRUNCATE ON alerts
    FOR EACH STATEMENT EXECUTE FUNCTION kifu_user_stamp('alerts_change_stamps');

-- Earlier definitions of this file, no longer used by any trigger.
DROP FUNCTION IF EXISTS kifu_ledger_stamp();
DROP FUNCTION IF EXISTS kifu_journal_stamp();
