-- 133_review_ai_change_stamps: a number per user that changes with every change to their guided
-- reviews, streak and safety labels, and one that changes with every change to the AI opinions
-- and accuracy scores of their bubbles.
--
-- Why: the review reads that the Home and Review screens ask on every visit were the slowest of
-- bench/api.py once it measured them (two processes, floor about 6,000 req/s): GET
-- /guided-reviews/today 0.05x (a transaction of eight to ten statements: lock, get-or-create,
-- items, the day's and yesterday's fills), /safety/today and /review/accuracy 0.22-0.24x, the
-- streak 0.37x, each p99 26-182 ms. With these stamps an API process keeps each answer it
-- computed and serves it again after one probe of primary keys, until the rows it was computed
-- from change (kifu.review.service, kifu.ai.accuracy).
--
--  * review_change_stamps (owner: review): guided_reviews, guided_review_items (through their
--    review), user_streaks and trade_safety_reviews.
--  * ai_change_stamps (owner: ai): ai_opinions and ai_opinion_accuracies (through their bubble).
--
-- Bumped by the statement triggers of db/repeatable/change_stamps.sql, as the stamps of
-- migrations 130-132 are.

CREATE TABLE IF NOT EXISTS review_change_stamps (
    user_id UUID   PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    stamp   BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS ai_change_stamps (
    user_id UUID   PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    stamp   BIGINT NOT NULL
);
