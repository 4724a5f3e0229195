//! Acceptance tests of `retort dump-schema` (and `diff-dumps`) against a real PostgreSQL.
//!
//! - Golden: tests/fixtures/catalog/schema.sql (every kind of object the catalog knows) is
//!   created in a fresh database and its dump must equal tests/fixtures/catalog/schema.golden.
//!   To regenerate the golden file after a deliberate change of the dump format, run
//!
//!   ```text
//!   RETORT_BLESS=1 cargo nextest run catalog::golden
//!   ```
//!
//!   and review the diff of schema.golden before committing it. Without `RETORT_BLESS=1`
//!   a missing golden file is a failure, never a pass. A major whose server prints some
//!   definitions differently has its own `schema.pgN.golden` (`support::golden`).
//! - Sensitivity: each entry of [`MUTATIONS`] is applied on top of the fixture in its own
//!   database; `pg_dump --schema-only` must change (the mutation is real) and so must
//!   retort's dump. All misses are reported together.
//! - Converse: tests/fixtures/catalog/schema_reordered.sql builds the same schema with
//!   equivalent DDL in another order; its dump must be byte-identical. Dumps are also
//!   stable across runs, `-o FILE` writes what stdout shows, `--format json` is JSON, and
//!   `diff-dumps` exits 0 on equal dumps and 1 (with the changed lines) on different ones.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use similar::TextDiff;

use crate::support::{golden, repo_root, retort, Run, TestDb};

/// Set to `1` to (re)write schema.golden from the current dump instead of comparing.
const BLESS_VAR: &str = "RETORT_BLESS";

/// Worker threads for the mutation table (each mutation gets its own database).
const MUTATION_THREADS: usize = 4;

fn fixture_dir() -> PathBuf {
    repo_root().join("tests/fixtures/catalog")
}

/// A fixture's SQL, without the sections the test server's major cannot load.
fn read_fixture(name: &str) -> String {
    let path = fixture_dir().join(name);
    let sql = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read fixture {}: {e}", path.display()));
    golden::for_server(&sql)
}

fn fixture_sql() -> &'static str {
    static SQL: OnceLock<String> = OnceLock::new();
    SQL.get_or_init(|| read_fixture("schema.sql"))
}

/// The error of a failed statement, with the server's message and detail when there is one.
fn describe_error(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!(
            "{}: {}{}",
            db.code().code(),
            db.message(),
            db.detail().map(|d| format!(" ({d})")).unwrap_or_default()
        ),
        None => e.to_string(),
    }
}

/// Runs `sql` (many statements) in `db`, failing the test with the server's message.
#[track_caller]
fn load(db: &TestDb, sql: &str, what: &str) {
    if let Err(e) = db.execute(sql) {
        panic!("loading {what} failed: {}", describe_error(&e));
    }
}

/// A fresh database holding the fixture schema.
fn fixture_db(label: &str) -> TestDb {
    let db = TestDb::new(label);
    load(&db, fixture_sql(), "tests/fixtures/catalog/schema.sql");
    db
}

fn run(cmd: &mut Command) -> Run {
    let output = cmd.output().expect("run retort");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// `retort --database-url URL dump-schema ARGS...` in `dir`.
fn dump_run(dir: &Path, db: &TestDb, args: &[&str]) -> Run {
    run(retort(dir)
        .args(["--database-url", &db.url, "dump-schema"])
        .args(args))
}

/// The text dump of `db`, failing the test when the command fails.
#[track_caller]
fn dump(dir: &Path, db: &TestDb) -> String {
    dump_run(dir, db, &[]).ok().stdout
}

/// A unified diff of two texts, at most `max_lines` lines.
fn short_diff(a: &str, b: &str, max_lines: usize) -> String {
    let diff = TextDiff::from_lines(a, b)
        .unified_diff()
        .context_radius(1)
        .header("before", "after")
        .to_string();
    let lines: Vec<&str> = diff.lines().collect();
    let mut text = lines
        .iter()
        .take(max_lines)
        .copied()
        .collect::<Vec<_>>()
        .join("\n");
    if lines.len() > max_lines {
        text.push_str(&format!("\n... ({} more lines)", lines.len() - max_lines));
    }
    text
}

// ---------------------------------------------------------------------------
// pg_dump, the reference for "the mutation really changed the schema"
// ---------------------------------------------------------------------------

fn pg_dump_program() -> &'static Path {
    static PROGRAM: OnceLock<PathBuf> = OnceLock::new();
    PROGRAM.get_or_init(|| crate::support::pg_program("pg_dump"))
}

/// `pg_dump --schema-only` of `db`, without the lines that differ between runs
/// (version banner, the random `\restrict` key of recent minor releases).
fn pg_dump(db: &TestDb) -> Result<String, String> {
    let output = Command::new(pg_dump_program())
        .args(["--schema-only", "--no-sync", "--dbname", &db.url])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", pg_dump_program().display()))?;
    if !output.status.success() {
        return Err(format!(
            "pg_dump failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|line| {
            !(line.starts_with("\\restrict")
                || line.starts_with("\\unrestrict")
                || line.starts_with("-- Dumped from")
                || line.starts_with("-- Dumped by"))
        })
        .map(|line| format!("{line}\n"))
        .collect())
}

/// pg_dump's lines, sorted, with the items of `WITH (...)` lists sorted too.
fn pg_dump_lines_sorted(db: &TestDb) -> Vec<String> {
    let text = pg_dump(db).unwrap_or_else(|e| panic!("{e}"));
    let mut lines: Vec<String> = text
        .lines()
        .map(|line| {
            match line
                .strip_prefix("WITH (")
                .and_then(|l| l.strip_suffix(");"))
            {
                Some(items) => {
                    let mut items: Vec<&str> = items.split(", ").collect();
                    items.sort_unstable();
                    format!("WITH ({});", items.join(", "))
                }
                None => line.to_owned(),
            }
        })
        .collect();
    lines.sort();
    lines
}

// ---------------------------------------------------------------------------
// 1. Golden
// ---------------------------------------------------------------------------

