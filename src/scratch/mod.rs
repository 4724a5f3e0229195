//! Throwaway PostgreSQL for test-migration, autogenerate and the tests: databases on an
//! existing server (`--scratch-url`), on a private cluster built from the local
//! binaries, or in a Docker container (cargo feature `docker`).
//!
//! Every scratch database is created from template0 under the `retort_scratch_` prefix,
//! with a comment saying who made it and when, and only names with that prefix are ever
//! dropped: pointing `--scratch-url` at a real server can never cost a real database.
//! Whatever the provider, [`ScratchServer::shutdown`] (or, failing that, `Drop`) drops
//! every database it created and stops what it started.

mod binaries;
#[cfg(feature = "docker")]
mod docker;
mod local;
pub(crate) use local::tail;

use std::fmt;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Mutex;

use tokio_postgres::Client;

pub use binaries::client_programs;

use crate::db::{describe_pg_error, ConnInfo, ConnectError};
use crate::sql::{quote_ident, quote_literal};

/// Every scratch database's name starts with this; nothing else is ever dropped.
pub const PREFIX: &str = "retort_scratch_";

/// Why a scratch server could not be started or used.
#[derive(Debug, thiserror::Error)]
pub enum ScratchError {
    /// `--scratch auto` found no provider that works.
    #[error(
        "no scratch PostgreSQL is available:\n  {}\nget one of: a server you may create databases on (`--scratch-url URL` or \
         RETORT_SCRATCH_URL), the PostgreSQL server binaries (`apt-get install postgresql`, or \
         initdb and postgres on PATH), or Docker with a build of retort that has the `docker` \
         feature", tried.join("\n  ")
    )]
    NoProvider {
        /// Why each provider was not used, one `provider: reason` line each.
        tried: Vec<String>,
    },
    /// The scratch server did not accept a connection.
    #[error("the scratch server at {target}: {source}")]
    Connect {
        /// Which server, e.g. `the scratch cluster on 127.0.0.1:PORT` or `--scratch-url`.
        target: String,
        /// The connection error.
        source: ConnectError,
    },
    /// A statement on the scratch server failed.
    #[error("scratch server: cannot {action}: {message}")]
    Query {
        /// What retort was doing, phrased to follow "cannot".
        action: String,
        /// PostgreSQL's code, message, detail and hint, or the client error.
        message: String,
    },
    /// A PostgreSQL program (`initdb`, `postgres`, `psql`, `pg_restore`, ...) was not
    /// found.
    #[error("{program} not found (looked in {looked}); install PostgreSQL (`apt-get install postgresql` for the server programs, `postgresql-client` for psql and pg_restore) or put the programs on PATH")]
    ProgramNotFound {
        /// The program's name.
        program: String,
        /// The directories searched.
        looked: String,
    },
    /// A file-system or process operation failed.
    #[error("cannot {what}: {source}")]
    Io {
        /// What retort was doing, phrased to follow "cannot".
        what: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The private cluster did not come up.
    #[error("the scratch cluster did not start: {what}\n{log}")]
    Start {
        /// What failed (the watchdog stopped, no connection in time, ...).
        what: String,
        /// The end of the server's (or watchdog's) output, or what to do when it never ran.
        log: String,
    },
    /// The Docker engine or container failed; holds the message.
    #[error("docker: {0}")]
    Docker(String),
    /// A drop of a database not named [`PREFIX`]`*` was refused; holds its name.
    #[error(
        "refusing to drop database {0:?}: retort only drops databases it created, named {PREFIX}*"
    )]
    Unguarded(String),
    /// The provider chosen with `--scratch` cannot be used, and why.
    #[error("--scratch {0} is not available: {1}")]
    Unavailable(Provider, String),
    /// A scratch database could not be dropped because the server went away.
    #[error(
        "the scratch database {name} is left on the server ({reason}): once the server is \
         back, drop it with `DROP DATABASE {name}` (a later run never reuses it)"
    )]
    LeftBehind {
        /// The database's name.
        name: String,
        /// Why the drop failed.
        reason: String,
    },
    /// A signal arrived while the server was starting; what had been started is gone.
    #[error("interrupted by {0} while the scratch server was starting; nothing was left behind")]
    Interrupted(&'static str),
}

