-- 031_accounts_email_lookup_and_login_attempts: index case-insensitive email lookups; keep the
-- login rate limit's counters in the database.
--
-- Why: login and registration compare lower(email) (reference §7.3: mixed-case emails could not
-- log in), which no index served. The index is NOT unique on purpose: a database adopted from the
-- reference may hold rows written before it lower-cased emails, such as both "Bob@x.io" and
-- "bob@x.io", and a unique index would make this migration fail there. New rows are written
-- lower-cased, so the existing UNIQUE (email) already keeps new registrations apart.
--
-- login_attempts holds fixed-window counters of login attempts per email and per client address
-- (keys are SHA-256 hex, so no address or email is stored in clear). Every API replica shares
-- them; rows of past windows are deleted by the worker and opportunistically by logins.

CREATE INDEX IF NOT EXISTS idx_users_email_lower ON users (lower(email));

CREATE TABLE IF NOT EXISTS login_attempts (
    key_hash     CHAR(64)    NOT NULL,
    window_start TIMESTAMPTZ NOT NULL,
    attempts     INTEGER     NOT NULL CHECK (attempts > 0),
    PRIMARY KEY (key_hash, window_start)
);

CREATE INDEX IF NOT EXISTS idx_login_attempts_window_start ON login_attempts (window_start);
