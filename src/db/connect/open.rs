//! Connecting: each host of a multi-host setting in turn, the `sslmode` fallbacks,
//! `connect_timeout`, and tokio-postgres errors turned into a [`ConnectError`] that says
//! what to do.

use tokio_postgres::config::SslNegotiation;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::{ConnInfo, ConnectError, Host, SslMode};

impl ConnInfo {
    /// Connects (TLS per sslmode), spawns the connection task on the current tokio runtime,
    /// and returns the client. `application_name` is set when the settings name none.
    /// The runtime needs timers when connect_timeout is set (`enable_all`).
    ///
    /// With several hosts, each is tried in turn, as libpq does, until one accepts the
    /// session (and, with `target_session_attrs=read-write`, allows writes): teams point
    /// a migration at every node of a cluster and let it find the primary.
    pub async fn connect(
        &self,
        application_name: &str,
    ) -> Result<tokio_postgres::Client, ConnectError> {
        if self.alternates.is_empty() {
            return self.connect_host(application_name).await;
        }
        // The first host on its own, so that its errors name it alone.
        let first = ConnInfo {
            alternates: Vec::new(),
            ..self.clone()
        };
        let mut failures = Vec::new();
        for endpoint in std::iter::once(&first).chain(&self.alternates) {
            match endpoint.connect_host(application_name).await {
                Ok(client) => return Ok(client),
                // Settings that are wrong are wrong for every host.
                Err(e) if e.is_settings_error() => return Err(e),
                Err(e) => failures.push(e),
            }
        }
        Err(ConnectError::NoHost {
            target: self.describe(),
            failures,
        })
    }

    /// [`ConnInfo::connect`] to this host alone; connect_timeout applies per host.
    async fn connect_host(
        &self,
        application_name: &str,
    ) -> Result<tokio_postgres::Client, ConnectError> {
        let attempt = self.connect_inner(application_name);
        match self.connect_timeout {
            // Over the whole startup (TLS, authentication), as libpq, not only the TCP connect.
            Some(limit) => {
                tokio::time::timeout(limit, attempt)
                    .await
                    .map_err(|_| ConnectError::Timeout {
                        target: self.describe(),
                        seconds: limit.as_secs(),
                    })?
            }
            None => attempt.await,
        }
    }

