//! Which failures of a target are worth another attempt, and how long to wait before it.
//!
//! Transient: the connection could not be made or was lost (SQLSTATE class 08, refused,
//! reset, timed out, the server starting or shutting down), serialization failures,
//! deadlocks, and lock timeouts (including another run holding the target's advisory
//! lock). Everything else (a broken revision, a dirty marker, bad settings) fails the
//! same way on every attempt, so it is permanent. Retrying is safe because each revision
//! commits with its version-table row: a new attempt starts where the last one stopped.

use crate::db::{ConnectError, DbError};
use crate::migrator::RunError;

/// SQLSTATEs that describe a moment, not the migration: connection exceptions (class
/// 08), serialization_failure, deadlock_detected, lock_not_available, and the server's
/// admin_shutdown / crash_shutdown / cannot_connect_now (class 57P0x).
fn transient_sqlstate(code: &str) -> bool {
    crate::db::server_gone(code) || matches!(code, "40001" | "40P01" | "55P03")
}

fn transient_pg(error: &tokio_postgres::Error) -> bool {
    if error.is_closed() {
        return true;
    }
    match error.code() {
        Some(code) => transient_sqlstate(code.code()),
        // No SQLSTATE: a client-side failure; an I/O error underneath means the
        // connection broke (reset, broken pipe), anything else (a type mismatch, a
        // protocol error) would happen again.
        None => {
            let mut source = std::error::Error::source(error);
            while let Some(cause) = source {
                if cause.is::<std::io::Error>() {
                    return true;
                }
                source = cause.source();
            }
            false
        }
    }
}

fn transient_connect(error: &ConnectError) -> bool {
    match error {
        ConnectError::Unreachable { .. } | ConnectError::Timeout { .. } => true,
        ConnectError::Rejected { code, .. } => transient_sqlstate(code),
        ConnectError::Settings { .. }
        | ConnectError::Tls { .. }
        | ConnectError::PasswordNeeded { .. } => false,
        // A host that was down may be up (or promoted) next time.
        ConnectError::NoHost { failures, .. } => failures.iter().any(transient_connect),
    }
}

/// Whether another attempt at the target may succeed.
pub fn is_transient(error: &RunError) -> bool {
    match error {
        RunError::Db(db) => match db {
            DbError::Connect(connect) => transient_connect(connect),
            DbError::Query { source, .. } | DbError::Lost { source, .. } => transient_pg(source),
            // Outside a transaction the statements before the failed one stay applied and
            // the target is marked dirty: another attempt would only meet the marker.
            DbError::Statement(failure) => {
                failure.transactional && transient_sqlstate(&failure.code)
            }
            DbError::LockTimeout { .. } => true,
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_sqlstates() {
        for code in ["08006", "08001", "40001", "40P01", "55P03", "57P03"] {
            assert!(transient_sqlstate(code), "{code}");
        }
        for code in ["42P07", "23505", "42601", "XX000"] {
            assert!(!transient_sqlstate(code), "{code}");
        }
        let refused = RunError::Db(DbError::Connect(ConnectError::Unreachable {
            target: "u@h:1/d".into(),
            reason: "connection refused".into(),
            hint: String::new(),
        }));
        assert!(is_transient(&refused));
        let settings = RunError::Db(DbError::Connect(ConnectError::Settings {
            problem: "x".into(),
            hint: String::new(),
        }));
        assert!(!is_transient(&settings));
        assert!(!is_transient(&RunError::Usage("no".into())));
        // Several hosts: worth another try when one of them was only unreachable.
        let unreachable = || ConnectError::Unreachable {
            target: "u@h:1/d".into(),
            reason: "connection refused".into(),
            hint: String::new(),
        };
        let no_password = || ConnectError::PasswordNeeded {
            target: "u@h:2/d".into(),
            hint: String::new(),
        };
        let no_host = |failures| {
            RunError::Db(DbError::Connect(ConnectError::NoHost {
                target: "u@h:1,h:2/d".into(),
                failures,
            }))
        };
        assert!(is_transient(&no_host(vec![no_password(), unreachable()])));
        assert!(!is_transient(&no_host(vec![no_password(), no_password()])));

        let deadlock = |transactional| {
            RunError::Db(DbError::Statement(Box::new(crate::db::StatementFailure {
                revision: "0001_abc".into(),
                direction: crate::Direction::Upgrade,
                path: "versions/0001_abc_x.sql".into(),
                line: 7,
                column: 1,
                line_text: "UPDATE t SET x = 1;".into(),
                code: "40P01".into(),
                message: "deadlock detected".into(),
                detail: None,
                hint: None,
                context: None,
                transactional,
            })))
        };
        assert!(is_transient(&deadlock(true)), "rolled back: try again");
        assert!(!is_transient(&deadlock(false)), "dirty: a human decides");
    }
}
