//! Each rule: a statement that triggers it and a safe variant that does not.

use std::path::Path;

use super::*;

/// Lints a revision whose upgrade is `upgrade` (with `transaction:false` when
/// `transactional` is false) and whose downgrade is empty.
fn lint(upgrade: &str, transactional: bool) -> Vec<Finding> {
    lint_with(upgrade, transactional, &LintConfig::default())
}

fn lint_with(upgrade: &str, transactional: bool, config: &LintConfig) -> Vec<Finding> {
    let marker = if transactional {
        "-- migrate:upgrade"
    } else {
        "-- migrate:upgrade transaction:false"
    };
    let text = format!(
        "-- revision: 0002_a8cd0dc08805\n-- down_revision: 0001_5f1c2b3d4e6a\n-- message: t\n\n{marker}\n{upgrade}\n\n-- migrate:downgrade\n"
    );
    let revision = crate::revision::parse_bytes(
        Path::new("versions/0002_a8cd0dc08805_t.sql"),
        text.as_bytes(),
    )
    .expect("test revision parses");
    lint_revision(&revision, config)
}

fn rules_of(findings: &[Finding]) -> Vec<&'static str> {
    findings.iter().map(|f| f.rule).collect()
}

/// `sql` triggers `rule` (in a transactional section unless told otherwise) and `safe`
/// does not.
fn case(rule: &str, sql: &str, safe: &str) {
    case_in(rule, sql, true, safe, true);
}

fn case_in(rule: &str, sql: &str, sql_tx: bool, safe: &str, safe_tx: bool) {
    let hits = rules_of(&lint(sql, sql_tx));
    assert!(
        hits.contains(&rule),
        "{rule} not found in {sql:?}: {hits:?}"
    );
    let safe_hits = rules_of(&lint(safe, safe_tx));
    assert!(
        !safe_hits.contains(&rule),
        "{rule} found in the safe variant {safe:?}: {safe_hits:?}"
    );
}

const LOCKED: &str = "SET lock_timeout = '5s';\n";

#[test]
fn adding_volatile_default() {
    case(
        "adding-volatile-default",
        "ALTER TABLE users ADD COLUMN token uuid DEFAULT gen_random_uuid();",
        "ALTER TABLE users ADD COLUMN created_at timestamptz DEFAULT now();",
    );
}

#[test]
fn adding_not_null_column() {
    case(
        "adding-not-null-column",
        "ALTER TABLE users ADD COLUMN email text NOT NULL;",
        "ALTER TABLE users ADD COLUMN email text NOT NULL DEFAULT '';",
    );
    // A table created in the same revision holds no rows.
    let new = rules_of(&lint(
        "CREATE TABLE t (id int);\nALTER TABLE t ADD COLUMN x text NOT NULL;",
        true,
    ));
    assert!(!new.contains(&"adding-not-null-column"), "{new:?}");
}

#[test]
fn manual_step() {
    // As autogenerate writes it: the marker between TYPE and USING.
    let generated = "ALTER TABLE events ALTER COLUMN payload TYPE jsonb\n    \
                     -- retort: manual step: replace `payload::jsonb` by an expression\n    \
                     USING payload::jsonb;";
    case(
        "manual-step",
        generated,
        "ALTER TABLE events ALTER COLUMN payload TYPE jsonb\n    \
         USING convert_from(payload, 'UTF8')::jsonb;",
    );
    // The finding is an error on the statement's own line and says what to write.
    let findings = lint(generated, true);
    let step = findings
        .iter()
        .find(|f| f.rule == "manual-step")
        .expect("manual-step found");
    assert_eq!(step.severity, Severity::Error);
    assert_eq!((step.line, step.column), (6, 1));
    assert!(step.message.contains("replace `payload::jsonb`"), "{step}");
    // A block comment is a comment too; a string quoting the marker is not.
    case(
        "manual-step",
        "ALTER TABLE t ALTER COLUMN c TYPE jsonb /* retort: manual step: */ USING c::jsonb;",
        "COMMENT ON TABLE t IS '-- retort: manual step: is how retort marks a step';",
    );
}