impl ScratchError {
    pub(crate) fn query(action: &str, e: &tokio_postgres::Error) -> ScratchError {
        ScratchError::Query {
            action: action.to_owned(),
            message: describe_pg_error(e),
        }
    }
}

/// Where scratch databases come from (`--scratch`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Provider {
    /// The first that works: server (when a URL is given), local, docker.
    #[default]
    Auto,
    /// An existing server: `--scratch-url` / RETORT_SCRATCH_URL.
    Server,
    /// A private cluster from the local initdb/postgres binaries.
    Local,
    /// A container on a Docker engine (cargo feature `docker`).
    Docker,
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Provider::Auto => "auto",
            Provider::Server => "server",
            Provider::Local => "local",
            Provider::Docker => "docker",
        })
    }
}

/// What to start.
#[derive(Debug, Clone, Default)]
pub struct ScratchOptions {
    /// Where the scratch databases come from [default: `Auto`].
    pub provider: Provider,
    /// The existing server's URL (maintenance database), for `Server` and `Auto`.
    pub server_url: Option<String>,
    /// The major version the work is for (the dump's, the target's): local binaries of
    /// that version are preferred and Docker uses it as the image tag.
    pub want_major: Option<u32>,
}

/// A server version: `server_version_num` and the human text.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ServerVersion {
    /// `server_version_num`, e.g. 150018.
    pub num: u32,
    /// `server_version`, e.g. "15.18 (Debian 15.18-0+deb12u1)".
    pub text: String,
}

impl ServerVersion {
    /// The major version: `server_version_num / 10000` (150018 → 15).
    pub fn major(&self) -> u32 {
        self.num / 10000
    }

    /// Reads the version of the server `client` is connected to.
    pub async fn of(client: &Client) -> Result<ServerVersion, ScratchError> {
        let row = client
            .query_one(
                "SELECT current_setting('server_version_num')::int, current_setting('server_version')",
                &[],
            )
            .await
            .map_err(|e| ScratchError::query("read the server version", &e))?;
        let num: i32 = row.get(0);
        Ok(ServerVersion {
            num: u32::try_from(num).unwrap_or(0),
            text: row.get(1),
        })
    }
}

enum Backend {
    Server,
    Local(local::LocalCluster),
    #[cfg(feature = "docker")]
    Docker(docker::DockerServer),
}

/// A running scratch server and the databases created on it.
pub struct ScratchServer {
    backend: Backend,
    provider: Provider,
    admin_conn: ConnInfo,
    admin: Client,
    version: ServerVersion,
    description: String,
    skipped: Vec<String>,
    notes: Vec<String>,
    created: Mutex<Vec<String>>,
}

/// One throwaway database.
#[derive(Debug, Clone)]
pub struct ScratchDb {
    name: String,
    conn: ConnInfo,
}

