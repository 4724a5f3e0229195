-- Accounts.

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
