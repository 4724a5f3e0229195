//! The incremental inspection (`catalog::Tracker`) on the changes that are easy to get
//! wrong: a change that leaves its table's own rows alone (a dropped trigger, foreign
//! key or index, a comment, a sequence losing its owner), and a change that alters how
//! *other* relations render (a renamed table or column under a view, a foreign key or a
//! default). After each step the tracker's result is checked against a whole inspection
//! (`verify`), and its scope is asserted: a step must be read incrementally, with the
//! relations that name what changed, or, where the step is not relation-level, whole.
//!
//! The golden diff cases (`diff_golden`) check the tracker after every statement of
//! every case as well, and the real-world corpus after every step of every history.

use retort::catalog::{InspectOptions, Scope, Tracker};

use crate::support::{connect, TestDb};

const SCHEMA: &str = "
CREATE SCHEMA app;
CREATE TABLE app.users (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, email text NOT NULL,
    name text DEFAULT 'x');
CREATE SEQUENCE app.order_no;
CREATE TABLE app.orders (id serial PRIMARY KEY, user_id bigint REFERENCES app.users (id),
    no bigint DEFAULT nextval('app.order_no'), total numeric CHECK (total >= 0));
ALTER SEQUENCE app.order_no OWNED BY app.orders.no;
CREATE INDEX orders_user ON app.orders (user_id);
CREATE VIEW app.user_orders AS SELECT u.email, o.total FROM app.users u JOIN app.orders o ON o.user_id = u.id;
CREATE VIEW app.big_orders AS SELECT * FROM app.user_orders WHERE total > 100;
CREATE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER orders_touch BEFORE UPDATE ON app.orders FOR EACH ROW EXECUTE FUNCTION app.touch();
CREATE TABLE app.events (id bigint, at date NOT NULL) PARTITION BY RANGE (at);
CREATE TABLE app.events_2026 PARTITION OF app.events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE TRIGGER events_touch BEFORE UPDATE ON app.events FOR EACH ROW EXECUTE FUNCTION app.touch();
CREATE TABLE app.unrelated (id int PRIMARY KEY);
ALTER TABLE app.users ENABLE ROW LEVEL SECURITY;
";

/// What each step must be read as.
enum Expect {
    /// Incrementally, reading at least this many relations (and not most of them).
    Relations(usize),
    Whole,
}

const STEPS: &[(&str, Expect)] = &[
    ("ALTER TABLE app.orders ADD COLUMN note text", Expect::Relations(1)),
    ("COMMENT ON COLUMN app.orders.note IS 'free text'", Expect::Relations(1)),
    ("COMMENT ON COLUMN app.orders.note IS NULL", Expect::Relations(1)),
    ("COMMENT ON CONSTRAINT orders_total_check ON app.orders IS 'never negative'", Expect::Relations(1)),
    ("DROP TRIGGER orders_touch ON app.orders", Expect::Relations(1)),
    ("DROP INDEX app.orders_user", Expect::Relations(1)),
    ("ALTER TABLE app.orders DROP CONSTRAINT orders_user_id_fkey", Expect::Relations(1)),
    ("ALTER SEQUENCE app.order_no OWNED BY NONE", Expect::Relations(1)),
    ("ALTER TABLE app.orders ALTER COLUMN no DROP DEFAULT", Expect::Relations(1)),
    ("ALTER TABLE app.users ALTER COLUMN id SET INCREMENT BY 5", Expect::Relations(1)),
    // Renames: what names the renamed object renders it by its new name.
    ("ALTER TABLE app.users RENAME TO people", Expect::Relations(2)),
    ("ALTER TABLE app.people RENAME COLUMN email TO mail", Expect::Relations(2)),
    ("ALTER TABLE app.orders ADD CONSTRAINT orders_people FOREIGN KEY (user_id) REFERENCES app.people (id)", Expect::Relations(2)),
    ("ALTER TABLE app.people RENAME COLUMN id TO person_id", Expect::Relations(2)),
    ("ALTER SEQUENCE app.order_no RENAME TO order_number", Expect::Relations(1)),
    ("ALTER TABLE app.orders ALTER COLUMN no SET DEFAULT nextval('app.order_number')", Expect::Relations(1)),
    ("ALTER SEQUENCE app.order_number RENAME TO order_seq", Expect::Relations(2)),
    // Partitions: the clone of a parent's trigger, a partition renamed, detached, attached.
    ("ALTER TABLE app.events DISABLE TRIGGER events_touch", Expect::Relations(1)),
    ("ALTER TABLE app.events_2026 RENAME TO events_y2026", Expect::Relations(1)),
    ("ALTER TABLE app.events DETACH PARTITION app.events_y2026", Expect::Relations(1)),
    ("ALTER TABLE app.events ATTACH PARTITION app.events_y2026 FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')", Expect::Relations(1)),
    ("CREATE POLICY own ON app.people USING (mail = current_user)", Expect::Relations(1)),
    ("ALTER POLICY own ON app.people RENAME TO mine", Expect::Relations(1)),
    ("DROP POLICY mine ON app.people", Expect::Relations(1)),
    ("CREATE STATISTICS app.orders_stats ON user_id, total FROM app.orders", Expect::Relations(1)),
    ("DROP STATISTICS app.orders_stats", Expect::Relations(1)),
    ("CREATE RULE no_delete AS ON DELETE TO app.unrelated DO INSTEAD NOTHING", Expect::Relations(1)),
    ("DROP RULE no_delete ON app.unrelated", Expect::Relations(1)),
    ("ALTER TABLE app.unrelated RENAME CONSTRAINT unrelated_pkey TO unrelated_key", Expect::Relations(1)),
    ("ALTER TABLE app.unrelated REPLICA IDENTITY USING INDEX unrelated_key", Expect::Relations(1)),
    ("ALTER INDEX app.unrelated_key RENAME TO unrelated_id_key", Expect::Relations(1)),
    ("GRANT SELECT ON app.unrelated TO PUBLIC", Expect::Relations(1)),
    ("CREATE MATERIALIZED VIEW app.totals AS SELECT sum(total) AS total FROM app.orders", Expect::Relations(1)),
    ("CREATE UNIQUE INDEX totals_one ON app.totals (total)", Expect::Relations(1)),
    ("DROP TABLE app.unrelated", Expect::Relations(1)),
    ("DROP VIEW app.big_orders", Expect::Relations(1)),
    // Not relation-level: a whole inspection.
    ("CREATE FUNCTION app.answer() RETURNS int LANGUAGE sql AS 'SELECT 42'", Expect::Whole),
    ("CREATE TYPE app.mood AS ENUM ('ok', 'not ok')", Expect::Whole),
    ("ALTER TABLE app.orders ADD COLUMN mood app.mood", Expect::Relations(1)),
    ("ALTER TYPE app.mood ADD VALUE 'fine'", Expect::Whole),
    ("ALTER TABLE app.orders DROP COLUMN mood", Expect::Relations(1)),
    ("CREATE TYPE app.pair AS (a int, b int)", Expect::Whole),
    ("ALTER SCHEMA app RENAME TO shop", Expect::Whole),
    ("ALTER TABLE shop.orders ADD COLUMN later int", Expect::Relations(1)),
];

