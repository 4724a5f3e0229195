-- revision: 0002_0dde39e81d5b
-- down_revision: 0001_4c949167a28c
-- message: add account email index
-- created: 2026-12-07T05:23:53+00:00

-- migrate:upgrade
ALTER TABLE accounts ADD COLUMN email text;

CREATE UNIQUE INDEX accounts_email_key ON accounts (lower(email));

-- migrate:downgrade
DROP INDEX accounts_email_key;

ALTER TABLE accounts DROP COLUMN email;
