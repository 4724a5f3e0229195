//! The live output of `fleet upgrade|stamp` on stderr: on a terminal an indicatif bar for
//! the run and a spinner per running target, otherwise one plain line per finished
//! target (`-v`: per step), and always the events a deploy log must keep (failures,
//! retries, lock waits, takeovers and releases of a queue).

use std::io::{self, IsTerminal};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::fleet::first_line;
use super::Output;
use crate::fleet::{Event, EventKind, Operation};

/// Live output on stderr: indicatif on a terminal, plain lines otherwise.
pub(super) struct Display {
    quiet: bool,
    verbose: bool,
    bars: Option<(MultiProgress, ProgressBar)>,
    /// The bar of each running target, with its (done, planned) steps.
    running: std::collections::BTreeMap<String, (ProgressBar, usize, usize)>,
    failed: usize,
    verb: &'static str,
}

impl Display {
    pub(super) fn new(out: &Output, total: usize, operation: &Operation) -> Display {
        let verb = match operation {
            Operation::Upgrade { .. } => "upgraded",
            Operation::DryRun { .. } => "planned",
            Operation::Stamp { .. } => "stamped",
        };
        let bars = (!out.quiet && !out.json && io::stderr().is_terminal()).then(|| {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            let overall = multi.add(ProgressBar::new(total as u64));
            overall.set_style(
                ProgressStyle::with_template(
                    "[{elapsed_precise}] {bar:40} {pos}/{len} targets {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            overall.enable_steady_tick(Duration::from_millis(200));
            (multi, overall)
        });
        Display {
            quiet: out.quiet || out.json,
            verbose: out.verbose,
            bars,
            running: Default::default(),
            failed: 0,
            verb,
        }
    }

    fn line(&self, text: String) {
        match &self.bars {
            Some((multi, _)) => {
                let _ = multi.println(text);
            }
            None if !self.quiet => eprintln!("{text}"),
            None => {}
        }
    }

    pub(super) fn show(&mut self, event: &Event) {
        match &event.kind {
            EventKind::TargetStart {
                target,
                database,
                attempt,
            } => {
                if let Some((multi, overall)) = &self.bars {
                    if !self.running.contains_key(target) {
                        let bar = multi.insert_before(overall, ProgressBar::new_spinner());
                        bar.set_message(format!("{target}: connecting to {database}"));
                        self.running.insert(target.clone(), (bar, 0, 0));
                    }
                } else if self.verbose {
                    self.line(format!(
                        "{target}: start (attempt {}) on {database}",
                        attempt + 1
                    ));
                }
            }
            EventKind::TargetPlan { target, revisions } => {
                if let Some((_, done, planned)) = self.running.get_mut(target) {
                    *planned = *done + revisions.len();
                } else if self.verbose {
                    self.line(format!("{target}: {} revision(s) to run", revisions.len()));
                }
            }
            EventKind::LockWait { target, holder } => {
                self.line(format!(
                    "{target}: waiting for another run's lock ({holder})"
                ));
            }
            EventKind::StepStart { target, revision } => {
                if let Some((bar, done, planned)) = self.running.get(target) {
                    bar.set_message(format!(
                        "{target}: running {revision} ({}/{planned})",
                        done + 1
                    ));
                }
            }
            EventKind::StepFinish {
                target,
                revision,
                duration_ms,
            } => {
                if let Some((bar, done, _)) = self.running.get_mut(target) {
                    *done += 1;
                    bar.tick();
                } else if self.verbose {
                    self.line(format!("{target}: upgraded {revision} ({duration_ms} ms)"));
                }
            }
            EventKind::BatchProgress {
                target,
                revision,
                rows,
                fraction,
                waiting,
                ..
            } => {
                let text = format!(
                    "{target}: {revision}: {:.0}% of its batches, {rows} rows{}",
                    fraction * 100.0,
                    waiting
                        .as_deref()
                        .map(|w| format!("; {w}"))
                        .unwrap_or_default()
                );
                match self.running.get(target) {
                    Some((bar, _, _)) => bar.set_message(text),
                    None if self.verbose => self.line(text),
                    None => {}
                }
            }
            EventKind::Retry {
                target,
                attempt,
                delay_ms,
                error,
            } => self.line(format!(
                "{target}: attempt {attempt} failed, retrying in {delay_ms} ms: {}",
                first_line(error)
            )),
            EventKind::TargetFailed {
                target,
                revision,
                error,
                ..
            } => {
                self.failed += 1;
                self.end_target(target);
                let at = revision
                    .as_deref()
                    .map(|r| format!(" at {r}"))
                    .unwrap_or_default();
                self.line(format!("{target}: FAILED{at}: {}", first_line(error)));
            }
            EventKind::TargetDone {
                target,
                steps,
                duration_ms,
                heads,
            } => {
                self.end_target(target);
                let at = if heads.is_empty() {
                    "base".to_owned()
                } else {
                    heads.join(", ")
                };
                if self.bars.is_none() {
                    let what = if self.verb == "upgraded" {
                        format!("{steps} revision(s) applied, ")
                    } else {
                        String::new()
                    };
                    self.line(format!(
                        "{target}: {} ({what}at {at}, {duration_ms} ms)",
                        self.verb
                    ));
                }
            }
            EventKind::TargetClaimed {
                target, previous, ..
            } => {
                if let Some((_, overall)) = &self.bars {
                    overall.inc_length(1);
                }
                if let Some(previous) = previous {
                    self.line(format!(
                        "{target}: taken over from {previous}, whose lease lapsed"
                    ));
                }
            }
            EventKind::TargetReleased { target, before, .. } => {
                self.end_target(target);
                let at = before
                    .as_deref()
                    .map(|b| format!(" before {b}"))
                    .unwrap_or_default();
                self.line(format!(
                    "{target}: released{at}: the lease could not be renewed; another worker goes on"
                ));
            }
            EventKind::QueueLost { error } => {
                self.line(format!("queue: {}; retrying", first_line(error)));
            }
            EventKind::QueueBack { after_ms } => {
                self.line(format!(
                    "queue: the control database answers again after {after_ms} ms"
                ));
            }
            EventKind::TargetSkipped { target, .. } => {
                if let Some((_, overall)) = &self.bars {
                    overall.inc(1);
                }
                self.line(format!("{target}: skipped (--fail-fast)"));
            }
            _ => {}
        }
    }

    fn end_target(&mut self, target: &str) {
        if let Some((bar, _, _)) = self.running.remove(target) {
            bar.finish_and_clear();
        }
        if let Some((_, overall)) = &self.bars {
            overall.inc(1);
            if self.failed > 0 {
                overall.set_message(format!("({} failed)", self.failed));
            }
        }
    }

    pub(super) fn finish(&mut self) {
        for (_, (bar, _, _)) in std::mem::take(&mut self.running) {
            bar.finish_and_clear();
        }
        if let Some((_, overall)) = &self.bars {
            overall.finish_and_clear();
        }
    }
}