#[test]
fn setting_not_null() {
    case(
        "setting-not-null",
        "ALTER TABLE users ALTER COLUMN email SET NOT NULL;",
        "ALTER TABLE users ADD CONSTRAINT email_nn CHECK (email IS NOT NULL) NOT VALID;",
    );
    // The safe sequence: a validated check proves the column, SET NOT NULL then skips
    // its scan (PostgreSQL 12+). A check on another column proves nothing.
    let proven = "ALTER TABLE users ADD CONSTRAINT email_nn CHECK (email IS NOT NULL) NOT VALID;\n\
                  ALTER TABLE users VALIDATE CONSTRAINT email_nn;\n\
                  ALTER TABLE users ALTER COLUMN email SET NOT NULL;";
    case_in(
        "setting-not-null",
        "ALTER TABLE users ALTER COLUMN email SET NOT NULL;",
        false,
        proven,
        false,
    );
    let other = proven.replace(
        "SET NOT NULL",
        "SET NOT NULL;\nALTER TABLE users ALTER COLUMN name SET NOT NULL",
    );
    assert!(rules_of(&lint(&other, false)).contains(&"setting-not-null"));
    let unvalidated = proven.replace("ALTER TABLE users VALIDATE CONSTRAINT email_nn;\n", "");
    assert!(rules_of(&lint(&unvalidated, false)).contains(&"setting-not-null"));
}

#[test]
fn changing_column_type() {
    case(
        "changing-column-type",
        "ALTER TABLE users ALTER COLUMN id TYPE bigint;",
        "ALTER TABLE users ADD COLUMN id_new bigint;",
    );
}

#[test]
fn index_not_concurrent() {
    case_in(
        "index-not-concurrent",
        "CREATE INDEX users_email ON users (email);",
        true,
        "CREATE INDEX CONCURRENTLY users_email ON users (email);",
        false,
    );
    case_in(
        "index-not-concurrent",
        "DROP INDEX users_email;",
        true,
        "DROP INDEX CONCURRENTLY users_email;",
        false,
    );
    let new = rules_of(&lint(
        "CREATE TABLE t (id int);\nCREATE INDEX t_id ON t (id);",
        true,
    ));
    assert!(!new.contains(&"index-not-concurrent"), "{new:?}");
    // A key constraint builds an index, unless it adopts one built concurrently.
    case(
        "index-not-concurrent",
        "ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email);",
        "ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE USING INDEX users_email_idx;",
    );
}

#[test]
fn downgrades_may_drop_what_the_upgrade_made() {
    let text = "-- revision: 0002_a8cd0dc08805\n-- down_revision: 0001_5f1c2b3d4e6a\n\n-- migrate:upgrade\nSET lock_timeout = '1s';\nALTER TABLE t ADD COLUMN c text;\n\n-- migrate:downgrade\nSET lock_timeout = '1s';\nALTER TABLE t DROP COLUMN c;\nDROP TABLE u;\n";
    let revision =
        crate::revision::parse_bytes(Path::new("v/0002_a8cd0dc08805_t.sql"), text.as_bytes())
            .expect("parses");
    let hits = rules_of(&lint_revision(&revision, &LintConfig::default()));
    assert!(hits.is_empty(), "{hits:?}");
}

#[test]
fn concurrently_in_transaction() {
    case_in(
        "concurrently-in-transaction",
        "CREATE INDEX CONCURRENTLY users_email ON users (email);",
        true,
        "CREATE INDEX CONCURRENTLY users_email ON users (email);",
        false,
    );
    case_in(
        "concurrently-in-transaction",
        "REINDEX INDEX CONCURRENTLY users_email;",
        true,
        "REINDEX INDEX CONCURRENTLY users_email;",
        false,
    );
}

#[test]
fn constraint_missing_not_valid() {
    case(
        "constraint-missing-not-valid",
        "ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id);",
        "ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;",
    );
    case(
        "constraint-missing-not-valid",
        "ALTER TABLE orders ADD CONSTRAINT positive CHECK (total >= 0);",
        "ALTER TABLE orders ADD CONSTRAINT positive CHECK (total >= 0) NOT VALID;",
    );
}

#[test]
fn validate_in_same_transaction() {
    let add = "ALTER TABLE orders ADD CONSTRAINT positive CHECK (total >= 0) NOT VALID;\n";
    case_in(
        "validate-in-same-transaction",
        &format!("{add}ALTER TABLE orders VALIDATE CONSTRAINT positive;"),
        true,
        &format!("{add}ALTER TABLE orders VALIDATE CONSTRAINT positive;"),
        false,
    );
}

