-- revision: 0003_c47e19b2f03d
-- down_revision: 0002_5f1c2b3d4e6a
-- message: create datasets
-- created: 2026-11-03T10:00:00+00:00

-- migrate:upgrade
CREATE TABLE datasets (
    id            bigint GENERATED ALWAYS AS IDENTITY,
    collection_id bigint      NOT NULL,
    name          text        NOT NULL,
    row_count     bigint      NOT NULL DEFAULT 0,
    metadata      jsonb       NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT datasets_pkey PRIMARY KEY (id),
    CONSTRAINT datasets_collection_id_fkey FOREIGN KEY (collection_id)
        REFERENCES collections (id) ON DELETE CASCADE,
    CONSTRAINT datasets_row_count_check CHECK (row_count >= 0)
);

CREATE INDEX datasets_collection_id_idx ON datasets (collection_id);

COMMENT ON TABLE datasets IS 'Versioned tabular data sets stored inside a collection.';

-- migrate:downgrade
DROP INDEX datasets_collection_id_idx;

DROP TABLE datasets;
