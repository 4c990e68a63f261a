-- 032_users_admin_and_sandbox_flags: an admin role, and a mark on the sandbox users that
-- `kifu demo` and the admin simulation report create.
--
-- Why: the reference let any signed-in user run the simulation report (§7.2 #12); admin routes
-- need a role to check. The reference's later 023_add_is_admin_to_users added the same column,
-- so IF NOT EXISTS keeps a database migrated with it by hand upgradable. is_sandbox marks a user
-- whose whole journal is simulated: only such a user may be reset (deleted and re-created) by a
-- demo run, so a demo can never delete a real account that happens to share the email, and
-- everything it holds (outcomes, AI opinions) is recognisably simulated.

ALTER TABLE users ADD COLUMN IF NOT EXISTS is_admin BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE users ADD COLUMN IF NOT EXISTS is_sandbox BOOLEAN NOT NULL DEFAULT false;
