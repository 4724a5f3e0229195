//! Connection settings, the way psql users expect them, and connecting with TLS.
//!
//! [`ConnInfo::parse`] accepts what libpq accepts in practice: a `postgres://` /
//! `postgresql://` URL or a `key=value` conninfo string, completed from the libpq
//! connection service file (`service=NAME` or `PGSERVICE`, looked up in `PGSERVICEFILE`
//! or `~/.pg_service.conf`, then `PGSYSCONFDIR/pg_service.conf`), the environment
//! variables (`PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD`, `PGSSLMODE`, ...), the password
//! file (`~/.pgpass` or `PGPASSFILE`) and libpq's defaults, in that order. Several hosts
//! (`postgres://a:5432,b:5433/db`, `host=a,b port=5432`) are tried in order, with
//! `target_session_attrs=read-write` finding a cluster's primary. We parse
//! ourselves instead of handing the string to tokio-postgres because its parser knows
//! neither the libpq environment, the password file, nor `sslmode=verify-ca/verify-full`;
//! the result is turned into a `tokio_postgres::Config` programmatically.
//!
//! TLS follows libpq's `sslmode` semantics with rustls (ring provider, never the
//! process-wide default provider, so embedding applications keep theirs):
//! `disable`, `allow`, `prefer` (default), `require`, `verify-ca`, `verify-full`.
//!
//! Passwords never leave this module in text: `Debug` redacts them, [`ConnInfo::describe`]
//! prints `user@host:port/dbname`, and no [`ConnectError`] repeats the password or the URL.
//!
//! One module per topic: `parse` reads the text of a URL or conninfo string; `service`
//! and `pgpass` read libpq's connection service file and password file; `os` asks the
//! operating system for libpq's defaults (user name, home, socket directory); `resolve`
//! completes the settings into a [`ConnInfo`]; `tls` builds the rustls configuration;
//! `open` connects and turns failures into [`ConnectError`]s. This module holds the
//! types they share.

mod open;
mod os;
mod parse;
pub(crate) mod pgpass;
mod resolve;
pub(crate) mod service;
#[cfg(test)]
mod tests;
mod tls;

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use tokio_postgres::config::{ChannelBinding, TargetSessionAttrs};

/// libpq's `sslmode`: whether to use TLS and how much to check the server's certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// Plain connection only.
    Disable,
    /// Plain first; TLS only when the server rejects the plain connection.
    Allow,
    /// TLS when the server supports it, else plain (the default). No verification.
    Prefer,
    /// TLS or fail. No verification, unless a root certificate file exists (as libpq).
    Require,
    /// TLS, certificate chain verified, host name not checked.
    VerifyCa,
    /// TLS, certificate chain and host name verified.
    VerifyFull,
}

impl SslMode {
    const ALLOWED: &'static str = "disable, allow, prefer, require, verify-ca, verify-full";

    fn parse(value: &str) -> Option<SslMode> {
        Some(match value {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => return None,
        })
    }

    /// The libpq spelling (`verify-full`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a connection could not be set up. Every message names the target (as
/// [`ConnInfo::describe`]) when one is known, says what went wrong and what to do, and
/// never contains the password or the URL it came in.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The URL, conninfo string or environment is malformed or inconsistent.
    #[error("invalid connection settings: {problem}; {hint}")]
    Settings {
        /// What is wrong, naming the setting and where it came from.
        problem: String,
        /// What to do about it.
        hint: String,
    },
    /// No server answered at the address (refused, unknown host, no socket file, I/O).
    #[error("cannot connect to {target}: {reason}; {hint}")]
    Unreachable {
        /// The server(s), as [`ConnInfo::describe`] writes them.
        target: String,
        /// What went wrong.
        reason: String,
        /// What to do about it.
        hint: String,
    },
    /// TLS could not be set up: certificate files, verification, the handshake itself.
    #[error("cannot connect to {target}: TLS: {reason}; {hint}")]
    Tls {
        /// The server(s), as [`ConnInfo::describe`] writes them.
        target: String,
        /// What went wrong.
        reason: String,
        /// What to do about it.
        hint: String,
    },
    /// The server answered and refused: authentication, unknown database or role, ...
    #[error("cannot connect to {target}: {message} (SQLSTATE {code}); {hint}")]
    Rejected {
        /// The server(s), as [`ConnInfo::describe`] writes them.
        target: String,
        /// The server's SQLSTATE (`28P01`, `3D000`, ...).
        code: String,
        /// The server's message.
        message: String,
        /// What to do about it.
        hint: String,
    },
    /// The server wants a password and none was found in any of the places libpq looks.
    #[error(
        "cannot connect to {target}: the server asks for a password, but none was given; {hint}"
    )]
    PasswordNeeded {
        /// The server(s), as [`ConnInfo::describe`] writes them.
        target: String,
        /// Where a password can be given.
        hint: String,
    },
    /// `connect_timeout` passed before the session was ready.
    #[error(
        "cannot connect to {target}: no session within {seconds}s (connect_timeout); check that \
         the server is running and reachable, or raise connect_timeout"
    )]
    Timeout {
        /// The server(s), as [`ConnInfo::describe`] writes them.
        target: String,
        /// The limit that passed.
        seconds: u64,
    },
    /// A multi-host setting, and no host could be used: each host's own error, in order.
    #[error(
        "cannot connect to any host of {target}: {}",
        .failures.iter().map(ToString::to_string).collect::<Vec<_>>().join("; then ")
    )]
    NoHost {
        /// The server(s), as [`ConnInfo::describe`] writes them.
        target: String,
        /// Each host's error, in the order the hosts were tried.
        failures: Vec<ConnectError>,
    },
}