#[test]
fn destructive_drops() {
    case("drop-table", "DROP TABLE users;", "DROP VIEW user_names;");
    case(
        "drop-column",
        "ALTER TABLE users DROP COLUMN email;",
        "ALTER TABLE users ADD COLUMN email text;",
    );
    case(
        "drop-type",
        "DROP TYPE status;",
        "CREATE TYPE status AS ENUM ('a');",
    );
    case(
        "drop-schema",
        "DROP SCHEMA legacy CASCADE;",
        "CREATE SCHEMA legacy;",
    );
}

#[test]
fn renames() {
    case(
        "rename-table",
        "ALTER TABLE users RENAME TO accounts;",
        "CREATE VIEW users AS SELECT 1;",
    );
    case(
        "rename-column",
        "ALTER TABLE users RENAME COLUMN mail TO email;",
        "ALTER TABLE users ADD COLUMN email text;",
    );
}

#[test]
fn enum_value_in_transaction() {
    // The label used in the same transaction.
    case_in(
        "enum-value-in-transaction",
        "ALTER TYPE status ADD VALUE 'archived';\nUPDATE tasks SET state = 'archived' WHERE old;",
        true,
        "ALTER TYPE status ADD VALUE 'archived';\nUPDATE tasks SET state = 'archived' WHERE old;",
        false,
    );
    // Placing another label after it is not a use.
    let hits = rules_of(&lint(
        "ALTER TYPE status ADD VALUE 'a';\nALTER TYPE status ADD VALUE 'b' AFTER 'a';",
        true,
    ));
    assert!(!hits.contains(&"enum-value-in-transaction"), "{hits:?}");
    // Any ADD VALUE in a transaction before PostgreSQL 12.
    let old = LintConfig {
        server_version: 110_000,
        ..LintConfig::default()
    };
    let hits = rules_of(&lint_with("ALTER TYPE status ADD VALUE 'x';", true, &old));
    assert!(hits.contains(&"enum-value-in-transaction"), "{hits:?}");
    let new = rules_of(&lint("ALTER TYPE status ADD VALUE 'x';", true));
    assert!(!new.contains(&"enum-value-in-transaction"), "{new:?}");
}

#[test]
fn any_default_rewrites_before_11() {
    let sql = "ALTER TABLE users ADD COLUMN plan text DEFAULT 'free';";
    let pre11 = LintConfig {
        server_version: 100_000,
        ..LintConfig::default()
    };
    let hits = rules_of(&lint_with(sql, true, &pre11));
    assert!(hits.contains(&"adding-volatile-default"), "{hits:?}");
    // A NULL default stores nothing.
    let null = "ALTER TABLE users ADD COLUMN plan text DEFAULT NULL;";
    let hits = rules_of(&lint_with(null, true, &pre11));
    assert!(!hits.contains(&"adding-volatile-default"), "{hits:?}");
    // From 11 on, and when the version is unknown, a constant default is free.
    for version in [0, 110_000, 180_000] {
        let config = LintConfig {
            server_version: version,
            ..LintConfig::default()
        };
        let hits = rules_of(&lint_with(sql, true, &config));
        assert!(
            !hits.contains(&"adding-volatile-default"),
            "{version}: {hits:?}"
        );
    }
}

#[test]
fn maintenance_commands() {
    case_in(
        "vacuum-full",
        "VACUUM FULL users;",
        false,
        "VACUUM users;",
        false,
    );
    case_in(
        "vacuum-in-transaction",
        "VACUUM users;",
        true,
        "VACUUM users;",
        false,
    );
    assert!(!rules_of(&lint("ANALYZE users;", true)).contains(&"vacuum-in-transaction"));
    case(
        "cluster",
        "CLUSTER users USING users_pkey;",
        "ANALYZE users;",
    );
    case_in(
        "reindex-not-concurrent",
        "REINDEX TABLE users;",
        true,
        "REINDEX TABLE CONCURRENTLY users;",
        false,
    );
    case(
        "lock-table",
        "LOCK TABLE users IN ACCESS EXCLUSIVE MODE;",
        "SELECT 1;",
    );
}

