//! One worker of `fleet upgrade --queue URL`: claims targets from the control database
//! ([`super::queue`]), runs each as a plain fleet target, renews its leases while they
//! run, and records every event and outcome there for the other workers and
//! `fleet status --queue` to see.
//!
//! The worker trusts its own clock only to give up early: a lease counts from the moment
//! its renewal was *sent*, so the worker believes it lapsed before the server does, and
//! stops the target at its next revision (or batch) boundary before another worker may
//! claim it. Whatever the timing, the target's advisory lock keeps two workers from
//! running it at once, and its version rows keep each revision to one run.
//!
//! The control connection is never awaited alone: while a statement on it is in flight
//! the running targets keep being driven, so a slow or cut control database never stalls
//! the migrations themselves.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::future::Future;
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_util::stream::{FuturesUnordered, StreamExt};

use crate::db::{ConnInfo, DbError};
use crate::migrator::StopSignal;
use crate::Migrator;

use super::queue::{Control, WorkerId};
use super::{
    millis, run_target, Event, EventKind, FleetError, FleetOptions, FleetReport, FleetTarget,
    Shared, TargetOutcome,
};

/// How often a worker with no target looks whether the run is over or a lease lapsed.
const IDLE_POLL: Duration = Duration::from_millis(200);

/// Events kept for the control database while it is away; the oldest go first beyond
/// this (they are in `--events` and the worker's output all the same).
const BUFFERED_EVENTS: usize = 200_000;

/// How a worker takes part in a queue.
#[derive(Debug, Clone)]
pub struct QueueOptions {
    /// The control database.
    pub control: ConnInfo,
    /// The run's name: workers with the same name share its targets.
    pub run: String,
    /// This worker.
    pub worker: WorkerId,
    /// How long a claim lasts without renewal; renewed every quarter of it.
    pub lease: Duration,
}

impl QueueOptions {
    /// How often leases are renewed and events flushed.
    fn tick(&self) -> Duration {
        (self.lease / 4).clamp(Duration::from_millis(50), Duration::from_secs(15))
    }

    /// How long one statement on the control database may take before the connection is
    /// taken for lost.
    fn patience(&self) -> Duration {
        (self.lease / 3).clamp(Duration::from_secs(1), Duration::from_secs(30))
    }

    /// How long the worker keeps trying to reach a lost control database before it stops.
    fn give_up_after(&self) -> Duration {
        (self.lease * 5).max(Duration::from_secs(5))
    }
}

/// A target this worker holds.
struct Held {
    stop: StopSignal,
    /// When the lease lapses by this worker's reckoning (counted from the sending of the
    /// renewal that granted it).
    until: Instant,
}

/// The control connection, its absence, and the events waiting for it.
struct Link<'q> {
    queue: &'q QueueOptions,
    control: Option<Rc<Control>>,
    /// Since when the control database has not answered, and why.
    lost_since: Option<Instant>,
    lost_error: String,
    /// Whether the loss was reported in the events yet.
    lost_said: bool,
    pending_events: Vec<Event>,
}

type TargetRun<'a> = std::pin::Pin<Box<dyn Future<Output = (usize, TargetOutcome)> + 'a>>;

/// Awaits `work` while driving the running targets; outcomes that arrive meanwhile go to
/// `finished`.
async fn driving<'a, T>(
    running: &mut FuturesUnordered<TargetRun<'a>>,
    finished: &mut Vec<(usize, TargetOutcome)>,
    work: impl Future<Output = T>,
) -> T {
    let mut work = std::pin::pin!(work);
    loop {
        tokio::select! {
            result = &mut work => return result,
            Some(outcome) = running.next(), if !running.is_empty() => finished.push(outcome),
        }
    }
}