/// Names that must be visible in the dump of the fixture: one (at least) per kind of
/// object, so a golden blessed from an incomplete dump cannot pass unnoticed.
const MUST_APPEAR: &[(&str, &str)] = &[
    ("schema with a quoted name", "Mixed Case"),
    ("schema", "audit"),
    ("schema comment", "application objects"),
    ("extension citext", "citext"),
    ("extension pg_trgm", "pg_trgm"),
    ("extension btree_gist", "btree_gist"),
    ("enum type", "mood"),
    ("enum label", "In Progress"),
    ("domain", "positive_int"),
    ("domain check", "positive_int_check"),
    ("domain with collation", "short_code"),
    ("composite type", "address"),
    ("composite attribute", "street"),
    ("range type", "float_range"),
    ("range subtype_diff", "float8mi"),
    ("type comment", "how a customer feels"),
    ("domain comment", "an e-mail address, case-insensitive"),
    ("sequence", "invoice_seq"),
    ("sequence owned by a column", "ticket_seq"),
    ("serial sequence", "reservations_id_seq"),
    ("sequence comment", "invoice numbers"),
    ("table", "customers"),
    ("unlogged table", "sessions"),
    ("partitioned table", "events"),
    ("range partition", "events_2025"),
    ("sub-partition", "events_2026_h1"),
    ("list partition", "logs_eu"),
    ("default partition", "logs_other"),
    ("inheriting table", "trucks"),
    ("table with RLS", "documents"),
    ("table comment", "people who order"),
    ("column", "placed_at"),
    ("generated column", "name_upper"),
    ("column comment", "login and contact address"),
    ("primary key", "customers_pkey"),
    ("unique constraint", "customers_email_key"),
    ("check constraint", "customers_name_check"),
    ("foreign key", "orders_customer_fkey"),
    ("MATCH FULL foreign key", "order_lines_parent_fkey"),
    ("NOT VALID foreign key", "order_lines_sku_fkey"),
    ("NOT VALID check", "orders_note_check"),
    ("exclusion constraint", "reservations_no_overlap"),
    ("deferrable unique", "orders_code_key"),
    ("constraint comment", "names are never empty"),
    ("partial index", "orders_open_idx"),
    ("expression index", "customers_lower_email_idx"),
    ("INCLUDE index", "orders_customer_include_idx"),
    ("hash index", "customers_name_hash_idx"),
    ("gin index", "orders_tags_idx"),
    ("opclass index", "customers_name_trgm_idx"),
    ("gist index", "reservations_during_idx"),
    ("brin index", "events_2025_happened_on_idx"),
    ("partitioned index", "logs_region_id_idx"),
    ("index comment", "orders still to deliver"),
    ("view", "open_orders"),
    ("view with check option", "big_orders"),
    ("view with a quoted name", "Customer View"),
    ("view comment", "orders not done yet"),
    ("view column comment", "order amount"),
    ("materialized view", "customer_totals"),
    ("materialized view index", "customer_totals_customer_idx"),
    ("materialized view comment", "per-customer totals"),
    ("sql function", "order_total"),
    ("overloaded function", "describe"),
    ("plpgsql function", "touch_order"),
    ("security definer function", "secure_lookup"),
    ("function with OUT parameters", "Greet"),
    ("function comment", "the amount of one order"),
    ("procedure", "archive_orders"),
    ("procedure comment", "delete old orders"),
    ("aggregate", "max_amount"),
    ("aggregate comment", "largest amount, at least 0"),
    ("row trigger", "orders_touch"),
    ("statement trigger", "orders_audit"),
    ("trigger with transition tables", "customers_bulk"),
    ("constraint trigger", "order_lines_check"),
    ("trigger on a partitioned table", "logs_audit"),
    ("trigger comment", "stamps the order"),
    ("permissive policy", "documents_read"),
    ("restrictive policy", "documents_own"),
    ("insert policy", "documents_insert"),
    ("policy role", "retort_fixture_role"),
    ("policy comment", "public documents and your own"),
    ("rule", "orders_keep_done"),
    ("rule on a view", "open_orders_insert"),
    ("rule comment", "done orders are kept"),
    ("event trigger", "retort_fixture_ddl"),
    ("event trigger comment", "logs table DDL"),
    ("icu collation", "case_insensitive"),
    ("libc collation", "c_posix"),
    ("collation comment", "compares without case"),
    ("cast with function", "CREATE CAST (app.mood AS integer)"),
    ("cast with inout", "WITH INOUT"),
    ("cast comment", "sad is zero"),
    ("extended statistics", "orders_status_amount_stats"),
    ("statistics target", "SET STATISTICS 500"),
    ("statistics comment", "status and amount go together"),
    ("foreign data wrapper", "retort_fixture_fdw"),
    ("foreign server", "retort_fixture_remote"),
    ("foreign server comment", "a server nobody reaches"),
    ("foreign table", "remote_items"),
    ("foreign table comment", "items kept elsewhere"),
    ("publication", "retort_fixture_pub"),
    ("publication comment", "customer data for the warehouse"),
];

/// Names that must not be in the dump: objects that belong to extensions, and
/// retort's own version tables.
const MUST_NOT_APPEAR: &[(&str, &str)] = &[
    ("citext's input function", "citextin"),
    ("pg_trgm's function", "show_trgm"),
    ("pg_trgm's support function", "gtrgm_consistent"),
    ("btree_gist's type", "gbtreekey"),
    ("btree_gist's support function", "gbt_int4_consistent"),
    ("retort's version table", "retort_version"),
    ("retort's history table", "retort_history"),
    (
        "postgres_fdw's wrapper",
        "CREATE FOREIGN DATA WRAPPER postgres_fdw",
    ),
    ("postgres_fdw's handler", "postgres_fdw_handler"),
    ("range-to-multirange cast", "float_multirange"),
];

