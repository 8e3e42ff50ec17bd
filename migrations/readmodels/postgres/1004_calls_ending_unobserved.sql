-- Every call reaches an end (issue 15): a call cancelled because another leg answered it
-- (CallCompletedElsewhere) counts as answered elsewhere, and an answered call whose hang-up was
-- lost (CallEndUnobserved) is counted apart from handled calls. Rows projected before had no such
-- events, so the new counters start at zero and nothing is rebuilt.
ALTER TABLE rm_call_kpi ADD COLUMN answered_elsewhere BIGINT NOT NULL DEFAULT 0;
ALTER TABLE rm_call_kpi ADD COLUMN ends_unobserved BIGINT NOT NULL DEFAULT 0;
