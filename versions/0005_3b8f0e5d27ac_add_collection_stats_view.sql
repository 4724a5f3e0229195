-- revision: 0005_3b8f0e5d27ac
-- down_revision: 0004_9e2d7a64b1f8
-- message: add collection stats view
-- created: 2026-11-05T10:00:00+00:00

-- migrate:upgrade
CREATE VIEW collection_stats AS
SELECT c.id                                   AS collection_id,
       c.name                                 AS collection_name,
       count(d.id)                            AS dataset_count,
       coalesce(sum(d.row_count), 0)::bigint  AS total_rows
FROM collections c
LEFT JOIN datasets d ON d.collection_id = c.id
GROUP BY c.id, c.name;

COMMENT ON VIEW collection_stats IS 'Per-collection dataset count and total row count.';

-- migrate:downgrade
DROP VIEW collection_stats;
