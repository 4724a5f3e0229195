-- Reporting views.

CREATE VIEW collection_stats AS
SELECT c.id                                   AS collection_id,
       c.name                                 AS collection_name,
       count(d.id)                            AS dataset_count,
       coalesce(sum(d.row_count), 0)::bigint  AS total_rows
FROM collections c
LEFT JOIN datasets d ON d.collection_id = c.id
GROUP BY c.id, c.name;

COMMENT ON VIEW collection_stats IS 'Per-collection dataset count and total row count.';