#[test]
fn missing_lock_timeout() {
    case(
        "missing-lock-timeout",
        "ALTER TABLE users ADD COLUMN bio text;",
        &format!("{LOCKED}ALTER TABLE users ADD COLUMN bio text;"),
    );
    // Reported once per section.
    let hits = lint(
        "ALTER TABLE users ADD COLUMN a text;\nALTER TABLE users ADD COLUMN b text;",
        true,
    );
    let count = hits
        .iter()
        .filter(|f| f.rule == "missing-lock-timeout")
        .count();
    assert_eq!(count, 1, "{hits:?}");
}

#[test]
fn column_types() {
    case(
        "prefer-identity",
        "CREATE TABLE t (id bigserial PRIMARY KEY);",
        "CREATE TABLE t (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY);",
    );
    case(
        "prefer-timestamptz",
        "CREATE TABLE t (at timestamp);",
        "CREATE TABLE t (at timestamptz);",
    );
    case(
        "prefer-text",
        "ALTER TABLE users ADD COLUMN name varchar(40);",
        "ALTER TABLE users ADD COLUMN name text;",
    );
}

#[test]
fn irreversible_and_syntax_error() {
    let text = "-- revision: 0002_a8cd0dc08805\n-- down_revision: 0001_5f1c2b3d4e6a\n\n-- migrate:upgrade\nCREATE TABLE t (id int);\n";
    let revision =
        crate::revision::parse_bytes(Path::new("v/0002_a8cd0dc08805_t.sql"), text.as_bytes())
            .expect("parses");
    let hits = rules_of(&lint_revision(&revision, &LintConfig::default()));
    assert!(hits.contains(&"irreversible"), "{hits:?}");
    assert!(!rules_of(&lint("SELECT 1;", true)).contains(&"irreversible"));

    let findings = lint("SELECT 1;\nCREAT TABLE t (id int);", true);
    let syntax = findings
        .iter()
        .find(|f| f.rule == "syntax-error")
        .expect("a syntax error");
    assert_eq!(syntax.severity, Severity::Error);
    assert!(
        syntax.message.contains("syntax error"),
        "{}",
        syntax.message
    );
    // Line 7 of the file: header (3 lines), blank, marker, SELECT, then the bad line.
    assert_eq!((syntax.line, syntax.column), (7, 1));
}

#[test]
fn strings_and_comments_do_not_trigger_rules() {
    let hits = rules_of(&lint(
        "INSERT INTO notes (body) VALUES ('DROP TABLE users; CREATE INDEX x ON y (z)');\n-- DROP TABLE users;",
        true,
    ));
    assert!(hits.is_empty(), "{hits:?}");
}

#[test]
fn ignore_comments_accept_a_finding_with_a_reason() {
    let findings = lint(
        "-- retort:ignore drop-table the table was emptied and archived in 0041\nDROP TABLE legacy_events;",
        true,
    );
    let drop = findings
        .iter()
        .find(|f| f.rule == "drop-table")
        .expect("still reported");
    assert_eq!(
        drop.ignored.as_deref(),
        Some("the table was emptied and archived in 0041")
    );
}

#[test]
fn configuration_disables_rules_and_changes_severities() {
    let config = LintConfig {
        disabled: ["drop-table".to_string()].into(),
        severities: [("prefer-text".to_string(), Severity::Error)].into(),
        ..LintConfig::default()
    };
    let findings = lint_with(
        "DROP TABLE t;\nCREATE TABLE u (name varchar(4));",
        true,
        &config,
    );
    assert!(!rules_of(&findings).contains(&"drop-table"));
    let text = findings
        .iter()
        .find(|f| f.rule == "prefer-text")
        .expect("prefer-text");
    assert_eq!(text.severity, Severity::Error);
}

#[test]
fn every_rule_is_documented_once() {
    let mut ids: Vec<&str> = RULES.iter().map(|r| r.id).collect();
    let count = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), count, "duplicate rule ids");
    for rule in RULES {
        assert!(
            rule.id.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
            "{} is not kebab-case",
            rule.id
        );
        assert!(
            !rule.why.is_empty() && !rule.instead.is_empty(),
            "{}",
            rule.id
        );
    }
}

