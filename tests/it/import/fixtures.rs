//! The fixtures: what each tool's history in tests/fixtures/import/TOOL holds and how
//! the tool runs it, and running retort in a directory.

use std::path::{Path, PathBuf};

use crate::support::{repo_root, retort, Run};

/// How the tool runs a migration.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Runner {
    /// The file, or its up section, with psql: in one transaction unless the step is
    /// not transactional.
    Psql,
    /// golang-migrate: the whole file as one query string (one implicit transaction,
    /// unless the file has BEGIN/COMMIT of its own).
    OneQuery,
    /// `alembic upgrade <id>`, online.
    Alembic,
}

/// One migration of a fixture, in the order the tool applies them.
pub(super) struct Step {
    /// The id in the `-- source:` header (the tool's version, leading zeros dropped).
    pub(super) source: &'static str,
    /// The file holding its up SQL, relative to the fixture (unused for Alembic).
    pub(super) file: &'static str,
    /// Whether the tool runs the upgrade in a transaction.
    pub(super) transactional: bool,
    /// Whether the tool has a way back (a down file or section).
    pub(super) reversible: bool,
}

pub(super) struct Spec {
    pub(super) tool: &'static str,
    pub(super) runner: Runner,
    /// The tool's version table (left out when schemas are compared).
    pub(super) table: &'static str,
    pub(super) steps: &'static [Step],
}

const fn step(
    source: &'static str,
    file: &'static str,
    transactional: bool,
    reversible: bool,
) -> Step {
    Step {
        source,
        file,
        transactional,
        reversible,
    }
}

pub(super) const FLYWAY: Spec = Spec {
    tool: "flyway",
    runner: Runner::Psql,
    table: "flyway_schema_history",
    steps: &[
        step("1", "V1__create_users.sql", true, true),
        step("1.1", "V1_1__add_email.sql", true, true),
        // V2__index.sql.conf: executeInTransaction=false; no U2 file.
        step("2", "V2__index.sql", false, false),
        step("3", "V3__status.sql", true, true),
        // 10 after 3: versions compare as numbers.
        step("10", "V10__orders.sql", true, true),
    ],
};

pub(super) const DBMATE: Spec = Spec {
    tool: "dbmate",
    runner: Runner::Psql,
    table: "schema_migrations",
    steps: &[
        step(
            "20240101000000",
            "20240101000000_create_users.sql",
            true,
            true,
        ),
        step("20240102093000", "20240102093000_add_email.sql", true, true),
        step(
            "20240103000000",
            "20240103000000_users_name_index.sql",
            false,
            true,
        ),
        step(
            "20240104000000",
            "20240104000000_updated_at_trigger.sql",
            true,
            true,
        ),
        step(
            "20240105000000",
            "20240105000000_create_orders.sql",
            true,
            true,
        ),
    ],
};

pub(super) const GOLANG_MIGRATE: Spec = Spec {
    tool: "golang-migrate",
    runner: Runner::OneQuery,
    table: "schema_migrations",
    steps: &[
        step("1", "000001_create_users.up.sql", true, true),
        step("2", "000002_add_email.up.sql", true, true),
        step("3", "000003_create_orders.up.sql", true, true),
        // No 000004_widen_name.down.sql.
        step("4", "000004_widen_name.up.sql", true, false),
        step("5", "000005_order_totals_view.up.sql", true, true),
    ],
};

pub(super) const GOOSE: Spec = Spec {
    tool: "goose",
    runner: Runner::Psql,
    table: "goose_db_version",
    steps: &[
        step("1", "00001_create_users.sql", true, true),
        step("2", "00002_add_email.sql", true, true),
        step("3", "00003_updated_at_trigger.sql", true, true),
        step("4", "00004_users_name_index.sql", false, true),
        step("5", "00005_create_orders.sql", true, true),
    ],
};

pub(super) const SQLX: Spec = Spec {
    tool: "sqlx",
    runner: Runner::Psql,
    table: "_sqlx_migrations",
    steps: &[
        // A simple migration: no down file, irreversible.
        step(
            "20240101000000",
            "20240101000000_create_users.sql",
            true,
            false,
        ),
        step(
            "20240102000000",
            "20240102000000_add_email.up.sql",
            true,
            true,
        ),
        step(
            "20240103000000",
            "20240103000000_users_name_index.up.sql",
            false,
            true,
        ),
        step(
            "20240104000000",
            "20240104000000_create_orders.up.sql",
            true,
            true,
        ),
        step(
            "20240105000000",
            "20240105000000_order_note_check.up.sql",
            true,
            true,
        ),
    ],
};

/// Alembic's revisions in an order Alembic can apply them one by one: the root, its two
/// branches (the email one depends on the projects one), their merge, raw SQL, and an
/// index built concurrently in an autocommit block.
pub(super) const ALEMBIC: Spec = Spec {
    tool: "alembic",
    runner: Runner::Alembic,
    table: "alembic_version",
    steps: &[
        step("3f9c2a7d41b0", "", true, true),
        step("8b61e05c9d2a", "", true, true),
        step("c47d1f3a6e89", "", true, true),
        step("e25a9b8c0f14", "", true, true),
        step("5d0e7b2f9a36", "", true, true),
        step("9a4c6e1b7d52", "", false, true),
    ],
};

pub(super) const ROOT: &str = "3f9c2a7d41b0";
pub(super) const PROJECTS: &str = "8b61e05c9d2a";
pub(super) const EMAIL: &str = "c47d1f3a6e89";
pub(super) const MERGE: &str = "e25a9b8c0f14";

pub(super) fn fixture(tool: &str) -> PathBuf {
    repo_root().join("tests/fixtures/import").join(tool)
}

/// The interpreter of the venv with the pinned Alembic. Unset fails the test: a test
/// that skips itself proves nothing.
pub(super) fn test_python() -> String {
    match std::env::var("RETORT_TEST_PYTHON") {
        Ok(python) if !python.trim().is_empty() => python,
        _ => panic!(
            "RETORT_TEST_PYTHON is not set. The Alembic import tests need Alembic: run \
             scripts/python-tools.sh and set RETORT_TEST_PYTHON to the python it prints \
             (`make test` does both): \
             export RETORT_TEST_PYTHON=$(scripts/python-tools.sh)"
        ),
    }
}

pub(super) fn rt(dir: &Path, args: &[&str]) -> Run {
    Run::from(retort(dir).args(args).output().expect("run retort"))
}
