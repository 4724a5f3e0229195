-- revision: 0001_a8cd0dc08805
-- down_revision: 
-- message: create users
-- created: 2026-11-01T10:00:00+00:00

-- migrate:upgrade
CREATE TYPE user_role AS ENUM ('viewer', 'editor', 'admin');

CREATE TABLE users (
    id           bigint GENERATED ALWAYS AS IDENTITY,
    email        text        NOT NULL,
    display_name text,
    role         user_role   NOT NULL DEFAULT 'viewer',
    created_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_pkey PRIMARY KEY (id),
    CONSTRAINT users_email_key UNIQUE (email)
);

COMMENT ON TABLE users IS 'Accounts that can own collections.';

-- migrate:downgrade
DROP TABLE users;

DROP TYPE user_role;
