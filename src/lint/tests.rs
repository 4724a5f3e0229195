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