/// The parser is PostgreSQL 18's: what 18 added is no syntax error.
#[test]
fn postgresql_18_syntax_parses() {
    for sql in [
        "ALTER TABLE t ADD COLUMN c numeric GENERATED ALWAYS AS (a * 2) VIRTUAL;",
        "ALTER TABLE t ADD CONSTRAINT t_a_set NOT NULL a NOT VALID;",
        "ALTER TABLE t ADD CONSTRAINT t_price_check CHECK (price > 0) NOT ENFORCED;",
        "ALTER TABLE rooms ADD CONSTRAINT rooms_key UNIQUE (room, during WITHOUT OVERLAPS);",
        "ALTER TABLE b ADD CONSTRAINT b_fkey FOREIGN KEY (room, PERIOD during) \
         REFERENCES rooms (room, PERIOD during);",
        "UPDATE t SET a = 1 RETURNING old.a, new.a;",
    ] {
        let findings = lint(sql, true);
        assert!(
            !rules_of(&findings).contains(&"syntax-error"),
            "{sql}: {findings:?}"
        );
    }
}

/// A revision whose upgrade section is `upgrade`, followed by a batch section over
/// `table` running `statement`, then `after` as the section after the batch.
fn lint_batched(upgrade: &str, table: &str, statement: &str, after: &str) -> Vec<Finding> {
    let text = format!(
        "-- revision: 0002_a8cd0dc08805\n-- down_revision: 0001_5f1c2b3d4e6a\n-- message: t\n\n\
         -- migrate:upgrade\n{upgrade}\n\n-- migrate:batch table={table} key=id size=1000\n{statement}\n\n\
         -- migrate:upgrade\n{after}\n\n-- migrate:downgrade\n"
    );
    let revision = crate::revision::parse_bytes(
        Path::new("versions/0002_a8cd0dc08805_t.sql"),
        text.as_bytes(),
    )
    .expect("test revision parses");
    lint_revision(&revision, &LintConfig::default())
}

/// The rules found in the batch statement of a batch section over `table`.
fn batch_rules(table: &str, statement: &str) -> Vec<&'static str> {
    rules_of(&lint_batched(LOCKED, table, statement, ""))
}

const RANGE: &str = "id >= :lo AND id < :hi";

#[test]
fn batch_statements_and_the_sections_after_them_are_linted_at_their_lines() {
    let text = "-- revision: 0002_a8cd0dc08805\n-- down_revision: 0001_5f1c2b3d4e6a\n\n\
                -- migrate:upgrade\n\
                ALTER TABLE app.events ADD COLUMN kind_id int;\n\
                ALTER TABLE app.events ADD CONSTRAINT kind_fk FOREIGN KEY (kind_id) REFERENCES app.kinds (id) NOT VALID;\n\
                \n\
                -- migrate:batch table=app.events key=id size=10000\n\
                -- what the batch does\n  \
                UPDATE app.kinds SET used = true\n   \
                WHERE id IN (SELECT kind_id FROM app.events WHERE id >= :lo AND id < :hi);\n\
                \n\
                -- migrate:upgrade\n\
                ALTER TABLE app.events VALIDATE CONSTRAINT kind_fk;\n\
                CREATE INDEX CONCURRENTLY events_kind ON app.events (kind_id);\n\
                UPDATE app.events SET seen = true;\n\
                \n\
                -- migrate:downgrade\n\
                ALTER TABLE app.events DROP COLUMN kind_id;\n\
                \n\
                -- migrate:batch table=app.events key=id size=10000\n\
                SELECT count(*) FROM app.events WHERE id >= :lo AND id < :hi;\n\
                \n\
                -- migrate:downgrade\n\
                DROP TABLE app.kinds;\n";
    let revision =
        crate::revision::parse_bytes(Path::new("v/0002_a8cd0dc08805_t.sql"), text.as_bytes())
            .expect("parses");
    let config = LintConfig {
        runner_lock_timeout: true,
        ..LintConfig::default()
    };
    let placed: Vec<(&str, &str, usize, usize)> = lint_revision(&revision, &config)
        .iter()
        .map(|f| (f.rule, f.section, f.line, f.column))
        .collect();
    assert_eq!(
        placed,
        [
            // The batch statement, where it starts in the file (past its comment).
            ("batch-other-table", "upgrade", 10, 3),
            // The section after the batch is a transaction of its own: the constraint
            // added NOT VALID before the batch committed long ago, and CONCURRENTLY
            // cannot run in it.
            ("concurrently-in-transaction", "upgrade", 15, 1),
            ("unbatched-full-table-write", "upgrade", 16, 1),
            // The downgrade's batch statement and section after it belong to the
            // downgrade, whose drops are its job (line 19, and the DROP TABLE after
            // the batch).
            ("batch-other-table", "downgrade", 22, 1),
        ]
    );
    let findings = lint_revision(&revision, &config);
    let other = &findings[0];
    assert_eq!(other.severity, Severity::Error);
    assert!(
        other.message.contains("UPDATE app.kinds")
            && other.message.contains("batch table app.events"),
        "{other}"
    );
}

