-- revision: 0003_00000000abcd
-- down_revision:
-- message: f

-- migrate:upgrade
CREATE FUNCTION f() RETURNS text LANGUAGE sql AS $x$ SELECT '-- migrate:downgrade;' $x$;
-- retort:ignore drop-table reason
DROP TABLE t;
