-- revision: 0001_4c949167a28c
-- down_revision: 
-- message: create accounts
-- created: 2026-12-07T05:23:53+00:00

-- migrate:upgrade
CREATE TABLE accounts (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- migrate:downgrade
DROP TABLE accounts;
