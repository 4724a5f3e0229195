//! The fleet's connections: targets that differ only in their schema share them, and
//! never more than `capacity` are open at once across all databases.
//!
//! Ten thousand tenant schemas in one database used to cost ten thousand connection
//! setups (TCP, TLS, SCRAM, a backend fork each), far more than the migrations
//! themselves. A checkout takes an idle connection to the target's database when there
//! is one, else opens one (closing an idle connection of another database first when the
//! pool is full), then points its `search_path` at the target's schema with one `SET`.
//!
//! A connection goes back only after a successful attempt ([`Pool::checkin`]), and only
//! when it is still open and outside any transaction; it is then reset (settings, role,
//! advisory locks, temporary tables, listeners) so that nothing a tenant's revisions left
//! in the session reaches the next tenant. After a failed attempt the connection is
//! simply dropped (the [`Lease`] goes out of scope): a half-used session, a rolled-back
//! transaction or a `transaction:false` failure never serves another target, and the
//! server releases whatever the session still held when the connection closes.
//!
//! Everything runs on the fleet's one thread, so the state is a `RefCell` never borrowed
//! across an await. Nothing here prints.

use std::cell::RefCell;
use std::future::poll_fn;
use std::task::{Context, Poll, Waker};

use tokio_postgres::{Client, SimpleQueryMessage};

use crate::db::{ConnInfo, DbError, Session, VersionTables};
use crate::sql::quote_ident;

use super::FleetTarget;

/// The application_name of the fleet's sessions (unless the target's settings name one).
const APPLICATION_NAME: &str = "retort";

/// Sent when a connection comes back. The first statement tells whether the session is
/// inside a transaction block: a Query message's statements share one statement
/// timestamp, which is also the start of the implicit transaction they run in, unless a
/// transaction was already open (then it started earlier, in an earlier message). The
/// rest undoes what a revision may have set for the session; `RESET ALL` also drops the
/// schema's `search_path`, so a whole-database target sharing the connection later gets
/// its database's default. Not `DISCARD ALL`: it would deallocate the statements the
/// client keeps prepared.
const CHECK_IN: &str = "SELECT transaction_timestamp() = statement_timestamp(); \
    CLOSE ALL; RESET ROLE; SET SESSION AUTHORIZATION DEFAULT; RESET ALL; UNLISTEN *; \
    SELECT pg_advisory_unlock_all(); DISCARD TEMP; DISCARD SEQUENCES";

/// Connections shared by a fleet run's targets.
pub struct Pool {
    capacity: usize,
    state: RefCell<State>,
}

struct State {
    /// Connections open: idle ones plus those lent out.
    open: usize,
    /// Connections opened over the pool's life.
    opened: usize,
    /// Connections ready for a target of their database, oldest first.
    idle: Vec<Idle>,
    /// Checkouts waiting for a connection to come back or close.
    waiters: Vec<Waker>,
}

struct Idle {
    conn: ConnInfo,
    client: Client,
}

/// What a checkout may do.
enum Take {
    /// Use this idle connection to the target's database.
    Reuse(Client),
    /// Open a connection, after closing this idle one of another database if any.
    Open(Option<Client>),
}

impl Pool {
    /// A pool holding at most `capacity` connections (at least one).
    pub fn new(capacity: usize) -> Pool {
        Pool {
            capacity: capacity.max(1),
            state: RefCell::new(State {
                open: 0,
                opened: 0,
                idle: Vec::new(),
                waiters: Vec::new(),
            }),
        }
    }

    /// How many connections the pool has opened so far.
    pub fn opened(&self) -> usize {
        self.state.borrow().opened
    }