#[test]
fn a_batch_statement_that_does_not_parse_is_a_syntax_error_at_its_line() {
    let findings = lint_batched(LOCKED, "t", &format!("UPDATE t SET c = WHERE {RANGE};"), "");
    let syntax = findings
        .iter()
        .find(|f| f.rule == "syntax-error")
        .expect("a syntax error");
    // Header (3 lines), blank, marker, SET, blank, blank, batch marker, the statement.
    assert_eq!((syntax.line, syntax.column), (10, 1));
    // Bound as parameters, the placeholders themselves parse.
    let clean = lint_batched(
        LOCKED,
        "t",
        &format!("UPDATE t SET c = :lo::text || :hi WHERE {RANGE};"),
        "",
    );
    assert!(rules_of(&clean).is_empty(), "{clean:?}");
}

#[test]
fn batch_other_table() {
    // The batch table, however the statement and `table=` qualify it.
    for (table, statement) in [
        (
            "app.events",
            format!("UPDATE app.events SET c = 1 WHERE {RANGE};"),
        ),
        (
            "app.events",
            format!("UPDATE events e SET c = 1 WHERE e.{RANGE};"),
        ),
        (
            "events",
            format!("UPDATE app.events SET c = 1 WHERE {RANGE};"),
        ),
        (
            "events",
            format!("DELETE FROM ONLY events WHERE {RANGE} AND old;"),
        ),
        (
            "app.events",
            format!(
                "INSERT INTO app.events (id) SELECT id + 1000000 FROM app.events WHERE {RANGE};"
            ),
        ),
        (
            "app.events",
            format!(
                "MERGE INTO app.events e USING app.staged s ON s.id = e.id AND s.{RANGE} \
                 WHEN MATCHED THEN UPDATE SET c = s.c;"
            ),
        ),
        (
            "\"My Events\"",
            format!("UPDATE \"My Events\" SET c = 1 WHERE {RANGE};"),
        ),
        (
            "app.events",
            format!(
                "WITH done AS (UPDATE app.events SET c = 1 WHERE {RANGE} RETURNING id) \
                 SELECT count(*) FROM done;"
            ),
        ),
    ] {
        let hits = batch_rules(table, &statement);
        assert!(
            !hits.contains(&"batch-other-table"),
            "{table}: {statement}: {hits:?}"
        );
    }
    // Another table, another schema, no write at all, a schema change, a second write.
    for (table, statement) in [
        (
            "app.events",
            format!("UPDATE app.kinds SET c = 1 WHERE {RANGE};"),
        ),
        (
            "app.events",
            format!("UPDATE audit.events SET c = 1 WHERE {RANGE};"),
        ),
        (
            "events",
            format!("DELETE FROM app.events_old WHERE {RANGE};"),
        ),
        (
            "app.events",
            format!("SELECT count(*) FROM app.events WHERE {RANGE};"),
        ),
        (
            "app.events",
            "ALTER TABLE app.events ADD CONSTRAINT r CHECK (id >= :lo AND id < :hi);".into(),
        ),
        // The log-table shape tests/it/batch.rs uses: flagged, and ignorable.
        (
            "t",
            format!(
                "WITH u AS (UPDATE t SET c = c + 1 WHERE {RANGE} RETURNING 1) \
                 INSERT INTO seen SELECT count(*) FROM u;"
            ),
        ),
        // PostgreSQL folds the statement's names; `table=` names are taken as written.
        ("Events", format!("UPDATE Events SET c = 1 WHERE {RANGE};")),
    ] {
        let hits = batch_rules(table, &statement);
        assert!(
            hits.contains(&"batch-other-table"),
            "{table}: {statement}: {hits:?}"
        );
    }
    let findings = lint_batched(
        LOCKED,
        "t",
        &format!(
            "WITH u AS (UPDATE t SET c = c + 1 WHERE {RANGE} RETURNING 1) \
             INSERT INTO seen SELECT count(*) FROM u;"
        ),
        "",
    );
    let log = findings
        .iter()
        .find(|f| f.rule == "batch-other-table")
        .expect("batch-other-table");
    assert!(
        log.message
            .contains("besides t, the batch statement runs INSERT INTO seen once per key range"),
        "{log}"
    );
    let select = lint_batched(
        LOCKED,
        "t",
        &format!("SELECT count(*) FROM t WHERE {RANGE};"),
        "",
    );
    assert!(
        select
            .iter()
            .any(|f| f.message.contains("this SELECT statement changes no rows")),
        "{select:?}"
    );
    // The rule is about batch statements: ordinary sections write what they like.
    assert!(!rules_of(&lint("INSERT INTO seen VALUES (1);", true)).contains(&"batch-other-table"));
}

