-- Issue 12: a command id reused for a different command is refused, not answered as a duplicate.
-- The fingerprint (SHA-256 of what the command asked and who asked, lowercase hex) is kept with
-- the id; rows from before it, and commands sent without one (SIP, timers), hold NULL, which
-- matches any fingerprint.
ALTER TABLE commands ADD COLUMN fingerprint TEXT;