    /// A connection to `target`'s database with `search_path` set to its schema (for a
    /// schema target), waiting while all connections are lent out.
    pub async fn checkout<'a>(&'a self, target: &'a FleetTarget) -> Result<Lease<'a>, DbError> {
        let conn = &target.conn;
        let take = poll_fn(|cx| self.take(conn, cx)).await;
        // From here the connection (or its reservation) counts as open until the slot
        // is dropped or kept.
        let slot = Slot { pool: self };
        let client = match take {
            Take::Reuse(client) => client,
            Take::Open(evicted) => {
                // Closed before the new one opens: the server never sees more than
                // `capacity` of the pool's sessions.
                drop(evicted);
                let client = conn.connect(APPLICATION_NAME).await?;
                self.state.borrow_mut().opened += 1;
                client
            }
        };
        if let Some(schema) = &target.schema {
            let set = format!("SET search_path TO {}", quote_ident(schema));
            client.batch_execute(&set).await.map_err(|e| {
                DbError::query(&format!("set the search_path to the schema {schema}"), e)
            })?;
        }
        Ok(Lease { slot, conn, client })
    }

    /// Gives a connection back after a successful attempt. It is kept for the next
    /// target only when it is still open, outside any transaction, and resets cleanly;
    /// otherwise it is closed.
    pub async fn checkin(&self, lease: Lease<'_>) {
        let Lease { client, slot, conn } = lease;
        if client.is_closed() {
            slot.close(client);
            return;
        }
        let clean = match client.simple_query(CHECK_IN).await {
            Ok(messages) => {
                messages.iter().find_map(|m| match m {
                    SimpleQueryMessage::Row(row) => Some(row.get(0) == Some("t")),
                    _ => None,
                }) == Some(true)
            }
            Err(_) => false,
        };
        if !clean {
            // A transaction still open (a revision's BEGIN without COMMIT) or a failed
            // reset: the session is not fit for another target.
            slot.close(client);
            return;
        }
        slot.keep();
        let mut state = self.state.borrow_mut();
        state.idle.push(Idle {
            conn: conn.clone(),
            client,
        });
        wake_all(&mut state.waiters);
    }

    /// One try at a connection for `conn`; registers the task to be woken when all are
    /// lent out.
    fn take(&self, conn: &ConnInfo, cx: &mut Context<'_>) -> Poll<Take> {
        let mut state = self.state.borrow_mut();
        // The server may have closed idle connections (idle_session_timeout, a restart).
        let before = state.idle.len();
        state.idle.retain(|idle| !idle.client.is_closed());
        state.open -= before - state.idle.len();
        if let Some(at) = state.idle.iter().position(|idle| idle.conn == *conn) {
            return Poll::Ready(Take::Reuse(state.idle.remove(at).client));
        }
        if state.open < self.capacity {
            state.open += 1;
            return Poll::Ready(Take::Open(None));
        }
        if !state.idle.is_empty() {
            // Full, but another database's connection sits idle: it makes room (the
            // count stays the same: one closes, one opens).
            return Poll::Ready(Take::Open(Some(state.idle.remove(0).client)));
        }
        state.waiters.push(cx.waker().clone());
        Poll::Pending
    }
}

fn wake_all(waiters: &mut Vec<Waker>) {
    for waker in waiters.drain(..) {
        waker.wake();
    }
}

/// One connection counted as open; dropping the slot closes the count (and wakes the
/// checkouts waiting for room).
struct Slot<'a> {
    pool: &'a Pool,
}

impl Slot<'_> {
    /// The connection stays open (idle in the pool): its count stays too.
    fn keep(self) {
        std::mem::forget(self);
    }

    /// Closes `client`, then releases its count.
    fn close(self, client: Client) {
        drop(client);
        drop(self);
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut state = self.pool.state.borrow_mut();
        state.open -= 1;
        wake_all(&mut state.waiters);
    }
}

/// A connection lent to one target's attempt. Dropping it closes the connection; give
/// it back with [`Pool::checkin`] after a successful attempt instead.
pub struct Lease<'a> {
    // Before `slot`: fields drop in declaration order, so the connection closes before
    // its count is released and another checkout opens a new one.
    client: Client,
    slot: Slot<'a>,
    conn: &'a ConnInfo,
}

impl Lease<'_> {
    /// The connection.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// A runner session over the connection, with the target's version tables (hence
    /// its own advisory lock).
    pub async fn session(&self, tables: VersionTables) -> Result<Session<'_>, DbError> {
        Session::from_client(&self.client, tables).await
    }
}
