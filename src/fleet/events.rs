//! What a fleet run reports while it runs, and the two files that let other processes
//! watch it: the `--events` JSON-lines log (appended and flushed line by line, so
//! `tail -f` and `fleet status` see each event as it happens) and the `--metrics`
//! Prometheus text file (rewritten whole through a temporary file and a rename, so a
//! scraper never reads half of it).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use chrono::{SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

/// One thing that happened, stamped with the time it happened.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Event {
    /// RFC 3339, UTC, milliseconds.
    pub ts: String,
    /// What happened; serialized flattened, with its name in the `event` field.
    #[serde(flatten)]
    pub kind: EventKind,
}

impl Event {
    /// Stamps `kind` with the current time.
    pub fn now(kind: EventKind) -> Event {
        Event {
            ts: Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
            kind,
        }
    }
}

/// The events of a run, in the order a target goes through them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EventKind {
    /// The run begins.
    RunStart {
        /// Number of targets in the run.
        targets: usize,
        /// Targets running at the same time.
        concurrency: usize,
        /// The revision target of the operation (`head`, an id, ...) as given.
        revision: String,
        /// Whether the run only plans (`--dry-run`).
        dry_run: bool,
    },
    /// A target begins; again, with a higher `attempt`, after a retry.
    TargetStart {
        /// The target's name.
        target: String,
        /// `user@host:port/db` (and schema), safe to print.
        database: String,
        /// 0 for the first attempt, then 1, 2, ... for retries.
        attempt: u32,
    },
    /// The revisions the target needs (before they run; with `--dry-run`, instead).
    TargetPlan {
        /// The target's name.
        target: String,
        /// Ids of the revisions to apply, in order.
        revisions: Vec<String>,
    },
    /// Another run holds the target's lock; this one waits (up to --lock-timeout).
    LockWait {
        /// The target's name.
        target: String,
        /// Who holds the lock: pid, user, host, application and connection time, from
        /// `pg_stat_activity`.
        holder: String,
    },
    /// A revision begins on a target.
    StepStart {
        /// The target's name.
        target: String,
        /// The revision's id.
        revision: String,
    },
    /// A revision committed on a target.
    StepFinish {
        /// The target's name.
        target: String,
        /// The revision's id.
        revision: String,
        /// How long the revision took, in milliseconds.
        duration_ms: u64,
    },
    /// A batch section's progress on a target: when it starts, at each tenth of its key
    /// range, and when what it waits for changes.
    BatchProgress {
        /// The target's name.
        target: String,
        /// The revision.
        revision: String,
        /// Batches committed.
        batches: i64,
        /// Rows the batches changed.
        rows: i64,
        /// Share of the key range done, 0 to 1.
        fraction: f64,
        /// Rows per second so far.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        rows_per_second: Option<f64>,
        /// What the run waits for (a pause, a lagging replica), if anything.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        waiting: Option<String>,
    },
    /// A transient failure; the target is tried again after `delay_ms`.
    Retry {
        /// The target's name.
        target: String,
        /// The attempt that failed (1 for the first).
        attempt: u32,
        /// The wait before the next attempt, in milliseconds.
        delay_ms: u64,
        /// The failure's message.
        error: String,
    },
    /// A permanent failure (or transient ones past `--retries`); the run goes on.
    TargetFailed {
        /// The target's name.
        target: String,
        /// The revision that was running, when one was.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        revision: Option<String>,
        /// Attempts made, the failing one included.
        attempts: u32,
        /// Wall time of the target over all attempts and retry delays, in milliseconds.
        duration_ms: u64,
        /// The failure's message.
        error: String,
    },
    /// The target reached its goal.
    TargetDone {
        /// The target's name.
        target: String,
        /// Revisions applied (over all attempts); 0 for a dry run or a stamp.
        steps: usize,
        /// Wall time of the target over all attempts and retry delays, in milliseconds.
        duration_ms: u64,
        /// Ids of the version table's heads at the end (empty at base).
        heads: Vec<String>,
    },
    /// A queue worker claimed the target (`--queue`); with `previous`, it takes the
    /// target over from a worker whose lease lapsed.
    TargetClaimed {
        /// The target's name.
        target: String,
        /// The claiming worker.
        worker: String,
        /// The worker that held the target before, when this is a takeover.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        previous: Option<String>,
        /// Claims of the target in this run, this one included.
        claims: i32,
    },
    /// A queue worker stopped working on the target at a revision or batch boundary
    /// because its lease could not be renewed; another worker takes it over where it
    /// stopped.
    TargetReleased {
        /// The target's name.
        target: String,
        /// The revision that did not start here.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        before: Option<String>,
        /// Why.
        reason: String,
    },
    /// The control database of `--queue` stopped answering; leases are not renewed and
    /// no target is claimed until it is back.
    QueueLost {
        /// The failure's message.
        error: String,
    },
    /// The control database answers again.
    QueueBack {
        /// How long it was away, in milliseconds.
        after_ms: u64,
    },
    /// Not started: `--fail-fast` after a failure.
    TargetSkipped {
        /// The target's name.
        target: String,
        /// Why it was not started.
        reason: String,
    },
    /// The run is over.
    RunFinish {
        /// Targets that ended done.
        done: usize,
        /// Targets that failed.
        failed: usize,
        /// Targets never started.
        skipped: usize,
        /// Wall time of the whole run, in milliseconds.
        duration_ms: u64,
    },
}

