-- Datasets, plus the trigger that keeps updated_at current.

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

CREATE FUNCTION set_updated_at() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;

CREATE TRIGGER datasets_set_updated_at
    BEFORE UPDATE ON datasets
    FOR EACH ROW
    EXECUTE FUNCTION set_updated_at();