    async fn connect_inner(
        &self,
        application_name: &str,
    ) -> Result<tokio_postgres::Client, ConnectError> {
        use tokio_postgres::config::SslMode as PgSsl;
        // PostgreSQL never speaks TLS on Unix sockets; libpq ignores sslmode there.
        let mode = match self.host {
            Host::Socket(_) => SslMode::Disable,
            Host::Tcp(_) => self.sslmode,
        };
        let tls = MakeRustlsConnect::new(self.tls_config(mode)?);
        match mode {
            SslMode::Disable => self.attempt(application_name, PgSsl::Disable, &tls).await,
            // libpq: plain first; TLS only if the server turns the plain session down.
            SslMode::Allow => match self.attempt(application_name, PgSsl::Disable, &tls).await {
                Err(ConnectError::Rejected { .. }) => {
                    self.attempt(application_name, PgSsl::Require, &tls).await
                }
                other => other,
            },
            // tokio-postgres already goes plain when the server says it has no TLS; libpq
            // also retries plain when the TLS handshake itself fails.
            SslMode::Prefer => match self.attempt(application_name, PgSsl::Prefer, &tls).await {
                Err(ConnectError::Tls { .. }) => {
                    self.attempt(application_name, PgSsl::Disable, &tls).await
                }
                other => other,
            },
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
                self.attempt(application_name, PgSsl::Require, &tls).await
            }
        }
    }

    async fn attempt(
        &self,
        application_name: &str,
        ssl: tokio_postgres::config::SslMode,
        tls: &MakeRustlsConnect,
    ) -> Result<tokio_postgres::Client, ConnectError> {
        let config = self.pg_config(application_name, ssl);
        let (client, connection) = config
            .connect(tls.clone())
            .await
            .map_err(|e| self.map_error(&e))?;
        tokio::spawn(async move {
            // Errors after startup reach the client as "connection closed" on its next call.
            let _ = connection.await;
        });
        Ok(client)
    }

    pub(super) fn pg_config(
        &self,
        application_name: &str,
        ssl: tokio_postgres::config::SslMode,
    ) -> tokio_postgres::Config {
        let mut config = tokio_postgres::Config::new();
        match &self.host {
            Host::Tcp(host) => config.host(host),
            Host::Socket(dir) => config.host_path(dir),
        };
        if let Some(addr) = self.hostaddr {
            config.hostaddr(addr);
        }
        config
            .port(self.port)
            .user(&self.user)
            .dbname(&self.dbname)
            .ssl_mode(ssl)
            .channel_binding(self.channel_binding)
            .target_session_attrs(self.target_session_attrs)
            .application_name(
                self.application_name
                    .as_deref()
                    .or(self.fallback_application_name.as_deref())
                    .unwrap_or(application_name),
            );
        if self.ssl_direct {
            config.ssl_negotiation(SslNegotiation::Direct);
        }
        if let Some(password) = &self.password {
            config.password(password.0.as_bytes());
        }
        if let Some(options) = &self.options {
            config.options(options);
        }
        if let Some(timeout) = self.connect_timeout {
            config.connect_timeout(timeout);
        }
        if let Some(on) = self.keepalives {
            config.keepalives(on);
        }
        if let Some(idle) = self.keepalives_idle {
            config.keepalives_idle(idle);
        }
        if let Some(interval) = self.keepalives_interval {
            config.keepalives_interval(interval);
        }
        if let Some(retries) = self.keepalives_retries {
            config.keepalives_retries(retries);
        }
        if let Some(timeout) = self.tcp_user_timeout {
            config.tcp_user_timeout(timeout);
        }
        config
    }

    pub(super) fn running_hint(&self) -> String {
        format!(
            "check that the server is running and accepts connections at {}",
            self.address_text()
        )
    }

    pub(super) fn password_sources(&self) -> String {
        let file = self
            .passfile
            .as_ref()
            .map_or_else(|| "~/.pgpass".to_string(), |p| p.display().to_string());
        let mut text = format!("the URL, PGPASSWORD or the password file {file}");
        for warning in &self.warnings {
            text.push_str(" (note: ");
            text.push_str(warning);
            text.push(')');
        }
        text
    }

    /// Turns a tokio-postgres error into a message that says what to do.
    fn map_error(&self, error: &tokio_postgres::Error) -> ConnectError {
        let target = self.describe();
        if let Some(db) = error.as_db_error() {
            let code = db.code().code().to_string();
            let hint = match code.as_str() {
                "28P01" => format!(
                    "check the password for user \"{}\" ({})",
                    self.user,
                    self.password_sources()
                ),
                "28000" if db.message().contains("pg_hba.conf") => {
                    format!(
                    "the server's pg_hba.conf has no entry for this user, database and client{}; \
                     ask the administrator, or check sslmode (now {})",
                    if db.message().contains("no encryption") { " without TLS" } else { "" },
                    self.sslmode
                )
                }
                "28000" => format!(
                    "check the user name (user in the URL or PGUSER; now \"{}\")",
                    self.user
                ),
                "3D000" => format!(
                    "check the database name (dbname in the URL or PGDATABASE), or create it: \
                     createdb -h {} -p {} -U {} {}",
                    self.host_text(),
                    self.port,
                    self.user,
                    self.dbname
                ),
                "53300" => "the server has no free connection slots; retry later or close \
                            other sessions"
                    .to_string(),
                "57P03" => "the server is starting up or shutting down; retry shortly".to_string(),
                _ => db
                    .hint()
                    .map_or_else(|| self.running_hint(), |h| h.to_string()),
            };
            return ConnectError::Rejected {
                target,
                code,
                message: db.message().to_string(),
                hint,
            };
        }

        let reason = error_chain(error);
        let kind = error.to_string();
        if kind == "error performing TLS handshake" {
            if let Some(rustls_error) = find_rustls_error(error) {
                return self.tls_failure(rustls_error);
            }
            let hint = if reason.contains("does not support TLS") {
                "the server has TLS turned off: use sslmode=prefer or disable, or turn ssl on \
                 in its postgresql.conf"
                    .to_string()
            } else {
                format!(
                    "check sslmode (now {}) and the server's TLS settings",
                    self.sslmode
                )
            };
            return ConnectError::Tls {
                target,
                reason,
                hint,
            };
        }
        if reason.contains("password missing") {
            return ConnectError::PasswordNeeded {
                target,
                hint: format!("give it in {}", self.password_sources()),
            };
        }
        if kind == "timeout waiting for server" {
            return ConnectError::Timeout {
                target,
                seconds: self.connect_timeout.map_or(0, |t| t.as_secs()),
            };
        }
        let hint = if reason.contains("lookup address") || reason.contains("resolve") {
            format!("check the host name \"{}\"", self.host_text())
        } else if reason.contains("does not allow writes") {
            // target_session_attrs=read-write met a standby (or a read-only session).
            "this server is read-only (a standby?): point at the primary, or list every node \
             of the cluster (host=a,b,c) so that the writable one is found"
                .to_string()
        } else {
            self.running_hint()
        };
        ConnectError::Unreachable {
            target,
            reason,
            hint,
        }
    }
}

/// "error connecting to server: Connection refused (os error 111)": the error and its
/// causes, which carry the useful part.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// The rustls error under a failed handshake. tokio-rustls wraps it in an io::Error,
/// whose `source()` skips the wrapped error itself, hence `get_ref`.
fn find_rustls_error(error: &tokio_postgres::Error) -> Option<&rustls::Error> {
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if let Some(found) = cause.downcast_ref::<rustls::Error>() {
            return Some(found);
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            if let Some(found) = io.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) {
                return Some(found);
            }
        }
        source = cause.source();
    }
    None
}