/// Runs `options.operation` (an upgrade) on the targets this worker claims from the
/// queue, `options.concurrency` at a time, until every target of the run known to it is
/// done or failed (by any worker). The report holds the targets this worker ran.
/// Returns [`FleetError::QueueLost`] when the control database stayed away longer than
/// five leases.
pub async fn work(
    migrator: &Migrator,
    targets: &[FleetTarget],
    options: &FleetOptions,
    queue: &QueueOptions,
    on_event: &mut dyn FnMut(&Event),
) -> Result<FleetReport, FleetError> {
    let started = Instant::now();
    let names: Vec<String> = targets.iter().map(|t| t.name.clone()).collect();
    let index: BTreeMap<&str, usize> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    let outbox: RefCell<Vec<Event>> = RefCell::new(Vec::new());
    let mut forward = |event: &Event| {
        on_event(event);
        outbox.borrow_mut().push(event.clone());
    };
    let shared = Shared {
        migrator,
        options,
        on_event: RefCell::new(&mut forward),
        failed: Cell::new(false),
        pool: super::pool::Pool::new(options.concurrency),
    };
    let worker = queue.worker.id.as_str();
    let run = queue.run.as_str();
    let mut link = Link {
        queue,
        control: None,
        lost_since: None,
        lost_error: String::new(),
        lost_said: false,
        pending_events: Vec::new(),
    };
    // The first connection: the tables, the worker's row and the targets.
    let give_up = Instant::now() + queue.give_up_after();
    loop {
        let joined = async {
            let control = timed(queue, Control::connect(&queue.control)).await?;
            timed(queue, control.prepare()).await?;
            let databases: Vec<String> = targets.iter().map(FleetTarget::describe).collect();
            timed(queue, control.join(run, &queue.worker, &names, &databases)).await?;
            Ok::<_, String>(control)
        }
        .await;
        match joined {
            Ok(control) => {
                link.control = Some(Rc::new(control));
                break;
            }
            Err(error) if Instant::now() >= give_up => {
                return Err(FleetError::QueueLost {
                    control: queue.control.describe(),
                    seconds: queue.give_up_after().as_secs(),
                    message: error,
                })
            }
            Err(_) => tokio::time::sleep(queue.tick()).await,
        }
    }
    shared.send(EventKind::RunStart {
        targets: targets.len(),
        concurrency: options.concurrency.max(1),
        revision: format!("queue run {run}"),
        dry_run: false,
    });

    let mut running: FuturesUnordered<TargetRun<'_>> = FuturesUnordered::new();
    let mut finished: Vec<(usize, TargetOutcome)> = Vec::new();
    let mut held: BTreeMap<String, Held> = BTreeMap::new();
    let mut unreported: Vec<TargetOutcome> = Vec::new();
    let mut outcomes: Vec<(usize, TargetOutcome)> = Vec::new();
    let mut next_tick = Instant::now();
    loop {
        // Targets that ended: off the lease list, their outcome to the queue.
        for (i, outcome) in finished.drain(..) {
            held.remove(&outcome.name);
            unreported.push(outcome.clone());
            outcomes.push((i, outcome));
        }
        link.pending_events.append(&mut outbox.borrow_mut());
        let now = Instant::now();
        let giving_up = link
            .lost_since
            .is_some_and(|since| now.duration_since(since) >= queue.give_up_after());
        if now >= next_tick {
            next_tick = now + queue.tick();
            link.reconnect(&shared, &mut running, &mut finished).await;
            renew(&mut link, &mut held, &mut running, &mut finished).await;
            // What this worker believes lapsed stops at its next boundary.
            let margin = queue.tick();
            for held in held.values() {
                if giving_up || Instant::now() + margin >= held.until {
                    held.stop.raise();
                }
            }
        }
        while let Some(outcome) = unreported.first() {
            let settled = link
                .with(&mut running, &mut finished, |control| async move {
                    control.settle(run, worker, outcome).await
                })
                .await;
            match settled {
                Some(Ok(_)) => {
                    unreported.remove(0);
                }
                _ => break,
            }
        }
        link.flush(run, worker, &mut running, &mut finished).await;

        let free = options.concurrency.max(1).saturating_sub(running.len());
        let failed_fast = options.fail_fast && shared.failed.get();
        let stopping = giving_up || failed_fast;
        if free > 0 && !stopping {
            let lease = queue.lease;
            let sent = Instant::now();
            let claims = link
                .with(&mut running, &mut finished, |control| {
                    let names = &names;
                    async move { control.claim(run, worker, lease, names, free).await }
                })
                .await;
            if let Some(Ok(claims)) = claims {
                for claim in claims {
                    let Some(&i) = index.get(claim.name.as_str()) else {
                        continue;
                    };
                    // Its own lapsed lease (the control database was away): the run on
                    // it is still under way here, stopping at its next boundary, and
                    // settles the row when it ends; a second run must not start.
                    if held.contains_key(&claim.name) {
                        continue;
                    }
                    let stop = StopSignal::default();
                    held.insert(
                        claim.name.clone(),
                        Held {
                            stop: stop.clone(),
                            until: sent + lease,
                        },
                    );
                    shared.send(EventKind::TargetClaimed {
                        target: claim.name.clone(),
                        worker: worker.to_owned(),
                        previous: claim.previous,
                        claims: claim.claims,
                    });
                    running.push(Box::pin(run_target(&shared, &targets[i], i, Some(stop))));
                }
            }
        }
        // Giving up, the outcomes not recorded are lost with the connection: their
        // leases lapse and other workers find those targets at their revision.
        if giving_up && running.is_empty() && finished.is_empty() {
            break;
        }
        if running.is_empty() && finished.is_empty() && unreported.is_empty() {
            // --fail-fast: this worker claims nothing more and leaves the rest to others.
            if failed_fast {
                break;
            }
            let left = link
                .with(&mut running, &mut finished, |control| {
                    let names = &names;
                    async move { control.unsettled(run, names).await }
                })
                .await;
            if let Some(Ok(left)) = left {
                if left.is_settled() {
                    break;
                }
            }
        }
        // Wait for a target to end or for the next tick.
        let wait = next_tick.saturating_duration_since(Instant::now());
        if !finished.is_empty() {
            continue;
        }
        if running.is_empty() {
            // Idle: look again soon, so the worker leaves (or takes over a lapsed lease)
            // shortly after the run allows it, not a quarter lease later.
            tokio::time::sleep(wait.min(IDLE_POLL)).await;
        } else {
            tokio::select! {
                Some(outcome) = running.next() => finished.push(outcome),
                () = tokio::time::sleep(wait) => {}
            }
        }
    }
    let report = shared.finish(outcomes, started);
    link.pending_events.append(&mut outbox.borrow_mut());
    if link.lost_since.is_some() {
        return Err(FleetError::QueueLost {
            control: queue.control.describe(),
            seconds: queue.give_up_after().as_secs(),
            message: link.lost_error,
        });
    }
    // Last events and the worker's end: best effort, the run itself is over.
    link.flush(run, worker, &mut running, &mut finished).await;
    if let Some(control) = &link.control {
        let _ = timed(queue, control.leave(run, worker)).await;
    }
    Ok(report)
}