impl ScratchDb {
    /// The database's name, starting with [`PREFIX`].
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Connection settings of the database (the scratch server's superuser or the
    /// `--scratch-url` user).
    pub fn conn(&self) -> &ConnInfo {
        &self.conn
    }
}

impl ScratchServer {
    /// Starts (or connects to) a scratch server as `options` say. When `interrupt`
    /// resolves first (a signal, say), the start is abandoned, whatever it had started
    /// is removed, and the answer is [`ScratchError::Interrupted`].
    pub async fn start(
        options: &ScratchOptions,
        interrupt: impl Future<Output = &'static str>,
    ) -> Result<ScratchServer, ScratchError> {
        let mut interrupt = std::pin::pin!(interrupt);
        match options.provider {
            Provider::Server => abandon_on(interrupt, Self::on_server(options)).await,
            Provider::Local => abandon_on(interrupt, Self::local(options)).await,
            Provider::Docker => Self::docker(options, interrupt).await,
            Provider::Auto => {
                let mut tried = Vec::new();
                if options.server_url.is_some() {
                    match abandon_on(interrupt.as_mut(), Self::on_server(options)).await {
                        Ok(server) => return Ok(server),
                        Err(e @ ScratchError::Interrupted(_)) => return Err(e),
                        Err(e) => tried.push(format!("server: {e}")),
                    }
                } else {
                    tried.push("server: no --scratch-url or RETORT_SCRATCH_URL given".into());
                }
                match abandon_on(interrupt.as_mut(), Self::local(options)).await {
                    Ok(server) => return Ok(server.skipping(tried)),
                    Err(e @ ScratchError::Interrupted(_)) => return Err(e),
                    Err(e) => tried.push(format!("local: {e}")),
                }
                match Self::docker(options, interrupt).await {
                    Ok(server) => Ok(server.skipping(tried)),
                    Err(e @ ScratchError::Interrupted(_)) => Err(e),
                    Err(e) => {
                        tried.push(format!("docker: {e}"));
                        Err(ScratchError::NoProvider { tried })
                    }
                }
            }
        }
    }

    fn skipping(mut self, tried: Vec<String>) -> ScratchServer {
        self.skipped = tried;
        self
    }

    async fn on_server(options: &ScratchOptions) -> Result<ScratchServer, ScratchError> {
        let url = options.server_url.as_deref().ok_or_else(|| {
            ScratchError::Unavailable(
                Provider::Server,
                "give the server with --scratch-url URL or RETORT_SCRATCH_URL".into(),
            )
        })?;
        let conn = ConnInfo::from_env(Some(url)).map_err(|source| ScratchError::Connect {
            target: "--scratch-url".into(),
            source,
        })?;
        let description = format!("existing server {}", conn.describe());
        Self::connected(Backend::Server, Provider::Server, conn, description).await
    }

    async fn local(options: &ScratchOptions) -> Result<ScratchServer, ScratchError> {
        let cluster = local::LocalCluster::start(options.want_major).await?;
        let description = format!(
            "private cluster from {} on 127.0.0.1:{} in {}",
            cluster.bin_dir().display(),
            cluster.port(),
            cluster.root().display()
        );
        let conn = cluster.conn().clone();
        Self::connected(Backend::Local(cluster), Provider::Local, conn, description).await
    }

    #[cfg(feature = "docker")]
    async fn docker(
        options: &ScratchOptions,
        mut interrupt: Pin<&mut impl Future<Output = &'static str>>,
    ) -> Result<ScratchServer, ScratchError> {
        let server = docker::DockerServer::start(options.want_major, interrupt.as_mut()).await?;
        let description = format!("{} on {}", server.describe(), server.conn().describe());
        let notes = server
            .reaped()
            .iter()
            .map(|c| format!("removed the abandoned scratch container {c}"))
            .collect();
        let conn = server.conn().clone();
        // Dropped on a signal, the server removes its container.
        abandon_on(
            interrupt,
            Self::connected(Backend::Docker(server), Provider::Docker, conn, description),
        )
        .await
        .map(|mut server| {
            server.notes = notes;
            server
        })
    }

    #[cfg(not(feature = "docker"))]
    async fn docker(
        _: &ScratchOptions,
        _: Pin<&mut impl Future<Output = &'static str>>,
    ) -> Result<ScratchServer, ScratchError> {
        Err(ScratchError::Unavailable(
            Provider::Docker,
            "this build of retort has no Docker support (build with `--features docker`)".into(),
        ))
    }