#[test]
fn unbatched_full_table_write() {
    case(
        "unbatched-full-table-write",
        "UPDATE users SET active = true;",
        "UPDATE users SET active = true WHERE id = 1;",
    );
    case(
        "unbatched-full-table-write",
        "DELETE FROM sessions;",
        "DELETE FROM sessions WHERE expires_at < now();",
    );
    case(
        "unbatched-full-table-write",
        "WITH gone AS (DELETE FROM sessions RETURNING id) INSERT INTO log SELECT id FROM gone;",
        "TRUNCATE sessions;",
    );
    // Outside a transaction the statement's own locks are still on every row.
    case_in(
        "unbatched-full-table-write",
        "UPDATE users SET active = true;",
        false,
        "INSERT INTO users (id) VALUES (1);",
        false,
    );
    // A table created earlier in the section holds only its own rows.
    let new = rules_of(&lint(
        "CREATE TABLE t (id int, c int);\nINSERT INTO t VALUES (1, 1);\nUPDATE t SET c = 2;\nDELETE FROM t;",
        true,
    ));
    assert!(!new.contains(&"unbatched-full-table-write"), "{new:?}");
    let findings = lint("UPDATE app.users SET active = true;", true);
    let write = findings
        .iter()
        .find(|f| f.rule == "unbatched-full-table-write")
        .expect("found");
    assert_eq!(write.severity, Severity::Warning);
    assert!(
        write.message.contains("UPDATE app.users without WHERE")
            && write.message.contains("-- migrate:batch"),
        "{write}"
    );
    // A batch statement is bounded by its range, whatever its shape; in the sections
    // around it, the rule holds as anywhere.
    let batched = lint_batched(
        &format!("{LOCKED}UPDATE t SET c = 0;"),
        "t",
        "WITH r AS (SELECT :lo::int AS lo, :hi::int AS hi) \
         UPDATE t SET c = 1 FROM r WHERE t.id >= r.lo AND t.id < r.hi;",
        "DELETE FROM t;",
    );
    let lines: Vec<usize> = batched
        .iter()
        .filter(|f| f.rule == "unbatched-full-table-write")
        .map(|f| f.line)
        .collect();
    assert_eq!(lines, [7, 13], "{batched:?}");
}

#[test]
fn ignore_comments_accept_the_batch_rules() {
    let findings = lint_batched(
        &format!(
            "{LOCKED}-- retort:ignore unbatched-full-table-write ten rows at most\nDELETE FROM t;"
        ),
        "t",
        &format!(
            "-- retort:ignore batch-other-table seen logs the ranges done\n\
             WITH u AS (UPDATE t SET c = 1 WHERE {RANGE} RETURNING 1) \
             INSERT INTO seen SELECT count(*) FROM u;"
        ),
        "-- retort:ignore unbatched-full-table-write reset after the backfill\nUPDATE t SET c = 0;",
    );
    let accepted: Vec<(&str, Option<&str>)> = findings
        .iter()
        .map(|f| (f.rule, f.ignored.as_deref()))
        .collect();
    assert_eq!(
        accepted,
        [
            ("unbatched-full-table-write", Some("ten rows at most")),
            ("batch-other-table", Some("seen logs the ranges done")),
            (
                "unbatched-full-table-write",
                Some("reset after the backfill")
            ),
        ]
    );
}
