-- revision: 0001_0123456789ab
-- down_revision:
-- message: backfill

-- migrate:upgrade
ALTER TABLE "My App".events ADD COLUMN kind_len int;

-- migrate:batch table="My App".events key="Id" size=500 sleep=1s
UPDATE "My App".events SET kind_len = length(':lo') + x::int WHERE "Id" >= :lo AND "Id" < :hi;

-- migrate:upgrade
ALTER TABLE "My App".events ALTER COLUMN kind_len SET NOT NULL;

-- migrate:downgrade
UPDATE "My App".events SET kind_len = 0;

-- migrate:batch table=events key=id size=10
UPDATE events SET kind_len = NULL WHERE id >= :lo AND id < :hi;

-- migrate:downgrade
ALTER TABLE "My App".events DROP COLUMN kind_len;