#[test]
fn golden() {
    let golden_path = fixture_dir().join("schema.golden");
    let db = fixture_db("catalog_golden");
    // retort's own tables, as `upgrade` would create them: never part of the dump.
    load(
        &db,
        "CREATE TABLE public.retort_version (version_num text PRIMARY KEY);
         CREATE TABLE public.retort_history (id bigint GENERATED ALWAYS AS IDENTITY, note text);",
        "retort's version tables",
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let text = dump(dir.path(), &db);

    let missing: Vec<String> = MUST_APPEAR
        .iter()
        .filter(|(_, needle)| !text.contains(needle))
        .map(|(kind, needle)| format!("  {kind}: {needle}"))
        .collect();
    let leaked: Vec<String> = MUST_NOT_APPEAR
        .iter()
        .filter(|(_, needle)| text.contains(needle))
        .map(|(kind, needle)| format!("  {kind}: {needle}"))
        .collect();
    assert!(
        missing.is_empty() && leaked.is_empty(),
        "the dump of the fixture is incomplete or has foreign objects\n\
         missing from the dump:\n{}\npresent but must not be:\n{}\n--- dump:\n{text}",
        missing.join("\n"),
        leaked.join("\n"),
    );

    if std::env::var(BLESS_VAR).is_ok_and(|v| v == "1") {
        let written = golden::bless(&golden_path, &text);
        eprintln!("blessed {}", written.display());
        return;
    }
    let golden_path = golden::golden_path(&golden_path);
    let expected = match std::fs::read_to_string(&golden_path) {
        Ok(expected) => expected,
        Err(e) => panic!(
            "golden file {} is missing ({e}). Review the dump below, then create it with \
             `{BLESS_VAR}=1 cargo nextest run catalog::golden`\n--- dump:\n{text}",
            golden_path.display()
        ),
    };
    if expected != text {
        panic!(
            "the dump differs from {} (if the change is intended, re-bless with \
             `{BLESS_VAR}=1 cargo nextest run catalog::golden` and review the diff)\n{}",
            golden_path.display(),
            short_diff(&expected, &text, 200)
        );
    }
}

// ---------------------------------------------------------------------------
// 2. Sensitivity: every attribute of every kind of object shows in the dump
// ---------------------------------------------------------------------------

/// (name, SQL applied on top of the fixture). Each must change `pg_dump --schema-only`
/// and retort's dump.
const MUTATIONS: &[(&str, &str)] = &[
    // schemas
    ("schema added", "CREATE SCHEMA reports;"),
    ("schema renamed", "ALTER SCHEMA audit RENAME TO journal;"),
    ("schema comment changed", "COMMENT ON SCHEMA app IS 'changed';"),
    ("schema comment removed", "COMMENT ON SCHEMA \"Mixed Case\" IS NULL;"),
    ("schema comment added", "COMMENT ON SCHEMA audit IS 'added';"),
    // extensions
    ("extension added", "CREATE EXTENSION hstore;"),
    ("extension dropped", "DROP EXTENSION pg_trgm CASCADE;"),
    ("extension comment changed", "COMMENT ON EXTENSION citext IS 'changed';"),
    // enums, domains, composite and range types
    ("enum label added", "ALTER TYPE app.mood ADD VALUE 'angry';"),
    ("enum label added in the middle", "ALTER TYPE app.mood ADD VALUE 'meh' BEFORE 'ok';"),
    ("enum label renamed", "ALTER TYPE app.mood RENAME VALUE 'sad' TO 'blue';"),
    (
        "domain check changed",
        "ALTER DOMAIN app.positive_int DROP CONSTRAINT positive_int_check;
         ALTER DOMAIN app.positive_int ADD CONSTRAINT positive_int_check CHECK (VALUE >= 0);",
    ),
    ("domain default changed", "ALTER DOMAIN app.positive_int SET DEFAULT 2;"),
    ("domain default dropped", "ALTER DOMAIN app.positive_int DROP DEFAULT;"),
    ("domain not null dropped", "ALTER DOMAIN app.positive_int DROP NOT NULL;"),
    ("domain not null added", "ALTER DOMAIN app.short_code SET NOT NULL;"),
    (
        "domain check added",
        "ALTER DOMAIN app.short_code ADD CONSTRAINT short_code_check CHECK (VALUE <> '');",
    ),
    ("domain comment changed", "COMMENT ON DOMAIN app.email IS 'changed';"),
    ("composite attribute added", "ALTER TYPE app.address ADD ATTRIBUTE country text;"),
    (
        "composite attribute dropped",
        "ALTER TYPE app.address DROP ATTRIBUTE zip;",
    ),
    ("composite attribute renamed", "ALTER TYPE app.address RENAME ATTRIBUTE street TO line1 CASCADE;"),
    ("type comment changed", "COMMENT ON TYPE app.mood IS 'changed';"),
    ("type comment removed", "COMMENT ON TYPE app.address IS NULL;"),
    ("range type added", "CREATE TYPE app.int_span AS RANGE (subtype = integer);"),
    (
        "range type subtype_diff removed",
        "ALTER TABLE app.reservations DROP COLUMN temperature;
         DROP TYPE app.float_range;
         CREATE TYPE app.float_range AS RANGE (subtype = double precision);
         ALTER TABLE app.reservations ADD COLUMN temperature app.float_range;",
    ),
    // sequences
    ("sequence increment changed", "ALTER SEQUENCE app.invoice_seq INCREMENT BY 10;"),
    ("sequence cycle removed", "ALTER SEQUENCE app.invoice_seq NO CYCLE;"),
    ("sequence start changed", "ALTER SEQUENCE app.invoice_seq START WITH 200;"),
    ("sequence cache changed", "ALTER SEQUENCE app.ticket_seq CACHE 20;"),
    ("sequence maxvalue changed", "ALTER SEQUENCE app.ticket_seq MAXVALUE 5000;"),
    ("sequence minvalue changed", "ALTER SEQUENCE app.invoice_seq MINVALUE 50;"),
    ("sequence type changed", "ALTER SEQUENCE app.ticket_seq AS bigint;"),
    ("sequence owned by removed", "ALTER SEQUENCE app.ticket_seq OWNED BY NONE;"),
    ("sequence comment changed", "COMMENT ON SEQUENCE app.invoice_seq IS 'changed';"),
    // columns
    ("column default changed", "ALTER TABLE app.orders ALTER COLUMN amount SET DEFAULT 1;"),
    ("column default dropped", "ALTER TABLE app.customers ALTER COLUMN mood DROP DEFAULT;"),
    ("column default added", "ALTER TABLE app.tickets ALTER COLUMN subject SET DEFAULT 'none';"),
    ("column made not null", "ALTER TABLE app.orders ALTER COLUMN note SET NOT NULL;"),
    ("column made nullable", "ALTER TABLE app.products ALTER COLUMN title DROP NOT NULL;"),
    ("column type changed", "ALTER TABLE app.tickets ALTER COLUMN subject TYPE character varying(100);"),
    ("column typmod changed", "ALTER TABLE app.orders ALTER COLUMN note TYPE character varying(300);"),
    ("column collation changed", "ALTER TABLE app.products ALTER COLUMN title TYPE text COLLATE \"POSIX\";"),
    ("column added", "ALTER TABLE app.products ADD COLUMN price numeric;"),
    ("column dropped", "ALTER TABLE app.sessions DROP COLUMN expires_at;"),
    ("column renamed", "ALTER TABLE app.tickets RENAME COLUMN subject TO title;"),
    ("identity ALWAYS to BY DEFAULT", "ALTER TABLE app.customers ALTER COLUMN id SET GENERATED BY DEFAULT;"),
    ("identity option changed", "ALTER TABLE app.orders ALTER COLUMN id SET INCREMENT BY 2;"),
    ("identity dropped", "ALTER TABLE app.orders ALTER COLUMN id DROP IDENTITY;"),
    (
        "generated expression changed",
        "ALTER TABLE app.customers DROP COLUMN name_upper;
         ALTER TABLE app.customers ADD COLUMN name_upper text GENERATED ALWAYS AS (lower(name)) STORED;",
    ),
    ("generated expression dropped", "ALTER TABLE app.customers ALTER COLUMN name_upper DROP EXPRESSION;"),
    ("column comment changed", "COMMENT ON COLUMN app.customers.email IS 'changed';"),
    ("column comment removed", "COMMENT ON COLUMN app.orders.amount IS NULL;"),
    ("column comment added", "COMMENT ON COLUMN app.products.title IS 'added';"),
    ("column statistics target set", "ALTER TABLE app.orders ALTER COLUMN amount SET STATISTICS 500;"),
    ("column storage changed", "ALTER TABLE app.products ALTER COLUMN title SET STORAGE EXTERNAL;"),
    ("inherited column default overridden", "ALTER TABLE app.trucks ALTER COLUMN wheels SET DEFAULT 6;"),
    ("partition column default set", "ALTER TABLE audit.logs_eu ALTER COLUMN message SET DEFAULT 'none';"),
    ("view column default set", "ALTER VIEW app.open_orders ALTER COLUMN amount SET DEFAULT 0;"),
    // constraints
    ("foreign key made deferrable", "ALTER TABLE app.orders ALTER CONSTRAINT orders_customer_fkey DEFERRABLE;"),
    (
        "unique made not deferrable",
        "ALTER TABLE app.orders DROP CONSTRAINT orders_code_key;
         ALTER TABLE app.orders ADD CONSTRAINT orders_code_key UNIQUE (code);",
    ),
    (
        "check expression changed",
        "ALTER TABLE app.orders DROP CONSTRAINT orders_amount_check;
         ALTER TABLE app.orders ADD CONSTRAINT orders_amount_check CHECK (amount > 0);",
    ),
    (
        "check made no inherit",
        "ALTER TABLE app.vehicles DROP CONSTRAINT vehicles_wheels_check;
         ALTER TABLE app.vehicles ADD CONSTRAINT vehicles_wheels_check CHECK (wheels >= 0) NO INHERIT;",
    ),
    (
        "foreign key on delete changed",
        "ALTER TABLE app.orders DROP CONSTRAINT orders_customer_fkey;
         ALTER TABLE app.orders ADD CONSTRAINT orders_customer_fkey FOREIGN KEY (customer_id)
             REFERENCES app.customers (id) ON DELETE RESTRICT ON UPDATE RESTRICT;",
    ),
    (
        "foreign key on update changed",
        "ALTER TABLE app.order_lines DROP CONSTRAINT order_lines_order_fkey;
         ALTER TABLE app.order_lines ADD CONSTRAINT order_lines_order_fkey FOREIGN KEY (order_id)
             REFERENCES app.orders (id) ON DELETE CASCADE ON UPDATE SET NULL;",
    ),
    (
        "foreign key match full to simple",
        "ALTER TABLE app.order_lines DROP CONSTRAINT order_lines_parent_fkey;
         ALTER TABLE app.order_lines ADD CONSTRAINT order_lines_parent_fkey
             FOREIGN KEY (parent_order_id, parent_line_no) REFERENCES app.order_lines (order_id, line_no)
             ON DELETE SET NULL DEFERRABLE INITIALLY DEFERRED;",
    ),
    (
        "foreign key initially immediate",
        "ALTER TABLE app.order_lines ALTER CONSTRAINT order_lines_parent_fkey DEFERRABLE INITIALLY IMMEDIATE;",
    ),
    ("check constraint validated", "ALTER TABLE app.orders VALIDATE CONSTRAINT orders_note_check;"),
    ("foreign key validated", "ALTER TABLE app.order_lines VALIDATE CONSTRAINT order_lines_sku_fkey;"),
    (
        "constraint renamed",
        "ALTER TABLE app.customers RENAME CONSTRAINT customers_name_check TO customers_name_not_empty;",
    ),
    (
        "primary key columns changed",
        "ALTER TABLE app.tickets DROP CONSTRAINT tickets_pkey;
         ALTER TABLE app.tickets ADD CONSTRAINT tickets_pkey PRIMARY KEY (number, subject);",
    ),
    (
        "exclusion constraint changed",
        "ALTER TABLE app.reservations DROP CONSTRAINT reservations_no_overlap;
         ALTER TABLE app.reservations ADD CONSTRAINT reservations_no_overlap
             EXCLUDE USING gist (room WITH =, during WITH &&);",
    ),
    ("constraint comment changed", "COMMENT ON CONSTRAINT customers_name_check ON app.customers IS 'changed';"),
    ("constraint comment added", "COMMENT ON CONSTRAINT orders_pkey ON app.orders IS 'added';"),
    (
        "partition check constraint added",
        "ALTER TABLE audit.logs_eu ADD CONSTRAINT logs_eu_region_check CHECK (region <> '');",
    ),
    (
        "domain check added not valid",
        "ALTER DOMAIN app.short_code ADD CONSTRAINT short_code_upper CHECK (VALUE = upper(VALUE)) NOT VALID;",
    ),
    // indexes
    (
        "index made partial",
        "DROP INDEX app.orders_tags_idx;
         CREATE INDEX orders_tags_idx ON app.orders USING gin (tags) WHERE tags IS NOT NULL;",
    ),
    (
        "index method changed",
        "DROP INDEX app.customers_name_hash_idx;
         CREATE INDEX customers_name_hash_idx ON app.customers USING btree (name);",
    ),
    (
        "index opclass changed",
        "DROP INDEX app.customers_name_trgm_idx;
         CREATE INDEX customers_name_trgm_idx ON app.customers USING gist (name gist_trgm_ops);",
    ),
    (
        "index include added",
        "DROP INDEX app.orders_customer_include_idx;
         CREATE UNIQUE INDEX orders_customer_include_idx ON app.orders (customer_id, id) INCLUDE (amount, note);",
    ),
    (
        "index ordering changed",
        "DROP INDEX app.orders_open_idx;
         CREATE INDEX orders_open_idx ON app.orders (placed_at DESC NULLS FIRST) WHERE status <> 'done';
         COMMENT ON INDEX app.orders_open_idx IS 'orders still to deliver';",
    ),
    (
        "index expression changed",
        "DROP INDEX app.customers_lower_email_idx;
         CREATE INDEX customers_lower_email_idx ON app.customers (upper(email::text));",
    ),
    (
        "index made unique",
        "DROP INDEX app.orders_amount_note_idx;
         CREATE UNIQUE INDEX orders_amount_note_idx ON app.orders (amount NULLS FIRST, note COLLATE \"C\" DESC);",
    ),
    (
        "index collation changed",
        "DROP INDEX app.orders_amount_note_idx;
         CREATE INDEX orders_amount_note_idx ON app.orders (amount NULLS FIRST, note COLLATE \"POSIX\" DESC);",
    ),
    ("index storage parameter changed", "ALTER INDEX audit.events_2025_happened_on_idx SET (pages_per_range = 64);"),
    ("index added", "CREATE INDEX products_title_idx ON app.products (title);"),
    ("index dropped", "DROP INDEX app.orders_tags_idx;"),
    ("partitioned index dropped", "DROP INDEX audit.logs_region_id_idx;"),
    (
        "materialized view index changed",
        "DROP INDEX app.customer_totals_customer_idx;
         CREATE INDEX customer_totals_customer_idx ON app.customer_totals (customer_id);",
    ),
    ("index comment changed", "COMMENT ON INDEX app.orders_open_idx IS 'changed';"),
    ("table clustered on an index", "ALTER TABLE app.orders CLUSTER ON orders_pkey;"),
    // tables
    ("table added", "CREATE TABLE app.extra (id integer);"),
    ("table dropped", "DROP TABLE app.tickets;"),
    ("table renamed", "ALTER TABLE app.products RENAME TO items;"),
    ("table moved to another schema", "ALTER TABLE app.tickets SET SCHEMA audit;"),
    ("reloption changed", "ALTER TABLE app.orders SET (fillfactor = 70);"),
    ("reloption removed", "ALTER TABLE app.orders RESET (autovacuum_enabled);"),
    ("reloption added", "ALTER TABLE app.products SET (fillfactor = 50);"),
    ("table made unlogged", "ALTER TABLE app.tickets SET UNLOGGED;"),
    ("table made logged", "ALTER TABLE app.sessions SET LOGGED;"),
    ("replica identity changed", "ALTER TABLE app.products REPLICA IDENTITY FULL;"),
    (
        "list partition bound changed",
        "ALTER TABLE audit.logs DETACH PARTITION audit.logs_us;
         ALTER TABLE audit.logs ATTACH PARTITION audit.logs_us FOR VALUES IN ('us', 'ca');",
    ),
    (
        "range partition bound changed",
        "ALTER TABLE audit.events DETACH PARTITION audit.events_2025;
         ALTER TABLE audit.events ATTACH PARTITION audit.events_2025 FOR VALUES FROM ('2024-01-01') TO ('2026-01-01');",
    ),
    (
        "default partition made a list partition",
        "ALTER TABLE audit.logs DETACH PARTITION audit.logs_other;
         ALTER TABLE audit.logs ATTACH PARTITION audit.logs_other FOR VALUES IN ('jp');",
    ),
    ("partition detached", "ALTER TABLE audit.logs DETACH PARTITION audit.logs_eu;"),
    (
        "partition added",
        "CREATE TABLE audit.events_2027 PARTITION OF audit.events FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');",
    ),
    ("inheritance removed", "ALTER TABLE app.trucks NO INHERIT app.vehicles;"),
    ("row level security forced removed", "ALTER TABLE app.documents NO FORCE ROW LEVEL SECURITY;"),
    ("row level security disabled", "ALTER TABLE \"Mixed Case\".\"Accounts\" DISABLE ROW LEVEL SECURITY;"),
    ("row level security enabled", "ALTER TABLE app.products ENABLE ROW LEVEL SECURITY;"),
    ("table comment changed", "COMMENT ON TABLE app.customers IS 'changed';"),
    ("table comment removed", "COMMENT ON TABLE audit.events IS NULL;"),
    ("table comment added", "COMMENT ON TABLE app.products IS 'added';"),
    ("partition trigger disabled on one partition", "ALTER TABLE audit.logs_eu DISABLE TRIGGER logs_audit;"),
    // views and materialized views
    (
        "view body changed",
        "CREATE OR REPLACE VIEW app.open_orders WITH (security_barrier = true) AS
             SELECT o.id, o.customer_id, o.amount FROM app.orders o WHERE o.status <> 'New';",
    ),
    ("view option removed", "ALTER VIEW app.open_orders RESET (security_barrier);"),
    ("view check option changed", "ALTER VIEW app.big_orders SET (check_option = local);"),
    ("view column renamed", "ALTER VIEW app.big_orders RENAME COLUMN amount TO total;"),
    ("view comment changed", "COMMENT ON VIEW app.open_orders IS 'changed';"),
    ("view column comment removed", "COMMENT ON COLUMN app.open_orders.amount IS NULL;"),
    (
        "materialized view changed",
        "DROP MATERIALIZED VIEW app.customer_totals;
         CREATE MATERIALIZED VIEW app.customer_totals AS
             SELECT customer_id, sum(amount) AS total, count(*) AS n FROM app.orders
             WHERE amount > 0 GROUP BY customer_id WITH NO DATA;
         CREATE UNIQUE INDEX customer_totals_customer_idx ON app.customer_totals (customer_id);
         COMMENT ON MATERIALIZED VIEW app.customer_totals IS 'per-customer totals';",
    ),
    ("materialized view comment changed", "COMMENT ON MATERIALIZED VIEW app.customer_totals IS 'changed';"),
    (
        "materialized view storage parameter set",
        "ALTER MATERIALIZED VIEW app.customer_totals SET (fillfactor = 50);",
    ),
    // functions, procedures, aggregates
    ("function volatility changed", "ALTER FUNCTION app.order_total(integer) VOLATILE;"),
    ("function strictness changed", "ALTER FUNCTION app.order_total(integer) CALLED ON NULL INPUT;"),
    (
        "sql function body changed",
        "CREATE OR REPLACE FUNCTION app.describe(v integer) RETURNS text LANGUAGE sql IMMUTABLE
             AS $$ SELECT 'integer ' || v $$;",
    ),
    (
        "plpgsql function body changed",
        "CREATE OR REPLACE FUNCTION app.touch_order() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.placed_at := clock_timestamp();
    RETURN NEW;
END
$$;",
    ),
    ("function security definer removed", "ALTER FUNCTION app.secure_lookup(text) SECURITY INVOKER;"),
    ("function setting changed", "ALTER FUNCTION app.secure_lookup(text) SET search_path = app;"),
    ("function setting removed", "ALTER FUNCTION app.secure_lookup(text) RESET search_path;"),
    ("function parallel changed", "ALTER FUNCTION app.add_tax(numeric, numeric) PARALLEL RESTRICTED;"),
    ("function cost changed", "ALTER FUNCTION app.max_step(numeric, numeric) COST 10;"),
    (
        "function overload added",
        "CREATE FUNCTION app.describe(v boolean) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT 'bool' $$;",
    ),
    ("function overload dropped", "DROP FUNCTION app.describe(text);"),
    ("function renamed", "ALTER FUNCTION app.describe(integer) RENAME TO describe_int;"),
    ("function comment changed", "COMMENT ON FUNCTION app.order_total(integer) IS 'changed';"),
    ("function comment added", "COMMENT ON FUNCTION app.describe(integer) IS 'added';"),
    (
        "procedure body changed",
        "CREATE OR REPLACE PROCEDURE app.archive_orders(IN p_before timestamp with time zone, INOUT p_count integer DEFAULT 0)
    LANGUAGE plpgsql
    AS $$
BEGIN
    DELETE FROM app.orders WHERE placed_at <= p_before;
    GET DIAGNOSTICS p_count = ROW_COUNT;
END
$$;",
    ),
    ("procedure setting added", "ALTER PROCEDURE app.archive_orders(timestamp with time zone, integer) SET work_mem = '8MB';"),
    ("procedure comment removed", "COMMENT ON PROCEDURE app.archive_orders(timestamp with time zone, integer) IS NULL;"),
    (
        "aggregate initial condition changed",
        "DROP AGGREGATE app.max_amount(numeric);
         CREATE AGGREGATE app.max_amount(numeric) (SFUNC = app.max_step, STYPE = numeric, INITCOND = '-1');
         COMMENT ON AGGREGATE app.max_amount(numeric) IS 'largest amount, at least 0';",
    ),
    ("aggregate comment changed", "COMMENT ON AGGREGATE app.max_amount(numeric) IS 'changed';"),
    ("function made leakproof", "ALTER FUNCTION app.describe(integer) LEAKPROOF;"),
    ("function rows estimate changed", "ALTER FUNCTION app.secure_lookup(text) ROWS 10;"),
    // triggers
    (
        "trigger when changed",
        "DROP TRIGGER orders_touch ON app.orders;
         CREATE TRIGGER orders_touch BEFORE INSERT OR UPDATE OF amount, status ON app.orders
             FOR EACH ROW WHEN (NEW.amount > 10) EXECUTE FUNCTION app.touch_order();
         COMMENT ON TRIGGER orders_touch ON app.orders IS 'stamps the order';",
    ),
    (
        "trigger update of changed",
        "DROP TRIGGER orders_touch ON app.orders;
         CREATE TRIGGER orders_touch BEFORE INSERT OR UPDATE OF amount ON app.orders
             FOR EACH ROW WHEN (NEW.amount > 0) EXECUTE FUNCTION app.touch_order();
         COMMENT ON TRIGGER orders_touch ON app.orders IS 'stamps the order';",
    ),
    (
        "trigger timing changed",
        "DROP TRIGGER orders_audit ON app.orders;
         CREATE TRIGGER orders_audit BEFORE INSERT OR DELETE ON app.orders
             FOR EACH STATEMENT EXECUTE FUNCTION audit.log_event();",
    ),
    (
        "trigger events changed",
        "DROP TRIGGER orders_audit ON app.orders;
         CREATE TRIGGER orders_audit AFTER INSERT OR UPDATE OR DELETE ON app.orders
             FOR EACH STATEMENT EXECUTE FUNCTION audit.log_event();",
    ),
    (
        "trigger level changed",
        "DROP TRIGGER orders_audit ON app.orders;
         CREATE TRIGGER orders_audit AFTER INSERT OR DELETE ON app.orders
             FOR EACH ROW EXECUTE FUNCTION audit.log_event();",
    ),
    (
        "trigger arguments changed",
        "DROP TRIGGER customers_audit ON app.customers;
         CREATE TRIGGER customers_audit AFTER UPDATE ON app.customers
             FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*)
             EXECUTE FUNCTION audit.log_event('customers', 'changed');",
    ),
    (
        "constraint trigger made not deferrable",
        "DROP TRIGGER order_lines_check ON app.order_lines;
         CREATE CONSTRAINT TRIGGER order_lines_check AFTER INSERT ON app.order_lines
             FOR EACH ROW EXECUTE FUNCTION audit.log_event();",
    ),
    ("trigger disabled", "ALTER TABLE app.orders DISABLE TRIGGER orders_audit;"),
    ("trigger enabled always", "ALTER TABLE app.orders ENABLE ALWAYS TRIGGER orders_audit;"),
    ("trigger on partitioned table disabled", "ALTER TABLE audit.logs DISABLE TRIGGER logs_audit;"),
    ("trigger comment changed", "COMMENT ON TRIGGER orders_touch ON app.orders IS 'changed';"),
    // policies
    ("policy using changed", "ALTER POLICY documents_read ON app.documents USING (is_public);"),
    (
        "policy with check changed",
        "ALTER POLICY documents_own ON app.documents WITH CHECK (owner_name = SESSION_USER);",
    ),
    ("policy roles changed", "ALTER POLICY documents_read ON app.documents TO PUBLIC;"),
    (
        "policy made restrictive",
        "DROP POLICY documents_read ON app.documents;
         CREATE POLICY documents_read ON app.documents AS RESTRICTIVE FOR SELECT TO retort_fixture_role
             USING (is_public OR owner_name = CURRENT_USER);
         COMMENT ON POLICY documents_read ON app.documents IS 'public documents and your own';",
    ),
    (
        "policy command changed",
        "DROP POLICY documents_insert ON app.documents;
         CREATE POLICY documents_insert ON app.documents FOR UPDATE TO retort_fixture_role
             WITH CHECK (body IS NOT NULL);",
    ),
    ("policy comment changed", "COMMENT ON POLICY documents_read ON app.documents IS 'changed';"),
    // rules
    (
        "rule changed",
        "CREATE OR REPLACE RULE orders_keep_done AS ON DELETE TO app.orders
             WHERE OLD.status = 'New' DO INSTEAD NOTHING;",
    ),
    ("rule disabled", "ALTER TABLE app.orders DISABLE RULE orders_keep_done;"),
    ("rule comment changed", "COMMENT ON RULE orders_keep_done ON app.orders IS 'changed';"),
    // event triggers
    ("event trigger disabled", "ALTER EVENT TRIGGER retort_fixture_ddl DISABLE;"),
    (
        "event trigger tags changed",
        "DROP EVENT TRIGGER retort_fixture_ddl;
         CREATE EVENT TRIGGER retort_fixture_ddl ON ddl_command_end WHEN TAG IN ('CREATE TABLE')
             EXECUTE FUNCTION audit.on_ddl();
         COMMENT ON EVENT TRIGGER retort_fixture_ddl IS 'logs table DDL';",
    ),
    ("event trigger comment changed", "COMMENT ON EVENT TRIGGER retort_fixture_ddl IS 'changed';"),
    // extended statistics
    (
        "statistics kinds changed",
        "DROP STATISTICS app.customers_mood_stats;
         CREATE STATISTICS app.customers_mood_stats (mcv) ON mood, created_at FROM app.customers;",
    ),
    ("statistics target changed", "ALTER STATISTICS app.orders_status_amount_stats SET STATISTICS 50;"),
    ("statistics comment changed", "COMMENT ON STATISTICS app.orders_status_amount_stats IS 'changed';"),
    // collations
    (
        "collation made deterministic",
        "DROP COLLATION app.case_insensitive;
         CREATE COLLATION app.case_insensitive (provider = icu, locale = 'und-u-ks-level2');",
    ),
    (
        "collation locale changed",
        "DROP COLLATION app.c_posix; CREATE COLLATION app.c_posix (locale = 'POSIX');",
    ),
    ("collation comment changed", "COMMENT ON COLLATION app.case_insensitive IS 'changed';"),
    // foreign data wrappers, servers, foreign tables
    ("foreign data wrapper options changed", "ALTER FOREIGN DATA WRAPPER retort_fixture_fdw OPTIONS (SET debug 'false');"),
    ("foreign server option changed", "ALTER SERVER retort_fixture_remote OPTIONS (SET port '5433');"),
    ("foreign server comment changed", "COMMENT ON SERVER retort_fixture_remote IS 'changed';"),
    ("foreign table column added", "ALTER FOREIGN TABLE app.remote_items ADD COLUMN price numeric;"),
    ("foreign table option changed", "ALTER FOREIGN TABLE app.remote_items OPTIONS (SET table_name 'things');"),
    // publications
    ("publication table added", "ALTER PUBLICATION retort_fixture_pub ADD TABLE app.orders;"),
    ("publication publish changed", "ALTER PUBLICATION retort_fixture_pub SET (publish = 'insert');"),
    ("publication comment changed", "COMMENT ON PUBLICATION retort_fixture_pub IS 'changed';"),
    // casts
    (
        "cast context changed",
        "DROP CAST (app.mood AS integer);
         CREATE CAST (app.mood AS integer) WITH FUNCTION app.mood_score(app.mood) AS IMPLICIT;",
    ),
    ("cast dropped", "DROP CAST (app.address AS text);"),
    ("cast comment changed", "COMMENT ON CAST (app.mood AS integer) IS 'changed';"),
];

/// Mutations of the objects only newer majors have (the fixture's `since` sections):
/// `(first major, name, SQL)`, checked on the majors that have them.
const MUTATIONS_SINCE: &[(u32, &str, &str)] = &[
    (15, "unique made nulls not distinct", "ALTER TABLE app.customers DROP CONSTRAINT customers_email_key;
        ALTER TABLE app.customers ADD CONSTRAINT customers_email_key UNIQUE NULLS NOT DISTINCT (email);"),
    (15, "view security_invoker removed",
        "ALTER VIEW \"Mixed Case\".\"Customer View\" RESET (security_invoker);"),
    (14, "sql-standard function body changed",
        "CREATE OR REPLACE FUNCTION app.add_tax(amount numeric, rate numeric DEFAULT 0.2) RETURNS numeric
             LANGUAGE sql IMMUTABLE PARALLEL SAFE RETURN amount * (2 + rate);"),
    (14, "function argument default changed",
        "CREATE OR REPLACE FUNCTION app.add_tax(amount numeric, rate numeric DEFAULT 0.1) RETURNS numeric
             LANGUAGE sql IMMUTABLE PARALLEL SAFE RETURN amount * (1 + rate);"),
    (15, "unique index nulls made distinct", "DROP INDEX app.customers_phone_key;
        CREATE UNIQUE INDEX customers_phone_key ON app.customers (name, email);"),
    (18, "virtual generated column made stored", "ALTER TABLE app.pg18_rooms DROP COLUMN doubled;
        ALTER TABLE app.pg18_rooms ADD COLUMN doubled numeric GENERATED ALWAYS AS (price * 2) STORED;"),
    (18, "virtual generation expression changed", "ALTER TABLE app.pg18_rooms DROP COLUMN doubled;
        ALTER TABLE app.pg18_rooms ADD COLUMN doubled numeric GENERATED ALWAYS AS (price * 4);"),
    (18, "not null constraint renamed",
        "ALTER TABLE app.pg18_rooms RENAME CONSTRAINT pg18_rooms_room_required TO pg18_rooms_room_needed;"),
    (18, "not null constraint given its default name",
        "ALTER TABLE app.pg18_rooms RENAME CONSTRAINT pg18_rooms_room_required TO pg18_rooms_room_not_null;"),
    (18, "not valid not null validated", "ALTER TABLE app.pg18_rooms VALIDATE CONSTRAINT pg18_rooms_later_set;"),
    (18, "no inherit not null made inheritable", "ALTER TABLE app.pg18_rooms ALTER COLUMN note DROP NOT NULL;
        ALTER TABLE app.pg18_rooms ALTER COLUMN note SET NOT NULL;"),
    (18, "not enforced check enforced", "ALTER TABLE app.pg18_rooms DROP CONSTRAINT pg18_rooms_price_check;
        ALTER TABLE app.pg18_rooms ADD CONSTRAINT pg18_rooms_price_check CHECK (price > 0);"),
    (18, "temporal key made plain", "ALTER TABLE app.pg18_bookings DROP CONSTRAINT pg18_bookings_room_fkey;
        ALTER TABLE app.pg18_rooms DROP CONSTRAINT pg18_rooms_room_during_key;
        ALTER TABLE app.pg18_rooms ADD CONSTRAINT pg18_rooms_room_during_key UNIQUE (room, during);"),
];

/// The mutations that apply on the test server's major.
fn mutations() -> Vec<(&'static str, &'static str)> {
    let major = golden::server_major();
    MUTATIONS
        .iter()
        .copied()
        .chain(
            MUTATIONS_SINCE
                .iter()
                .filter(|(since, _, _)| major >= *since)
                .map(|(_, name, sql)| (*name, *sql)),
        )
        .collect()
}

/// Outcome of one mutation applied on top of a fresh fixture database: `Ok` when both
/// dumps differ from the fixture's (`pg_before`, `ours_before`).
fn check_mutation(dir: &Path, sql: &str, pg_before: &str, ours_before: &str) -> Result<(), String> {
    let db = fixture_db("catalog_mut");
    db.execute(sql)
        .map_err(|e| format!("the mutation's SQL failed: {}", describe_error(&e)))?;
    let pg_after = pg_dump(&db)?;
    if pg_before == pg_after {
        return Err(
            "pg_dump --schema-only is unchanged: the mutation is not real (fix the table)".into(),
        );
    }
    let ours_after = dump_run(dir, &db, &[]);
    if ours_after.code != 0 {
        return Err(format!(
            "dump-schema failed after the mutation:\n{}",
            ours_after.stderr
        ));
    }
    if ours_before == ours_after.stdout {
        return Err(format!(
            "retort's dump is unchanged, but pg_dump shows:\n{}",
            short_diff(pg_before, &pg_after, 24)
        ));
    }
    // The mutated schema's dump loads too, and gives the same dump again.
    let copy = TestDb::new("catalog_mut_load");
    copy.execute(&ours_after.stdout)
        .map_err(|e| format!("the dump does not load: {}", describe_error(&e)))?;
    let again = dump_run(dir, &copy, &[]);
    if again.stdout != ours_after.stdout {
        return Err(format!(
            "the dump, loaded, dumps differently:\n{}",
            short_diff(&ours_after.stdout, &again.stdout, 24)
        ));
    }
    Ok(())
}

#[test]
fn every_mutation_changes_the_dump() {
    assert!(
        MUTATIONS.len() >= 60,
        "the table must keep at least 60 mutations"
    );
    let mutations = mutations();
    let mut names: Vec<&str> = mutations.iter().map(|(name, _)| *name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(
        names.len(),
        mutations.len(),
        "mutation names must be unique"
    );

    let dir = tempfile::tempdir().expect("temp dir");
    // The dumps of the unmutated fixture, taken once. Two databases (with different
    // names) must dump alike, or comparing each mutated database with them would prove
    // nothing.
    let (pg_before, ours_before) = {
        let reference = fixture_db("catalog_mut_ref");
        let other = fixture_db("catalog_mut_ref");
        let pg_before = pg_dump(&reference).unwrap_or_else(|e| panic!("{e}"));
        let pg_other = pg_dump(&other).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            pg_before == pg_other,
            "pg_dump of two fixture databases differs:\n{}",
            short_diff(&pg_before, &pg_other, 40)
        );
        let ours_before = dump(dir.path(), &reference);
        let ours_other = dump(dir.path(), &other);
        assert!(
            ours_before == ours_other,
            "the dumps of two fixture databases differ (the dump must not depend on the \
             database's name or history):\n{}",
            short_diff(&ours_before, &ours_other, 40)
        );
        (pg_before, ours_before)
    };
    let next = AtomicUsize::new(0);
    let failures: Mutex<Vec<(usize, String)>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..MUTATION_THREADS {
            scope.spawn(|| loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some((name, sql)) = mutations.get(index) else {
                    break;
                };
                if let Err(why) = check_mutation(dir.path(), sql, &pg_before, &ours_before) {
                    failures
                        .lock()
                        .expect("failures lock")
                        .push((index, format!("### {name}\n{why}")));
                }
            });
        }
    });
    let mut failures = failures.into_inner().expect("failures lock");
    failures.sort();
    assert!(
        failures.is_empty(),
        "{} of {} mutations are not detected by `retort dump-schema`:\n\n{}",
        failures.len(),
        mutations.len(),
        failures
            .into_iter()
            .map(|(_, text)| text)
            .collect::<Vec<_>>()
            .join("\n\n")
    );
}

// ---------------------------------------------------------------------------
// 3. Converse: equal schemas dump byte-identically; the output channels agree
// ---------------------------------------------------------------------------

/// The dump is a schema file in its own right: `psql -v ON_ERROR_STOP=1 -f` loads it
/// into an empty database, whose dump is the same text again, and as models it matches
/// the database it came from.
#[test]
fn the_dump_loads_with_psql_and_as_models() {
    let project = crate::support::Project::new();
    let original = fixture_db("catalog_loadsrc");
    let text = dump(project.path(), &original);
    assert!(
        !text.contains("CREATE SCHEMA public"),
        "public exists in every database:\n{text}"
    );
    let file = project.path().join("dump.sql");
    std::fs::write(&file, &text).expect("write the dump");
    let copy = TestDb::new("catalog_loaded");
    let out = Command::new(crate::support::pg_program("psql"))
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", &copy.url, "-f"])
        .arg(&file)
        .env("PGSSLMODE", "disable")
        .output()
        .expect("run psql");
    assert!(
        out.status.success(),
        "psql -f of the dump failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let again = dump(project.path(), &copy);
    assert!(
        again == text,
        "the loaded dump dumps differently:\n{}",
        short_diff(&text, &again, 80)
    );
    // As the models of a project: `check` against the database it came from agrees.
    let models = project.path().join("models");
    for entry in std::fs::read_dir(&models).expect("models/") {
        std::fs::remove_file(entry.expect("entry").path()).expect("remove example model");
    }
    std::fs::write(models.join("schema.sql"), &text).expect("write models");
    // The scratch server is the test server: the fixture's role exists there.
    let check = run(retort(project.path()).args([
        "check",
        "--from-database",
        &original.url,
        "--scratch-url",
        crate::support::admin_url(),
    ]));
    assert_eq!(check.code, 0, "{}\n{}", check.stdout, check.stderr);
}

#[test]
fn reordered_equivalent_ddl_dumps_identically() {
    let dir = tempfile::tempdir().expect("temp dir");
    let original = fixture_db("catalog_orig");
    let reordered = TestDb::new("catalog_reord");
    load(
        &reordered,
        &read_fixture("schema_reordered.sql"),
        "tests/fixtures/catalog/schema_reordered.sql",
    );
    // Sanity of the fixtures: pg_dump sees the same objects (its output follows creation
    // order and keeps reloptions in the order given, so compare sorted lines).
    let (pg_a, pg_b) = (
        pg_dump_lines_sorted(&original),
        pg_dump_lines_sorted(&reordered),
    );
    assert!(
        pg_a == pg_b,
        "schema_reordered.sql is not the schema of schema.sql according to pg_dump \
         (sorted lines):\n{}",
        short_diff(&pg_a.join("\n"), &pg_b.join("\n"), 60)
    );
    let a = dump(dir.path(), &original);
    let b = dump(dir.path(), &reordered);
    assert!(
        a == b,
        "schema.sql and schema_reordered.sql build the same schema but dump differently:\n{}",
        short_diff(&a, &b, 200)
    );
}

#[test]
fn dump_is_stable_and_its_outputs_agree() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = fixture_db("catalog_stable");

    let first = retort(dir.path())
        .args(["--database-url", &db.url, "dump-schema"])
        .output()
        .expect("run retort");
    assert!(
        first.status.success(),
        "dump-schema failed: {}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(!first.stdout.is_empty(), "the dump of the fixture is empty");
    let second = retort(dir.path())
        .args(["--database-url", &db.url, "dump-schema"])
        .output()
        .expect("run retort");
    assert!(
        first.stdout == second.stdout,
        "two dumps of the same database differ:\n{}",
        short_diff(
            &String::from_utf8_lossy(&first.stdout),
            &String::from_utf8_lossy(&second.stdout),
            100
        )
    );

    // -o FILE writes exactly what stdout shows.
    let file = dir.path().join("schema.dump");
    let to_file = dump_run(dir.path(), &db, &["-o", file.to_str().expect("utf-8 path")]).ok();
    assert!(
        to_file.stdout.len() < first.stdout.len(),
        "with -o the dump must go to the file, not stdout:\n{}",
        to_file.stdout
    );
    let written = std::fs::read(&file).expect("read the -o file");
    assert!(
        written == first.stdout,
        "-o FILE differs from stdout:\n{}",
        short_diff(
            &String::from_utf8_lossy(&first.stdout),
            &String::from_utf8_lossy(&written),
            100
        )
    );

    // --format json is JSON that carries the schema.
    let json = dump_run(dir.path(), &db, &["--format", "json"]).ok();
    let value = json.json();
    assert!(
        !value.is_null() && value.to_string().contains("customers"),
        "the JSON dump does not describe the fixture: {}",
        json.stdout
    );
    let json_again = dump_run(dir.path(), &db, &["--format", "json"]).ok();
    assert_eq!(
        json.stdout, json_again.stdout,
        "two JSON dumps of the same database differ"
    );
}

#[test]
fn diff_dumps_exit_codes_and_changed_lines() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = fixture_db("catalog_diff");
    let before = dir.path().join("before.dump");
    let again = dir.path().join("again.dump");
    let after = dir.path().join("after.dump");
    std::fs::write(&before, dump(dir.path(), &db)).expect("write dump");
    std::fs::write(&again, dump(dir.path(), &db)).expect("write dump");

    let same = run(retort(dir.path())
        .args(["diff-dumps"])
        .arg(&before)
        .arg(&again))
    .fails_with(0);
    assert!(
        !same
            .stdout
            .lines()
            .any(|l| l.starts_with('+') || l.starts_with('-')),
        "diff-dumps of equal dumps shows changes:\n{}",
        same.stdout
    );

    load(
        &db,
        "COMMENT ON TABLE app.orders IS 'orders, changed';",
        "the mutation",
    );
    std::fs::write(&after, dump(dir.path(), &db)).expect("write dump");
    let differ = run(retort(dir.path())
        .args(["diff-dumps"])
        .arg(&before)
        .arg(&after))
    .fails_with(1);
    let removed = differ
        .stdout
        .lines()
        .any(|l| l.starts_with('-') && !l.starts_with("---") && l.contains("customer orders"));
    let added = differ
        .stdout
        .lines()
        .any(|l| l.starts_with('+') && !l.starts_with("+++") && l.contains("orders, changed"));
    assert!(
        removed && added,
        "diff-dumps must show the old comment as `-` and the new one as `+`:\n{}",
        differ.stdout
    );
}
