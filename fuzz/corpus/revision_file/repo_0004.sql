-- revision: 0004_9e2d7a64b1f8
-- down_revision: 0003_c47e19b2f03d
-- message: touch updated_at trigger
-- created: 2026-11-04T10:00:00+00:00

-- migrate:upgrade
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

-- migrate:downgrade
DROP TRIGGER datasets_set_updated_at ON datasets;

DROP FUNCTION set_updated_at();
