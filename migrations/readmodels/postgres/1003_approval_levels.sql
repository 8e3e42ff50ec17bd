-- ApprovalView names who may decide each level of an approval and who decided it (issue 12:
-- approvals follow their chain), and what the next level waits for, so that station roles see
-- the approvals waiting for them.
ALTER TABLE rm_approval ADD COLUMN levels TEXT;          -- JSON array: level, role, unit, path, decision, decided_by, decided_at
ALTER TABLE rm_approval ADD COLUMN next_role TEXT;       -- the role the next level needs
ALTER TABLE rm_approval ADD COLUMN next_unit_path TEXT;  -- the unit path the next level is decided at

-- Rows projected before have none of these: the approvals projection starts again from the
-- log's beginning (it owns rm_approval alone).
DELETE FROM rm_approval;
UPDATE rm_checkpoints SET position = 0, status = 'running', failed_position = NULL, error = NULL
    WHERE projection = 'approvals';
