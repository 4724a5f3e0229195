//! Which failures of a target are worth another attempt, and how long to wait before it.
//!
//! Transient: the connection could not be made or was lost (SQLSTATE class 08, refused,
//! reset, timed out, the server starting or shutting down), serialization failures,
//! deadlocks, and lock timeouts (including another run holding the target's advisory
//! lock). Everything else (a broken revision, a dirty marker, bad settings) fails the
//! same way on every attempt, so it is permanent. Retrying is safe because each revision
//! commits with its version-table row: a new attempt starts where the last one stopped.

use std::time::Duration;

use crate::db::{ConnectError, DbError};
use crate::migrator::RunError;

/// SQLSTATEs that describe a moment, not the migration: connection exceptions (class
/// 08), serialization_failure, deadlock_detected, lock_not_available, and the server's
/// admin_shutdown / crash_shutdown / cannot_connect_now (class 57P0x).
fn transient_sqlstate(code: &str) -> bool {
    code.starts_with("08")
        || matches!(
            code,
            "40001" | "40P01" | "55P03" | "57P01" | "57P02" | "57P03"
        )
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

/// Exponential backoff with jitter: attempt `n` (0-based) waits a random time between
/// half and all of `base * 2^n`, capped at `max`. The randomness keeps many targets that
/// failed together (one server restarting) from all coming back in the same instant.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// The wait before the first retry (before jitter).
    pub base: Duration,
    /// The longest wait, whatever the attempt (before jitter).
    pub max: Duration,
}

impl Backoff {
    /// The wait before the next attempt once `attempt + 1` attempts have failed (0 after
    /// the first failure): random between half and all of `min(base * 2^attempt, max)`.
    pub fn delay(&self, attempt: u32) -> Duration {
        let full = self
            .base
            .saturating_mul(1u32.checked_shl(attempt.min(20)).unwrap_or(u32::MAX))
            .min(self.max);
        let half = full / 2;
        half + half.mul_f64(unit_random())
    }
}

/// A number in [0, 1) from the operating system's generator; the clock's nanoseconds
/// when that fails (jitter only needs to differ between targets, not be secret).
fn unit_random() -> f64 {
    let mut bytes = [0u8; 4];
    let value = match getrandom::fill(&mut bytes) {
        Ok(()) => u32::from_le_bytes(bytes),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos()),
    };
    f64::from(value) / (f64::from(u32::MAX) + 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_jitter_and_caps() {
        let backoff = Backoff {
            base: Duration::from_millis(100),
            max: Duration::from_secs(1),
        };
        for attempt in 0..4 {
            let full = Duration::from_millis(100 << attempt);
            for _ in 0..50 {
                let d = backoff.delay(attempt);
                assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?}");
            }
        }
        for _ in 0..50 {
            assert!(backoff.delay(30) <= Duration::from_secs(1));
            assert!(backoff.delay(30) >= Duration::from_millis(500));
        }
        // Jitter: fifty draws are not all the same.
        let draws: std::collections::BTreeSet<Duration> =
            (0..50).map(|_| backoff.delay(2)).collect();
        assert!(draws.len() > 1);
    }

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