impl ConnectError {
    /// True when the settings themselves are wrong (a usage error, not a database error).
    pub fn is_settings_error(&self) -> bool {
        matches!(self, ConnectError::Settings { .. })
    }

    /// The server's SQLSTATE when the server refused the connection.
    pub fn sqlstate(&self) -> Option<&str> {
        match self {
            ConnectError::Rejected { code, .. } => Some(code),
            _ => None,
        }
    }
}

fn settings_error(problem: impl Into<String>, hint: impl Into<String>) -> ConnectError {
    ConnectError::Settings {
        problem: problem.into(),
        hint: hint.into(),
    }
}

/// A password that cannot be printed by accident.
#[derive(Clone, PartialEq, Eq)]
struct Secret(String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Where the server is: a TCP host name / IP address, or a Unix socket directory.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Host {
    Tcp(String),
    Socket(PathBuf),
}

/// Where the password came from (decides whether `with_dbname` looks it up again).
#[derive(Clone, Debug, PartialEq, Eq)]
enum PasswordFrom {
    Settings,
    Env,
    PassFile,
}

/// Which certificates the server's certificate is checked against.
#[derive(Clone, Debug, PartialEq, Eq)]
enum RootCert {
    /// None given and no `~/.postgresql/root.crt`.
    Unset,
    /// A PEM file: `sslrootcert=FILE`, or `~/.postgresql/root.crt` when `default`.
    File { path: PathBuf, default: bool },
    /// `sslrootcert=system`: the operating system's trust store.
    System,
}

/// Where and how to connect: parsed settings, ready to connect. `Debug` does not show
/// the password. Equal settings reach the same database as the same user in the same
/// way: what lets a fleet's schema targets share connections.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnInfo {
    host: Host,
    hostaddr: Option<IpAddr>,
    port: u16,
    user: String,
    dbname: String,
    password: Option<Secret>,
    password_from: Option<PasswordFrom>,
    passfile: Option<PathBuf>,
    default_socket_dir: PathBuf,
    sslmode: SslMode,
    sslrootcert: RootCert,
    client_cert: Option<(PathBuf, PathBuf)>,
    ssl_direct: bool,
    channel_binding: ChannelBinding,
    application_name: Option<String>,
    fallback_application_name: Option<String>,
    connect_timeout: Option<Duration>,
    options: Option<String>,
    target_session_attrs: TargetSessionAttrs,
    keepalives: Option<bool>,
    keepalives_idle: Option<Duration>,
    keepalives_interval: Option<Duration>,
    keepalives_retries: Option<u32>,
    tcp_user_timeout: Option<Duration>,
    /// Things the user should know (e.g. a password file ignored for its permissions);
    /// repeated in authentication errors, where they explain the failure.
    warnings: Vec<String>,
    /// The further hosts of a multi-host setting (`host=a,b`), each complete, tried in
    /// order when this one cannot be used (as libpq, with `target_session_attrs`).
    alternates: Vec<ConnInfo>,
}

impl ConnInfo {
    /// `user@host:port/dbname` — safe to print anywhere (no password, ever).
    pub fn describe(&self) -> String {
        let hosts: Vec<String> = self
            .endpoints()
            .map(|e| format!("{}:{}", e.host_text(), e.port))
            .collect();
        format!("{}@{}/{}", self.user, hosts.join(","), self.dbname)
    }