impl EventKind {
    /// The target the event is about, if any.
    pub fn target(&self) -> Option<&str> {
        match self {
            EventKind::RunStart { .. }
            | EventKind::RunFinish { .. }
            | EventKind::QueueLost { .. }
            | EventKind::QueueBack { .. } => None,
            EventKind::TargetStart { target, .. }
            | EventKind::LockWait { target, .. }
            | EventKind::StepStart { target, .. }
            | EventKind::StepFinish { target, .. }
            | EventKind::BatchProgress { target, .. }
            | EventKind::Retry { target, .. }
            | EventKind::TargetFailed { target, .. }
            | EventKind::TargetDone { target, .. }
            | EventKind::TargetPlan { target, .. }
            | EventKind::TargetClaimed { target, .. }
            | EventKind::TargetReleased { target, .. }
            | EventKind::TargetSkipped { target, .. } => Some(target),
        }
    }
}

/// The `--events` file could not be opened or written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {}: {source}", path.display())]
pub struct WriteError {
    /// The events file.
    pub path: PathBuf,
    /// The I/O error.
    pub source: std::io::Error,
}

/// The `--events` file, opened for appending: several runs add to one log.
pub struct EventLog {
    path: PathBuf,
    file: File,
}

impl EventLog {
    /// Opens `path` for appending, creating it when missing.
    pub fn open(path: &Path) -> Result<EventLog, WriteError> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|source| WriteError {
                path: path.to_owned(),
                source,
            })?;
        Ok(EventLog {
            path: path.to_owned(),
            file,
        })
    }

    /// Appends one line with a single write: lines of concurrent writers never interleave.
    pub fn write(&mut self, event: &Event) -> Result<(), WriteError> {
        let mut line = serde_json::to_string(event).unwrap_or_default();
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .and_then(|_| self.file.flush())
            .map_err(|source| WriteError {
                path: self.path.clone(),
                source,
            })
    }
}

/// Reads an events file, skipping lines that are not events (a line cut short by a
/// killed writer, say).
pub fn read_log(path: &Path) -> Result<Vec<Event>, std::io::Error> {
    let text = std::fs::read_to_string(path)?;
    Ok(text
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect())
}

