-- revision: 0005_aaaaaaaaaaaa
-- down_revision: 0003_bbbbbbbbbbbb, 0004_cccccccccccc
-- depends_on: 0002_dddddddddddd
-- message: merge

-- migrate:upgrade

-- migrate:downgrade