    /// This host, then the alternates of a multi-host setting.
    fn endpoints(&self) -> impl Iterator<Item = &ConnInfo> {
        std::iter::once(self).chain(&self.alternates)
    }

    fn host_text(&self) -> String {
        match &self.host {
            Host::Tcp(host) if host.contains(':') => format!("[{host}]"),
            Host::Tcp(host) => host.clone(),
            Host::Socket(dir) => dir.display().to_string(),
        }
    }

    /// Where the server is expected, for "is it running?" hints.
    fn address_text(&self) -> String {
        match (&self.host, self.hostaddr) {
            (Host::Socket(dir), _) => format!(
                "the Unix socket {}",
                dir.join(format!(".s.PGSQL.{}", self.port)).display()
            ),
            (Host::Tcp(_), Some(addr)) => {
                format!("{}:{} (hostaddr {addr})", self.host_text(), self.port)
            }
            (Host::Tcp(_), None) => format!("{}:{}", self.host_text(), self.port),
        }
    }

    /// The database name (the user name when none is given, as in libpq).
    pub fn dbname(&self) -> &str {
        &self.dbname
    }

    /// The user name (the operating-system user when none is given, as in libpq).
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The port (of the first host, with several).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The effective sslmode (the default is `prefer`).
    pub fn ssl_mode(&self) -> SslMode {
        self.sslmode
    }

    /// Problems noticed while reading the settings that did not stop parsing, such as a
    /// password file ignored because of its permissions. Also repeated in errors.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The libpq environment that points a client program (`psql`, `pg_restore`) at this
    /// database. It carries the password, so it goes into a child's environment only,
    /// never into a message or a command line.
    pub fn libpq_env(&self) -> Vec<(&'static str, String)> {
        // Lists for a multi-host setting, which libpq's programs take as they are.
        let join = |part: &dyn Fn(&ConnInfo) -> String| -> String {
            self.endpoints().map(part).collect::<Vec<_>>().join(",")
        };
        let mut env = vec![
            (
                "PGHOST",
                join(&|e| match &e.host {
                    Host::Tcp(host) => host.clone(),
                    Host::Socket(dir) => dir.display().to_string(),
                }),
            ),
            ("PGPORT", join(&|e| e.port.to_string())),
            ("PGUSER", self.user.clone()),
            ("PGDATABASE", self.dbname.clone()),
            ("PGSSLMODE", self.sslmode.as_str().to_owned()),
        ];
        if self.endpoints().any(|e| e.hostaddr.is_some()) {
            env.push((
                "PGHOSTADDR",
                join(&|e| e.hostaddr.map(|a| a.to_string()).unwrap_or_default()),
            ));
        }
        // One PGPASSWORD serves every host only when they share it; otherwise the
        // program reads the password file per host, as retort did.
        if let Some(Secret(password)) = &self.password {
            if self.alternates.iter().all(|e| e.password == self.password) {
                env.push(("PGPASSWORD", password.clone()));
            } else if let Some(file) = &self.passfile {
                env.push(("PGPASSFILE", file.display().to_string()));
            }
        }
        match &self.sslrootcert {
            RootCert::File { path, .. } => env.push(("PGSSLROOTCERT", path.display().to_string())),
            RootCert::System => env.push(("PGSSLROOTCERT", "system".to_owned())),
            RootCert::Unset => {}
        }
        if let Some((cert, key)) = &self.client_cert {
            env.push(("PGSSLCERT", cert.display().to_string()));
            env.push(("PGSSLKEY", key.display().to_string()));
        }
        if let Some(limit) = self.connect_timeout {
            env.push(("PGCONNECT_TIMEOUT", limit.as_secs().max(1).to_string()));
        }
        env
    }

    /// Whether the server is on this machine (a Unix socket, `localhost` or a loopback
    /// address): test-migration refuses to experiment on anything else unless told to.
    pub fn is_local(&self) -> bool {
        self.alternates.iter().all(ConnInfo::is_local)
            && match &self.host {
                Host::Socket(_) => true,
                Host::Tcp(host) => {
                    host.eq_ignore_ascii_case("localhost")
                        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
                }
            }
    }

    /// The same server, another database (used by tests and scratch databases).
    pub fn with_dbname(&self, dbname: &str) -> ConnInfo {
        let mut info = self.clone();
        info.dbname = dbname.to_string();
        info.lookup_password_file();
        info.alternates = self
            .alternates
            .iter()
            .map(|e| e.with_dbname(dbname))
            .collect();
        info
    }
}