/// The last failure of each target that has not succeeded since, from an events log.
pub fn last_errors(events: &[Event]) -> BTreeMap<String, (String, String)> {
    let mut errors = BTreeMap::new();
    for event in events {
        match &event.kind {
            EventKind::TargetFailed { target, error, .. } => {
                errors.insert(target.clone(), (event.ts.clone(), error.clone()));
            }
            EventKind::TargetDone { target, .. } => {
                errors.remove(target);
            }
            _ => {}
        }
    }
    errors
}

/// Upper bounds (seconds) of the step-duration histogram's buckets.
const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0, 300.0,
];

/// The run's counters, fed with its events, rendered in Prometheus' text format.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    pending: usize,
    running: usize,
    done: usize,
    failed: usize,
    skipped: usize,
    released: usize,
    retries: u64,
    steps: u64,
    bucket_counts: [u64; BUCKETS.len()],
    step_seconds_sum: f64,
    /// Rows changed by batch sections, per target and revision as last reported.
    batch_rows: std::collections::BTreeMap<(String, String), i64>,
}

impl Metrics {
    /// Counters for a run over `targets` targets, all pending.
    pub fn new(targets: usize) -> Metrics {
        Metrics {
            pending: targets,
            ..Metrics::default()
        }
    }

    /// Updates the counters with one event.
    pub fn observe(&mut self, kind: &EventKind) {
        match kind {
            EventKind::TargetStart { attempt: 0, .. } => {
                self.pending = self.pending.saturating_sub(1);
                self.running += 1;
            }
            EventKind::StepFinish { duration_ms, .. } => {
                let seconds = *duration_ms as f64 / 1000.0;
                self.steps += 1;
                self.step_seconds_sum += seconds;
                for (count, bound) in self.bucket_counts.iter_mut().zip(BUCKETS) {
                    if seconds <= bound {
                        *count += 1;
                    }
                }
            }
            EventKind::BatchProgress {
                target,
                revision,
                rows,
                ..
            } => {
                self.batch_rows
                    .insert((target.clone(), revision.clone()), *rows);
            }
            EventKind::Retry { .. } => self.retries += 1,
            EventKind::TargetDone { .. } => {
                self.running = self.running.saturating_sub(1);
                self.done += 1;
            }
            EventKind::TargetFailed { .. } => {
                self.running = self.running.saturating_sub(1);
                self.failed += 1;
            }
            EventKind::TargetSkipped { .. } => {
                self.pending = self.pending.saturating_sub(1);
                self.skipped += 1;
            }
            // A queue worker's metrics count the targets it claimed.
            EventKind::TargetClaimed { .. } => self.pending += 1,
            // Back to the queue: no longer this worker's.
            EventKind::TargetReleased { .. } => {
                self.running = self.running.saturating_sub(1);
                self.released += 1;
            }
            _ => {}
        }
    }