    async fn connected(
        backend: Backend,
        provider: Provider,
        admin_conn: ConnInfo,
        description: String,
    ) -> Result<ScratchServer, ScratchError> {
        let admin = admin_conn
            .connect("retort scratch")
            .await
            .map_err(|source| ScratchError::Connect {
                target: admin_conn.describe(),
                source,
            })?;
        // Creating and dropping databases should never hang behind someone's lock.
        admin
            .batch_execute("SET statement_timeout = '5min'")
            .await
            .map_err(|e| ScratchError::query("set statement_timeout", &e))?;
        let version = ServerVersion::of(&admin).await?;
        Ok(ScratchServer {
            backend,
            provider,
            admin_conn,
            admin,
            version,
            description,
            skipped: Vec::new(),
            notes: Vec::new(),
            created: Mutex::new(Vec::new()),
        })
    }

    /// The provider actually used (never `Auto`).
    pub fn provider(&self) -> Provider {
        self.provider
    }

    /// What it is, safe to print: provider, version and where.
    pub fn describe(&self) -> String {
        format!(
            "{} PostgreSQL {}: {}",
            self.provider, self.version.text, self.description
        )
    }

    /// The server's version.
    pub fn version(&self) -> &ServerVersion {
        &self.version
    }

    /// With `--scratch auto`: why the providers tried before this one were not used.
    pub fn skipped(&self) -> &[String] {
        &self.skipped
    }

    /// What the start did on the way that the user should hear of (abandoned
    /// containers of killed runs removed, say).
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// The directory of the server's own binaries (local provider), where the client
    /// programs of the matching version live.
    pub fn bin_dir(&self) -> Option<&Path> {
        match &self.backend {
            Backend::Local(cluster) => Some(cluster.bin_dir()),
            _ => None,
        }
    }

    /// Creates an empty database from template0. `label` ends up in its name, to tell
    /// them apart in `\l` (letters and digits only are kept).
    pub async fn create_database(&self, label: &str) -> Result<ScratchDb, ScratchError> {
        let mut random = [0u8; 5];
        getrandom::fill(&mut random).map_err(|e| ScratchError::Io {
            what: "get random bytes for a database name".into(),
            source: std::io::Error::other(e.to_string()),
        })?;
        let label: String = label
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .take(20)
            .collect::<String>()
            .to_ascii_lowercase();
        let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
        let name = format!("{PREFIX}{label}_{hex}");
        let quoted = quote_ident(&name);
        self.admin
            .batch_execute(&format!(
                "CREATE DATABASE {quoted} TEMPLATE template0 ENCODING 'UTF8'"
            ))
            .await
            .map_err(|e| ScratchError::query(&format!("create database {name}"), &e))?;
        self.created
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(name.clone());
        // Who made it and when, so an orphan (after kill -9) can be recognised and dropped.
        let note = format!(
            "retort scratch database, created {} by pid {}; safe to drop",
            chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ"),
            std::process::id()
        );
        self.admin
            .batch_execute(&format!(
                "COMMENT ON DATABASE {quoted} IS {}",
                quote_literal(&note)
            ))
            .await
            .map_err(|e| ScratchError::query(&format!("comment on database {name}"), &e))?;
        let conn = self.admin_conn.with_dbname(&name);
        Ok(ScratchDb { name, conn })
    }

    /// Drops a scratch database now (sessions still connected are terminated).
    pub async fn drop_database(&self, db: &ScratchDb) -> Result<(), ScratchError> {
        self.drop_named(&db.name).await?;
        self.created
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|n| n != &db.name);
        Ok(())
    }

