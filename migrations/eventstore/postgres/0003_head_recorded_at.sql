-- Issue 13/14: recorded time never decreases along positions. Each batch records the later of the
-- clock and the last recorded time; keeping that time on the head row, which every batch locks and
-- updates anyway, spares a query per batch.
ALTER TABLE log_head ADD COLUMN recorded_at TIMESTAMPTZ;
UPDATE log_head SET recorded_at = (SELECT recorded_at FROM events ORDER BY global_position DESC LIMIT 1);