    /// The metrics in Prometheus' text exposition format, ready for the `--metrics` file.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP retort_fleet_targets Targets of the current fleet run, by state.\n\
             # TYPE retort_fleet_targets gauge\n",
        );
        for (state, n) in [
            ("pending", self.pending),
            ("running", self.running),
            ("done", self.done),
            ("failed", self.failed),
            ("skipped", self.skipped),
            ("released", self.released),
        ] {
            out.push_str(&format!("retort_fleet_targets{{state=\"{state}\"}} {n}\n"));
        }
        out.push_str(&format!(
            "# HELP retort_fleet_retries_total Attempts repeated after a transient failure.\n\
             # TYPE retort_fleet_retries_total counter\n\
             retort_fleet_retries_total {}\n",
            self.retries
        ));
        out.push_str(
            "# HELP retort_fleet_step_duration_seconds Time of each applied revision.\n\
             # TYPE retort_fleet_step_duration_seconds histogram\n",
        );
        for (count, bound) in self.bucket_counts.iter().zip(BUCKETS) {
            out.push_str(&format!(
                "retort_fleet_step_duration_seconds_bucket{{le=\"{bound}\"}} {count}\n"
            ));
        }
        out.push_str(&format!(
            "retort_fleet_step_duration_seconds_bucket{{le=\"+Inf\"}} {steps}\n\
             retort_fleet_step_duration_seconds_sum {sum}\n\
             retort_fleet_step_duration_seconds_count {steps}\n",
            steps = self.steps,
            sum = self.step_seconds_sum
        ));
        out.push_str(&format!(
            "# HELP retort_fleet_batch_rows_total Rows changed by batch sections of the run.\n\
             # TYPE retort_fleet_batch_rows_total counter\n\
             retort_fleet_batch_rows_total {}\n",
            self.batch_rows.values().sum::<i64>()
        ));
        out
    }

    /// Replaces `path` with the current metrics, atomically (a scraper never reads half a
    /// file).
    pub fn write_atomically(&self, path: &Path) -> Result<(), WriteError> {
        crate::atomic_file::write(path, self.render().as_bytes()).map_err(|source| WriteError {
            path: path.to_owned(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(target: &str) -> EventKind {
        EventKind::TargetStart {
            target: target.into(),
            database: "u@h:1/d".into(),
            attempt: 0,
        }
    }

    #[test]
    fn events_serialize_as_one_flat_object() {
        let event = Event::now(EventKind::StepFinish {
            target: "t1".into(),
            revision: "0001_abc".into(),
            duration_ms: 12,
        });
        let value: serde_json::Value =
            serde_json::from_str(&serde_json::to_string(&event).expect("json")).expect("parse");
        assert_eq!(value["event"], "step_finish");
        assert_eq!(value["target"], "t1");
        assert_eq!(value["revision"], "0001_abc");
        assert_eq!(value["duration_ms"], 12);
        assert!(value["ts"].as_str().expect("ts").ends_with('Z'));
        let back: Event = serde_json::from_value(value).expect("round trip");
        assert_eq!(back.kind, event.kind);
    }

    #[test]
    fn metrics_count_states_and_bucket_steps() {
        let mut m = Metrics::new(3);
        m.observe(&start("a"));
        m.observe(&start("b"));
        m.observe(&EventKind::StepFinish {
            target: "a".into(),
            revision: "r".into(),
            duration_ms: 40,
        });
        m.observe(&EventKind::TargetDone {
            target: "a".into(),
            steps: 1,
            duration_ms: 50,
            heads: vec![],
        });
        m.observe(&EventKind::TargetFailed {
            target: "b".into(),
            revision: None,
            attempts: 1,
            duration_ms: 5,
            error: "x".into(),
        });
        let text = m.render();
        assert!(
            text.contains("retort_fleet_targets{state=\"pending\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("retort_fleet_targets{state=\"done\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("retort_fleet_targets{state=\"failed\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("retort_fleet_targets{state=\"running\"} 0\n"),
            "{text}"
        );
        assert!(text.contains("_bucket{le=\"0.025\"} 0\n"), "{text}");
        assert!(text.contains("_bucket{le=\"0.05\"} 1\n"), "{text}");
        assert!(text.contains("_count 1\n"), "{text}");

        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("fleet.prom");
        m.write_atomically(&path).expect("write");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), text);
        assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 1);
    }

    #[test]
    fn last_errors_forget_targets_that_succeeded_since() {
        let failed = |t: &str| {
            Event::now(EventKind::TargetFailed {
                target: t.into(),
                revision: None,
                attempts: 1,
                duration_ms: 1,
                error: format!("boom {t}"),
            })
        };
        let done = Event::now(EventKind::TargetDone {
            target: "a".into(),
            steps: 0,
            duration_ms: 1,
            heads: vec![],
        });
        let errors = last_errors(&[failed("a"), failed("b"), done]);
        assert_eq!(errors.keys().collect::<Vec<_>>(), ["b"]);
        assert_eq!(errors["b"].1, "boom b");
    }
}
