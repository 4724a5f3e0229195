-- revision: 0002_0123456789ab
-- down_revision: 0001_a8cd0dc08805
-- message: index
-- created: 2026-12-07T10:00:00+00:00

-- migrate:upgrade transaction:false
CREATE INDEX CONCURRENTLY i ON t (c);

-- migrate:downgrade transaction:false
DROP INDEX CONCURRENTLY i;
