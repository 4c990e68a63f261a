-- 070_summary_pack_content_hash_unique: one pack per user and content hash.
--
-- Why: a pack's content hash covers its content (not its id or creation time), so generating again
-- over unchanged data yields the same hash; POST /packs/generate then returns the existing pack
-- instead of storing a copy. This unique index is the lookup for that and makes two concurrent
-- generators end with one row (INSERT ... ON CONFLICT DO NOTHING). Reference packs hashed their own
-- pack id into content_hash, so existing rows never collide.

CREATE UNIQUE INDEX IF NOT EXISTS idx_summary_packs_user_content_hash
    ON summary_packs (user_id, content_hash);
