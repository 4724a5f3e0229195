-- Collections group datasets and belong to a user.

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
