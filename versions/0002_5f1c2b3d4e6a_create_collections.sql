-- revision: 0002_5f1c2b3d4e6a
-- down_revision: 0001_a8cd0dc08805
-- message: create collections
-- created: 2026-11-02T10:00:00+00:00

-- migrate:upgrade
CREATE TABLE collections (
    id          bigint GENERATED ALWAYS AS IDENTITY,
    owner_id    bigint      NOT NULL,
    name        text        NOT NULL,
    description text,
    created_at  timestamptz DEFAULT now(),
    CONSTRAINT collections_pkey PRIMARY KEY (id),
    CONSTRAINT collections_owner_id_fkey FOREIGN KEY (owner_id)
        REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT collections_owner_id_name_key UNIQUE (owner_id, name)
);

CREATE INDEX collections_owner_id_idx ON collections (owner_id);

-- migrate:downgrade
DROP INDEX collections_owner_id_idx;

DROP TABLE collections;