/// Extends the leases of the targets held (and the worker's `seen_at`), and stops those
/// the queue says this worker no longer holds.
async fn renew<'a>(
    link: &mut Link<'_>,
    held: &mut BTreeMap<String, Held>,
    running: &mut FuturesUnordered<TargetRun<'a>>,
    finished: &mut Vec<(usize, TargetOutcome)>,
) {
    // Renewing nothing still marks the worker seen: an idle worker waiting for the
    // others' targets to settle is alive, and `fleet status --queue` must not call it gone.
    let names: Vec<String> = held.keys().cloned().collect();
    let (run, worker, lease) = (
        link.queue.run.as_str(),
        link.queue.worker.id.as_str(),
        link.queue.lease,
    );
    let sent = Instant::now();
    let renewed = link
        .with(running, finished, |control| {
            let names = &names;
            async move { control.renew(run, worker, lease, names).await }
        })
        .await;
    if let Some(Ok(renewed)) = renewed {
        for (name, held) in held.iter_mut() {
            if renewed.contains(name) {
                held.until = sent + lease;
            } else {
                // Taken over, or the run started over: not ours any more.
                held.stop.raise();
            }
        }
    }
}

/// `work` with the queue's patience: a statement that does not answer in time counts as
/// a lost connection.
async fn timed<T>(
    queue: &QueueOptions,
    work: impl Future<Output = Result<T, DbError>>,
) -> Result<T, String> {
    match tokio::time::timeout(queue.patience(), work).await {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(_) => Err(format!(
            "the queue's control database {} did not answer within {} ms",
            queue.control.describe(),
            queue.patience().as_millis()
        )),
    }
}

impl Link<'_> {
    /// Runs `work` on the control connection while driving the targets. `None` when
    /// there is no connection; a failure drops the connection (the next tick reconnects).
    async fn with<'a, T, F, Fut>(
        &mut self,
        running: &mut FuturesUnordered<TargetRun<'a>>,
        finished: &mut Vec<(usize, TargetOutcome)>,
        work: F,
    ) -> Option<Result<T, String>>
    where
        F: FnOnce(Rc<Control>) -> Fut,
        Fut: Future<Output = Result<T, DbError>>,
    {
        let queue = self.queue;
        let control = self.control.clone()?;
        let result = driving(running, finished, timed(queue, work(control))).await;
        if let Err(error) = &result {
            self.control = None;
            self.lost_since.get_or_insert_with(Instant::now);
            self.lost_error.clone_from(error);
        }
        Some(result)
    }

    /// Connects again when the connection was lost, and says so in the events.
    async fn reconnect<'a>(
        &mut self,
        shared: &Shared<'_>,
        running: &mut FuturesUnordered<TargetRun<'a>>,
        finished: &mut Vec<(usize, TargetOutcome)>,
    ) {
        let Some(since) = self.lost_since else {
            return;
        };
        if self.control.is_none() {
            let queue = self.queue;
            if !self.lost_said {
                self.lost_said = true;
                shared.send(EventKind::QueueLost {
                    error: self.lost_error.clone(),
                });
            }
            let connected = driving(
                running,
                finished,
                timed(queue, Control::connect(&queue.control)),
            )
            .await;
            match connected {
                Ok(control) => self.control = Some(Rc::new(control)),
                Err(error) => {
                    self.lost_error = error;
                    return;
                }
            }
        }
        self.lost_since = None;
        self.lost_said = false;
        shared.send(EventKind::QueueBack {
            after_ms: millis(since.elapsed()),
        });
    }

    /// Writes the events gathered so far to the control database.
    async fn flush<'a>(
        &mut self,
        run: &str,
        worker: &str,
        running: &mut FuturesUnordered<TargetRun<'a>>,
        finished: &mut Vec<(usize, TargetOutcome)>,
    ) {
        if self.pending_events.is_empty() {
            return;
        }
        let events = std::mem::take(&mut self.pending_events);
        let written = self
            .with(running, finished, |control| {
                let events = &events;
                async move { control.record(run, worker, events).await }
            })
            .await;
        if !matches!(written, Some(Ok(()))) {
            self.pending_events = events;
            let over = self.pending_events.len().saturating_sub(BUFFERED_EVENTS);
            self.pending_events.drain(..over);
        }
    }
}
