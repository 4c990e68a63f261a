-- 132_accounts_change_stamps: a number per user that changes with every change to their user row
-- and their subscription.
--
-- Why: GET /users/me, asked by every screen, was the one read of bench/api.py left under half
-- the floor (0.39-0.51x with one process) once the lists and the review reads were kept answers
-- served before routing: a round trip for the profile, then FastAPI's routing, parameters and
-- response. With this stamp an API process keeps the profile it read and answers it again after
-- one probe of a primary key, until the user is renamed or allow-listed, their password or
-- subscription changes (an AI call spends quota: it bumps it), or the user is deleted
-- (kifu.accounts.service.profile_answer).
--
-- Owner: accounts. Bumped by the statement triggers of db/repeatable/change_stamps.sql, as the
-- stamps of migrations 130 and 131 are.

CREATE TABLE IF NOT EXISTS accounts_change_stamps (
    user_id UUID   PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    stamp   BIGINT NOT NULL
);
