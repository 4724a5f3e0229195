//! The rule catalog: every rule's stable id, default severity, and the text behind
//! `retort lint --explain RULE`. The checks themselves live in `check`.

use serde::Serialize;

/// How bad a finding is; `error` findings make `retort lint` exit 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }

    pub fn parse(text: &str) -> Option<Severity> {
        match text {
            "info" => Some(Severity::Info),
            "warning" | "warn" => Some(Severity::Warning),
            "error" | "deny" => Some(Severity::Error),
            _ => None,
        }
    }
}

/// One rule: what it finds, why that hurts in production, what to do instead.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Rule {
    pub id: &'static str,
    pub severity: Severity,
    pub summary: &'static str,
    pub why: &'static str,
    pub instead: &'static str,
}

const fn rule(
    id: &'static str,
    severity: Severity,
    summary: &'static str,
    why: &'static str,
    instead: &'static str,
) -> Rule {
    Rule {
        id,
        severity,
        summary,
        why,
        instead,
    }
}

use Severity::{Error, Info, Warning};

pub const RULES: &[Rule] = &[
    rule(
        "syntax-error",
        Error,
        "the statement does not parse",
        "PostgreSQL's own parser rejects it, so the revision fails when it reaches this statement.",
        "Fix the statement; `retort lint` shows where the parser stopped.",
    ),
    rule(
        "adding-volatile-default",
        Warning,
        "a column is added with a volatile default",
        "Since PostgreSQL 11 a constant or stable default is stored once in the catalog, but a volatile one (random(), gen_random_uuid(), clock_timestamp(), nextval()) is evaluated per row: the whole table is rewritten under an ACCESS EXCLUSIVE lock.",
        "Add the column without a default (or with a constant one), set the default in a second statement, and backfill existing rows in batches.",
    ),
    rule(
        "adding-not-null-column",
        Error,
        "a NOT NULL column without a default is added to an existing table",
        "Every existing row would hold NULL in a NOT NULL column, so the statement fails as soon as the table has a row: it works on an empty development database and breaks in production.",
        "Add the column with a default, or add it nullable, backfill it, then add a CHECK (col IS NOT NULL) NOT VALID, validate it, and SET NOT NULL.",
    ),
    rule(
        "setting-not-null",
        Warning,
        "SET NOT NULL scans the whole table under an ACCESS EXCLUSIVE lock",
        "PostgreSQL must check every row while holding the strongest lock; reads and writes wait for the scan. Since PostgreSQL 12 the scan is skipped when a validated CHECK (col IS NOT NULL) constraint proves it.",
        "Add CHECK (col IS NOT NULL) NOT VALID, VALIDATE CONSTRAINT in a later transaction (it only takes SHARE UPDATE EXCLUSIVE), then SET NOT NULL and drop the check.",
    ),
    rule(
        "changing-column-type",
        Warning,
        "changing a column's type may rewrite the table",
        "Most type changes rewrite the table and rebuild its indexes under an ACCESS EXCLUSIVE lock; only a few (varchar to a longer varchar or text, numeric with more precision) are free.",
        "Add a new column of the new type, backfill it in batches, switch the application, then drop the old column.",
    ),
    rule(
        "index-not-concurrent",
        Warning,
        "an index on an existing table is created or dropped without CONCURRENTLY",
        "CREATE INDEX takes a SHARE lock (writes wait for the whole build) and DROP INDEX an ACCESS EXCLUSIVE lock.",
        "Use CREATE INDEX CONCURRENTLY / DROP INDEX CONCURRENTLY in a `-- migrate:upgrade transaction:false` section.",
    ),
    rule(
        "concurrently-in-transaction",
        Error,
        "CONCURRENTLY inside a transactional section",
        "CREATE INDEX CONCURRENTLY, DROP INDEX CONCURRENTLY and REINDEX CONCURRENTLY cannot run inside a transaction block: the revision fails.",
        "Put the statement in a section marked `transaction:false` (`-- migrate:upgrade transaction:false`).",
    ),
    rule(
        "constraint-missing-not-valid",
        Warning,
        "a foreign key or check is added to an existing table without NOT VALID",
        "Adding it validates every row while holding a lock that blocks writes (and, for a foreign key, the referenced table too).",
        "Add it with NOT VALID (instant), then VALIDATE CONSTRAINT in a later transaction, which takes only a SHARE UPDATE EXCLUSIVE lock.",
    ),
    rule(
        "validate-in-same-transaction",
        Warning,
        "VALIDATE CONSTRAINT in the same transaction as its NOT VALID add",
        "The lock taken by the ADD is held until commit, so validating in the same transaction keeps writes blocked for the whole scan: NOT VALID bought nothing.",
        "Validate in a later revision, or in a `transaction:false` section after the add.",
    ),
    rule(
        "drop-table",
        Warning,
        "a table is dropped",
        "Its data is gone, and application code still reading it fails.",
        "Stop using the table in a deployed release first; keep a backup or rename it away before dropping it for good.",
    ),
    rule(
        "drop-column",
        Warning,
        "a column is dropped",
        "Its data is gone, and application code still reading or writing it fails (ORMs that select every column included).",
        "Deploy code that no longer uses the column first, then drop it in a later release.",
    ),
    rule(
        "drop-type",
        Warning,
        "a type is dropped",
        "Columns and functions using it must be gone already, or the statement fails or (with CASCADE) drops them too.",
        "Check what uses the type; drop dependents explicitly rather than with CASCADE.",
    ),
    rule(
        "drop-schema",
        Warning,
        "a schema is dropped",
        "Everything in it is gone, and CASCADE drops objects the revision never names.",
        "Drop the schema's objects explicitly first, then the empty schema without CASCADE.",
    ),
    rule(
        "rename-table",
        Warning,
        "a table is renamed",
        "Application code running during the deploy still uses the old name and fails until it is replaced.",
        "Create a view with the old name for the transition, or rename in a release after the code uses the new name.",
    ),
    rule(
        "rename-column",
        Warning,
        "a column is renamed",
        "Application code running during the deploy still uses the old name and fails until it is replaced.",
        "Add the new column, write both, backfill, switch readers, then drop the old column.",
    ),
    rule(
        "enum-value-in-transaction",
        Error,
        "ALTER TYPE ... ADD VALUE where a transaction cannot take it",
        "Before PostgreSQL 12 it cannot run inside a transaction block at all; since then the new label cannot be used until the transaction commits, so a later statement of the same transaction using it fails.",
        "Put the ADD VALUE in a `transaction:false` section, or use the label in a later revision.",
    ),
    rule(
        "vacuum-in-transaction",
        Error,
        "VACUUM inside a transactional section",
        "VACUUM cannot run inside a transaction block: the revision fails when it reaches it.",
        "Put it in a `transaction:false` section, or leave VACUUM to autovacuum and run ANALYZE instead.",
    ),
    rule(
        "vacuum-full",
        Warning,
        "VACUUM FULL rewrites the table under an ACCESS EXCLUSIVE lock",
        "Reads and writes wait for the whole rewrite, and it needs free disk space the size of the table.",
        "Use plain VACUUM, or pg_repack / pg_squeeze to rebuild without a long lock.",
    ),
    rule(
        "cluster",
        Warning,
        "CLUSTER rewrites the table under an ACCESS EXCLUSIVE lock",
        "Reads and writes wait for the whole rewrite.",
        "Use pg_repack with --order-by, or accept the lock in a maintenance window.",
    ),
    rule(
        "reindex-not-concurrent",
        Warning,
        "REINDEX without CONCURRENTLY",
        "REINDEX blocks writes to the table (and reads that use the index) for the whole rebuild.",
        "Use REINDEX ... CONCURRENTLY (PostgreSQL 12+) in a `transaction:false` section.",
    ),
    rule(
        "lock-table",
        Warning,
        "LOCK TABLE in a migration",
        "An explicit lock is held until commit and queues every later statement on the table behind it.",
        "Avoid explicit locks; if one is needed, keep the transaction short and set lock_timeout first.",
    ),
    rule(
        "missing-lock-timeout",
        Warning,
        "a statement taking a strong lock runs without lock_timeout",
        "Waiting for its lock behind a long query, it blocks every later query on the table: a short migration takes the application down.",
        "Start the section with SET lock_timeout = '5s' (and retry the revision when it times out).",
    ),
    rule(
        "prefer-identity",
        Warning,
        "serial types instead of identity columns",
        "serial creates a separately owned sequence with loose permissions and dump behaviour; identity columns are the SQL-standard replacement.",
        "Use bigint GENERATED ALWAYS AS IDENTITY (or BY DEFAULT).",
    ),
    rule(
        "prefer-timestamptz",
        Warning,
        "timestamp without time zone",
        "It stores wall-clock time without an offset, so values from servers or clients in different zones cannot be compared.",
        "Use timestamptz (timestamp with time zone).",
    ),
    rule(
        "prefer-text",
        Info,
        "varchar(n) instead of text",
        "Both are stored the same way, but changing n later is a schema change (and shrinking it rewrites the table).",
        "Use text with a CHECK (length(col) <= n) when a limit is a business rule.",
    ),
    rule(
        "irreversible",
        Warning,
        "the revision has no downgrade section",
        "It cannot be rolled back with `retort downgrade`, and `test-migration` cannot prove it reversible.",
        "Add a `-- migrate:downgrade` section that undoes the upgrade (it may be empty when there is nothing to undo).",
    ),
];

/// The rule with this id.
pub fn rule_by_id(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id == id)
}