/// Fewer relations than most of the schema's (a dozen, with their sequences).
const MOST: usize = 6;

#[test]
fn each_step_is_read_incrementally_where_it_can_be_and_equals_a_whole_inspection() {
    let db = TestDb::new("catincr_steps");
    db.execute(SCHEMA).expect("the schema loads");
    let options = InspectOptions {
        grants: true,
        owners: true,
        ..InspectOptions::default()
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        let client = connect(&db.url).await;
        let helper = connect(&db.url).await;
        let mut tracker = Tracker::prepare(&client, &options)
            .await
            .expect("prepare")
            .verify(true);
        let first = tracker.inspect(&client, &[&helper]).await.expect("inspect");
        assert_eq!(first.scope, Scope::Whole);
        let unchanged = tracker.inspect(&client, &[&helper]).await.expect("inspect");
        assert_eq!(unchanged.scope, Scope::Unchanged);
        for (sql, expect) in STEPS {
            client
                .batch_execute(sql)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
            // Alternate between one connection and two: the stamp spreads over both.
            let helpers: &[&tokio_postgres::Client] =
                if sql.len() % 2 == 0 { &[&helper] } else { &[] };
            let inspection = tracker
                .inspect(&client, helpers)
                .await
                .unwrap_or_else(|e| panic!("after `{sql}`: {e}"));
            match (expect, inspection.scope) {
                (Expect::Whole, Scope::Whole) => {}
                (Expect::Relations(low), Scope::Relations(n)) if (*low..=MOST).contains(&n) => {}
                (_, scope) => panic!("after `{sql}`: read as {scope:?}"),
            }
        }
    });
}

/// Data changes, VACUUM and ANALYZE write no catalog row the model holds: nothing is
/// read again.
#[test]
fn data_changes_vacuum_and_analyze_leave_the_schema_unchanged() {
    let db = TestDb::new("catincr_data");
    db.execute(SCHEMA).expect("the schema loads");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        let client = connect(&db.url).await;
        let mut tracker = Tracker::prepare(&client, &InspectOptions::default())
            .await
            .expect("prepare")
            .verify(true);
        tracker.inspect(&client, &[]).await.expect("inspect");
        client
            .batch_execute(
                "INSERT INTO app.users (email) SELECT 'u' || g FROM generate_series(1, 500) g;
                 INSERT INTO app.orders (user_id, total) SELECT id, 1 FROM app.users;
                 DELETE FROM app.orders WHERE id % 2 = 0;",
            )
            .await
            .expect("data");
        for maintenance in ["VACUUM ANALYZE app.orders", "ANALYZE app.users"] {
            client.batch_execute(maintenance).await.expect(maintenance);
        }
        let after = tracker.inspect(&client, &[]).await.expect("inspect");
        assert_eq!(after.scope, Scope::Unchanged);
    });
}