    async fn drop_named(&self, name: &str) -> Result<(), ScratchError> {
        if !name.starts_with(PREFIX) {
            return Err(ScratchError::Unguarded(name.to_owned()));
        }
        let quoted = quote_ident(name);
        let sql = if self.version.major() >= 13 {
            format!("DROP DATABASE IF EXISTS {quoted} WITH (FORCE)")
        } else {
            format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = {};\n\
                 DROP DATABASE IF EXISTS {quoted}",
                quote_literal(name)
            )
        };
        self.admin.batch_execute(&sql).await.map_err(|e| {
            if e.is_closed() || e.code().is_some_and(|c| crate::db::server_gone(c.code())) {
                ScratchError::LeftBehind {
                    name: name.to_owned(),
                    reason: describe_pg_error(&e),
                }
            } else {
                ScratchError::query(&format!("drop database {name}"), &e)
            }
        })
    }

    /// Drops every database still left and stops what was started (cluster, container).
    /// Reports the first problem but always attempts every step.
    pub async fn shutdown(mut self) -> Result<(), ScratchError> {
        let mut first_error = None;
        // A private cluster or a container goes away whole; only a shared server needs
        // its databases dropped one by one.
        if matches!(self.backend, Backend::Server) {
            let names =
                std::mem::take(&mut *self.created.lock().unwrap_or_else(|p| p.into_inner()));
            for name in names {
                if let Err(e) = self.drop_named(&name).await {
                    first_error.get_or_insert(e);
                }
            }
        }
        let backend = std::mem::replace(&mut self.backend, Backend::Server);
        let stopped = match backend {
            Backend::Server => Ok(()),
            // Stopping waits for the watchdog (usually well under a second, 30 s at most).
            Backend::Local(cluster) => tokio::task::spawn_blocking(move || cluster.stop())
                .await
                .unwrap_or_else(|e| {
                    Err(ScratchError::Io {
                        what: "stop the scratch cluster".into(),
                        source: std::io::Error::other(e.to_string()),
                    })
                }),
            #[cfg(feature = "docker")]
            Backend::Docker(server) => server.stop().await,
        };
        match (first_error, stopped) {
            (Some(e), _) | (None, Err(e)) => Err(e),
            (None, Ok(())) => Ok(()),
        }
    }
}

/// Runs `work` unless `interrupt` resolves first. Only for work whose effects clean up
/// after themselves when dropped (a cluster's `Drop` stops it, a container's removes it).
async fn abandon_on<T>(
    interrupt: Pin<&mut impl Future<Output = &'static str>>,
    work: impl Future<Output = Result<T, ScratchError>>,
) -> Result<T, ScratchError> {
    tokio::select! {
        done = work => done,
        signal = interrupt => Err(ScratchError::Interrupted(signal)),
    }
}

/// Runs clean-up `work` to its end on a thread and a tokio runtime of its own, waiting
/// for it: what `Drop` uses, since the caller's runtime may be shutting down (or absent).
/// A runtime that cannot be built leaves the work undone, as a failed clean-up would.
fn block_on_own_runtime(work: impl Future<Output = ()> + Send + 'static) {
    let worker = std::thread::spawn(move || {
        if let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            runtime.block_on(work);
        }
    });
    let _ = worker.join();
}

impl Drop for ScratchServer {
    /// The path taken on an early return or a panic: drop what `shutdown` would have.
    /// The cluster and the container clean up after themselves in their own `Drop`.
    fn drop(&mut self) {
        if !matches!(self.backend, Backend::Server) {
            return;
        }
        let names = std::mem::take(&mut *self.created.lock().unwrap_or_else(|p| p.into_inner()));
        if names.is_empty() {
            return;
        }
        let conn = self.admin_conn.clone();
        let modern = self.version.major() >= 13;
        // The caller's runtime may be shutting down; a small one of our own is reliable.
        block_on_own_runtime(async move {
            let Ok(client) = conn.connect("retort scratch cleanup").await else {
                return;
            };
            for name in names.iter().filter(|n| n.starts_with(PREFIX)) {
                let force = if modern { " WITH (FORCE)" } else { "" };
                let _ = client
                    .batch_execute(&format!(
                        "DROP DATABASE IF EXISTS {}{force}",
                        quote_ident(name)
                    ))
                    .await;
            }
        });
    }
}
