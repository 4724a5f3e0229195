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

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_postgres::config::{ChannelBinding, SslNegotiation, TargetSessionAttrs};
use tokio_postgres_rustls::MakeRustlsConnect;

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
    Settings { problem: String, hint: String },
    /// No server answered at the address (refused, unknown host, no socket file, I/O).
    #[error("cannot connect to {target}: {reason}; {hint}")]
    Unreachable {
        target: String,
        reason: String,
        hint: String,
    },
    /// TLS could not be set up: certificate files, verification, the handshake itself.
    #[error("cannot connect to {target}: TLS: {reason}; {hint}")]
    Tls {
        target: String,
        reason: String,
        hint: String,
    },
    /// The server answered and refused: authentication, unknown database or role, ...
    #[error("cannot connect to {target}: {message} (SQLSTATE {code}); {hint}")]
    Rejected {
        target: String,
        code: String,
        message: String,
        hint: String,
    },
    /// The server wants a password and none was found in any of the places libpq looks.
    #[error(
        "cannot connect to {target}: the server asks for a password, but none was given; {hint}"
    )]
    PasswordNeeded { target: String, hint: String },
    /// `connect_timeout` passed before the session was ready.
    #[error(
        "cannot connect to {target}: no session within {seconds}s (connect_timeout); check that \
         the server is running and reachable, or raise connect_timeout"
    )]
    Timeout { target: String, seconds: u64 },
    /// A multi-host setting, and no host could be used: each host's own error, in order.
    #[error(
        "cannot connect to any host of {target}: {}",
        .failures.iter().map(ToString::to_string).collect::<Vec<_>>().join("; then ")
    )]
    NoHost {
        target: String,
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
/// the password.
#[derive(Clone, Debug)]
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

// ---------------------------------------------------------------------------
// Settings as given: key -> value, with where each came from
// ---------------------------------------------------------------------------

/// The settings we understand, with the libpq environment variable that supplies each
/// when the URL / conninfo does not.
const KEYS: &[(&str, Option<&str>)] = &[
    ("host", Some("PGHOST")),
    ("hostaddr", Some("PGHOSTADDR")),
    ("port", Some("PGPORT")),
    ("dbname", Some("PGDATABASE")),
    ("user", Some("PGUSER")),
    ("password", Some("PGPASSWORD")),
    ("passfile", Some("PGPASSFILE")),
    ("sslmode", Some("PGSSLMODE")),
    ("sslrootcert", Some("PGSSLROOTCERT")),
    ("sslcert", Some("PGSSLCERT")),
    ("sslkey", Some("PGSSLKEY")),
    ("sslnegotiation", Some("PGSSLNEGOTIATION")),
    ("channel_binding", Some("PGCHANNELBINDING")),
    ("gssencmode", Some("PGGSSENCMODE")),
    ("application_name", Some("PGAPPNAME")),
    ("fallback_application_name", None),
    ("connect_timeout", Some("PGCONNECT_TIMEOUT")),
    ("options", Some("PGOPTIONS")),
    ("target_session_attrs", Some("PGTARGETSESSIONATTRS")),
    ("keepalives", None),
    ("keepalives_idle", None),
    ("keepalives_interval", None),
    ("keepalives_count", None),
    ("tcp_user_timeout", None),
    ("client_encoding", Some("PGCLIENTENCODING")),
    // Resolved first (see `apply_service`), never passed on; PGSERVICE is read there.
    ("service", None),
];

/// libpq settings we know but do not implement: named as such instead of "unknown".
const UNSUPPORTED_KEYS: &[&str] = &[
    "sslpassword",
    "sslcrl",
    "sslcrldir",
    "sslsni",
    "sslcertmode",
    "sslcompression",
    "ssl_min_protocol_version",
    "ssl_max_protocol_version",
    "requirepeer",
    "require_auth",
    "krbsrvname",
    "gsslib",
    "gssdelegation",
    "replication",
    "load_balance_hosts",
    "requiressl",
];

#[derive(Clone, Copy, Debug)]
enum Origin {
    Url,
    Conninfo,
    Env(&'static str),
    /// A connection service file (`pg_service.conf`).
    Service,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Url => f.write_str("in the URL"),
            Origin::Conninfo => f.write_str("in the connection string"),
            Origin::Env(var) => write!(f, "from {var}"),
            Origin::Service => f.write_str("from the connection service file"),
        }
    }
}

#[derive(Clone)]
struct Setting {
    value: String,
    origin: Origin,
}

type Settings = BTreeMap<&'static str, Setting>;

/// The value of an enumerated setting (`channel_binding=require`, ...): the first of
/// `choices` when unset, an error listing the accepted words when unknown.
fn choice<T: Copy>(s: &Settings, key: &str, choices: &[(&str, T)]) -> Result<T, ConnectError> {
    let Some(setting) = s.get(key) else {
        return Ok(choices[0].1);
    };
    if let Some((_, value)) = choices.iter().find(|(word, _)| *word == setting.value) {
        return Ok(*value);
    }
    let words: Vec<&str> = choices.iter().map(|(word, _)| *word).collect();
    Err(settings_error(
        format!("invalid {key} \"{}\" {}", setting.value, setting.origin),
        format!("use one of: {}", words.join(", ")),
    ))
}

/// Maps a key as written to our canonical `&'static str`, or explains what is wrong.
/// `echo` is false when the key might be a fragment of a password (a stray word right
/// after an unquoted password), so it must not be repeated.
fn canonical_key(key: &str, origin: Origin, echo: bool) -> Result<&'static str, ConnectError> {
    if let Some((name, _)) = KEYS.iter().find(|(name, _)| *name == key) {
        return Ok(name);
    }
    let known: Vec<&str> = KEYS.iter().map(|(name, _)| *name).collect();
    if !echo {
        return Err(settings_error(
            format!("a setting {origin} that follows the password is not a known setting"),
            "if the password contains spaces or quotes, quote it (password='a b') or \
             percent-encode it in a URL",
        ));
    }
    if UNSUPPORTED_KEYS.contains(&key) {
        return Err(settings_error(
            format!("the libpq setting \"{key}\" {origin} is not supported by retort"),
            format!("remove it; supported settings: {}", known.join(", ")),
        ));
    }
    let nearest = known
        .iter()
        .map(|k| (strsim::levenshtein(&key.to_ascii_lowercase(), k), *k))
        .min();
    let hint = match nearest {
        Some((distance, k)) if distance <= 3 => format!("did you mean \"{k}\"?"),
        _ => format!("supported settings: {}", known.join(", ")),
    };
    Err(settings_error(
        format!("unknown connection setting \"{key}\" {origin}"),
        hint,
    ))
}

/// Decodes `%XX` escapes (URL parts). `what` names the part for the error message,
/// which never shows the text itself (it may be a password).
fn percent_decode(text: &str, what: &str) -> Result<String, ConnectError> {
    let bad = || {
        settings_error(
            format!("invalid percent-encoding in {what} of the URL"),
            "write special characters as %XX (e.g. @ as %40, : as %3A, / as %2F, % as %25)",
        )
    };
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or_else(bad)?;
            let hex = std::str::from_utf8(hex).map_err(|_| bad())?;
            let byte = u8::from_str_radix(hex, 16).map_err(|_| bad())?;
            if byte == 0 {
                return Err(bad());
            }
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| {
        settings_error(
            format!("{what} of the URL is not valid UTF-8 once percent-decoded"),
            "check the %XX escapes",
        )
    })
}

const URL_HINT: &str = "the form is postgres://user:password@host:port/dbname?sslmode=...; \
     percent-encode special characters (@ : / ? # % in a password)";

/// `postgres://[user[:password]@][host][:port][/dbname][?key=value&...]`
fn parse_url(url: &str, out: &mut Settings) -> Result<(), ConnectError> {
    let rest = url
        .strip_prefix("postgresql://")
        .or_else(|| url.strip_prefix("postgres://"))
        .ok_or_else(|| settings_error("not a postgres:// URL", URL_HINT))?;
    let mut set = |key: &'static str, value: String| {
        out.insert(
            key,
            Setting {
                value,
                origin: Origin::Url,
            },
        );
    };
    let (main, query) = match rest.split_once('?') {
        Some((main, query)) => (main, Some(query)),
        None => (rest, None),
    };
    let (authority, path) = match main.split_once('/') {
        Some((authority, path)) => (authority, Some(path)),
        None => (main, None),
    };
    // The last '@': hosts never contain one, so an unencoded '@' in a password still works.
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((userinfo, hostport)) => (Some(userinfo), hostport),
        None => (None, authority),
    };
    if let Some(userinfo) = userinfo {
        let (user, password) = match userinfo.split_once(':') {
            Some((user, password)) => (user, Some(password)),
            None => (userinfo, None),
        };
        set("user", percent_decode(user, "the user name")?);
        if let Some(password) = password {
            set("password", percent_decode(password, "the password")?);
        }
    }
    // libpq's multi-host form: postgres://h1:5432,h2:5433/db.
    let mut hosts = Vec::new();
    let mut ports = Vec::new();
    for hostport in hostport.split(',') {
        let (host, port) = url_host_port(hostport)?;
        hosts.push(host);
        ports.push(port);
    }
    set("host", hosts.join(","));
    if ports.iter().any(Option::is_some) {
        let ports: Vec<&str> = ports.iter().map(|p| p.unwrap_or("")).collect();
        set("port", ports.join(","));
    }
    if let Some(path) = path {
        set("dbname", percent_decode(path, "the database name")?);
    }
    let mut after_password = false;
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').ok_or_else(|| {
            settings_error(
                "a URL parameter without '='",
                "write parameters as ?key=value&key=value",
            )
        })?;
        let key = percent_decode(key, "a parameter name")?;
        let value = percent_decode(value, "a parameter value")?;
        // JDBC's spelling, which libpq also accepts.
        if key == "ssl" {
            if value != "true" {
                return Err(settings_error(
                    "invalid value for the URL parameter \"ssl\"",
                    "use ssl=true (same as sslmode=require), or sslmode=...",
                ));
            }
            set("sslmode", "require".to_string());
            continue;
        }
        let key = canonical_key(&key, Origin::Url, !after_password)?;
        after_password = key == "password";
        set(key, value);
    }
    Ok(())
}

/// One `host[:port]` of a URL's authority (`[v6addr]:port` bracketed).
fn url_host_port(hostport: &str) -> Result<(String, Option<&str>), ConnectError> {
    if let Some(bracketed) = hostport.strip_prefix('[') {
        let (host, tail) = bracketed.split_once(']').ok_or_else(|| {
            settings_error(
                "unterminated '[' in the host of the URL",
                "write IPv6 addresses in brackets: postgres://[::1]:5432/db",
            )
        })?;
        let port = match tail {
            "" => None,
            _ => Some(tail.strip_prefix(':').ok_or_else(|| {
                settings_error(
                    "unexpected text after ']' in the host of the URL",
                    "write IPv6 addresses in brackets: postgres://[::1]:5432/db",
                )
            })?),
        };
        Ok((host.to_string(), port))
    } else {
        match hostport.split_once(':') {
            Some((host, port)) => Ok((percent_decode(host, "the host")?, Some(port))),
            None => Ok((percent_decode(hostport, "the host")?, None)),
        }
    }
}

/// libpq's `key=value key='quoted value'` form; backslash escapes the next character.
fn parse_conninfo(text: &str, out: &mut Settings) -> Result<(), ConnectError> {
    let mut chars = text.chars().peekable();
    let mut previous: Option<&'static str> = None;
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Ok(());
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            // Never repeat the word: after an unquoted password it is part of the password.
            return Err(match previous {
                Some("password") => settings_error(
                    "a word without '=' follows the password in the connection string",
                    "quote values containing spaces: password='a b'",
                ),
                Some(key) => settings_error(
                    format!("a word without '=' follows the setting \"{key}\""),
                    format!("quote values containing spaces: {key}='a b'"),
                ),
                None => settings_error(
                    "expected a postgres:// URL or key=value settings",
                    "write e.g. postgres://user@host:5432/dbname or \
                     \"host=... port=... dbname=... user=...\" (a bare database name is dbname=NAME)",
                ),
            });
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let key = canonical_key(&key, Origin::Conninfo, previous != Some("password"))?;
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    Some('\\') => value.extend(chars.next()),
                    Some('\'') => break,
                    Some(c) => value.push(c),
                    None => {
                        return Err(settings_error(
                            format!("unterminated quoted value for \"{key}\""),
                            "close the quote; write \\' for a quote inside the value",
                        ))
                    }
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    value.extend(chars.next());
                } else {
                    value.push(c);
                }
            }
        }
        out.insert(
            key,
            Setting {
                value,
                origin: Origin::Conninfo,
            },
        );
        previous = Some(key);
    }
}

// ---------------------------------------------------------------------------
// The operating system: user, home directory, socket directory
// ---------------------------------------------------------------------------

/// The user's home, as libpq finds it: `HOME`, else the passwd entry's.
fn home_dir(
    env: &dyn Fn(&str) -> Option<String>,
    passwd_home: impl FnOnce() -> Option<PathBuf>,
) -> Option<PathBuf> {
    env("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .or_else(passwd_home)
}

/// The service files libpq reads, in its order: `PGSERVICEFILE` or
/// `~/.pg_service.conf`, then `pg_service.conf` in `PGSYSCONFDIR` (where Debian's libpq
/// looks without it: /etc/postgresql-common).
fn service_files(env: &dyn Fn(&str) -> Option<String>) -> Vec<PathBuf> {
    let user_file = match env("PGSERVICEFILE").filter(|f| !f.is_empty()) {
        Some(file) => Some(PathBuf::from(file)),
        None => home_dir(env, || passwd_entry().map(|(_, home)| home))
            .map(|home| home.join(".pg_service.conf")),
    };
    let sysconf = env("PGSYSCONFDIR")
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| "/etc/postgresql-common".to_owned());
    user_file
        .into_iter()
        .chain([Path::new(&sysconf).join("pg_service.conf")])
        .collect()
}

/// One `key=value` line of a service: its line number, key and value.
type ServiceLine = (usize, String, String);

/// The lines of section `[name]` of a service file; None when the file does not exist
/// or has no such section.
fn read_service(path: &Path, name: &str) -> Result<Option<Vec<ServiceLine>>, ConnectError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(settings_error(
                format!("cannot read the service file {}: {e}", path.display()),
                "fix its permissions, or point PGSERVICEFILE at another file",
            ))
        }
    };
    let mut section: Option<&str> = None;
    let mut found: Option<Vec<ServiceLine>> = None;
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(header) = line.strip_prefix('[') {
            let header = header.strip_suffix(']').ok_or_else(|| {
                settings_error(
                    format!(
                        "{}:{}: unterminated section header",
                        path.display(),
                        index + 1
                    ),
                    "write a service's name as [name]",
                )
            })?;
            // libpq reads the first section of a name and stops at the next section.
            if found.is_some() {
                break;
            }
            section = Some(header);
            if header == name {
                found = Some(Vec::new());
            }
            continue;
        }
        if section != Some(name) {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(settings_error(
                format!(
                    "{}:{}: syntax error in service \"{name}\"",
                    path.display(),
                    index + 1
                ),
                "each line of a service is key=value",
            ));
        };
        if let Some(entries) = found.as_mut() {
            entries.push((index + 1, key.trim().to_owned(), value.trim().to_owned()));
        }
    }
    Ok(found)
}

/// Fills what `settings` lacks from service `name` of the first service file that
/// defines it, as libpq does for `service=NAME` or PGSERVICE.
fn apply_service(
    name: &str,
    env: &dyn Fn(&str) -> Option<String>,
    settings: &mut Settings,
) -> Result<(), ConnectError> {
    let files = service_files(env);
    for path in &files {
        let Some(entries) = read_service(path, name)? else {
            continue;
        };
        for (line, key, value) in entries {
            let at = format!("{}:{line}", path.display());
            let Some((key, _)) = KEYS.iter().find(|(k, _)| *k == key) else {
                return Err(settings_error(
                    format!("{at}: unknown connection setting \"{key}\" in service \"{name}\""),
                    "a service takes the settings of a connection string (host, port, dbname, user, ...)",
                ));
            };
            if *key == "service" {
                return Err(settings_error(
                    format!("{at}: service \"{name}\" names another service"),
                    "nested services are not supported (nor by libpq): write the settings out",
                ));
            }
            // An empty value counts as not given (`postgres://@/?service=x`), as in libpq.
            if settings.get(key).is_none_or(|given| given.value.is_empty()) {
                settings.insert(
                    key,
                    Setting {
                        value,
                        origin: Origin::Service,
                    },
                );
            }
        }
        return Ok(());
    }
    let looked: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    Err(settings_error(
        format!(
            "no definition of service \"{name}\" in {}",
            looked.join(" or ")
        ),
        "define it as a [section] there, point PGSERVICEFILE at the file that has it, or \
         give the connection settings instead",
    ))
}

/// The passwd entry (name, home) of the effective user, like libpq's getpwuid(geteuid()).
/// /proc/self is owned by the effective uid; without /proc (not Linux) this gives None.
fn passwd_entry() -> Option<(String, PathBuf)> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let uid = std::fs::metadata("/proc/self").ok()?.uid();
        let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
        passwd.lines().find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            let matches = fields.len() >= 6 && fields[2].parse::<u32>().ok()? == uid;
            matches.then(|| (fields[0].to_string(), PathBuf::from(fields[5])))
        })
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// libpq's default socket directory (Debian builds use /var/run/postgresql).
fn default_socket_dir() -> PathBuf {
    let debian = Path::new("/var/run/postgresql");
    if debian.is_dir() {
        debian.to_path_buf()
    } else {
        PathBuf::from("/tmp")
    }
}

// ---------------------------------------------------------------------------
// The password file
// ---------------------------------------------------------------------------

/// Splits a `.pgpass` line into its fields, honouring `\` escapes. Returns, per field,
/// the unescaped text and whether it was exactly an unescaped `*` (the wildcard).
/// libpq ends the password at an unescaped ':' too, so a sixth field is dropped.
fn pgpass_fields(line: &str) -> Vec<(String, bool)> {
    let mut fields = Vec::new();
    let mut current = String::new();
    let mut escaped_any = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                escaped_any = true;
                current.extend(chars.next());
            }
            ':' => {
                let wildcard = current == "*" && !escaped_any;
                fields.push((std::mem::take(&mut current), wildcard));
                escaped_any = false;
            }
            c => current.push(c),
        }
    }
    let wildcard = current == "*" && !escaped_any;
    fields.push((current, wildcard));
    fields
}

/// Outcome of reading the password file.
#[derive(Debug, PartialEq, Eq)]
enum PassFileLookup {
    Found(String),
    NotFound,
    /// The file exists but was not read; the text says why (shown to the user).
    Ignored(String),
}

/// libpq's lookup: the first line `host:port:db:user:password` whose four first fields
/// match (each literally or `*`). The file is ignored unless it is a plain file without
/// group or world permissions, as libpq does, so a leaked password file is not trusted.
fn lookup_passfile(path: &Path, host: &str, port: u16, dbname: &str, user: &str) -> PassFileLookup {
    let Ok(meta) = std::fs::metadata(path) else {
        return PassFileLookup::NotFound;
    };
    if !meta.is_file() {
        return PassFileLookup::Ignored(format!(
            "password file {} is not a plain file; it was ignored",
            path.display()
        ));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode();
        if mode & 0o077 != 0 {
            return PassFileLookup::Ignored(format!(
                "password file {} has group or world access (mode {:04o}); it was ignored — \
                 permissions must be u=rw (0600) or less: chmod 0600 {}",
                path.display(),
                mode & 0o7777,
                path.display()
            ));
        }
    }
    let Ok(text) = std::fs::read_to_string(path) else {
        return PassFileLookup::Ignored(format!(
            "password file {} could not be read; it was ignored",
            path.display()
        ));
    };
    let port = port.to_string();
    let wanted = [host, port.as_str(), dbname, user];
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields = pgpass_fields(line);
        if fields.len() < 5 {
            continue;
        }
        let matches = wanted
            .iter()
            .zip(&fields)
            .all(|(want, (field, wildcard))| *wildcard || field == want);
        if matches {
            return PassFileLookup::Found(fields[4].0.clone());
        }
    }
    PassFileLookup::NotFound
}

// ---------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------

fn parse_seconds(setting: &Setting, key: &str) -> Result<i64, ConnectError> {
    setting.value.trim().parse::<i64>().map_err(|_| {
        settings_error(
            format!("invalid {key} \"{}\" {}", setting.value, setting.origin),
            "give a whole number (seconds; milliseconds for tcp_user_timeout)",
        )
    })
}

fn parse_bool01(setting: &Setting, key: &str) -> Result<bool, ConnectError> {
    match setting.value.as_str() {
        "1" => Ok(true),
        "0" => Ok(false),
        other => Err(settings_error(
            format!("invalid {key} \"{other}\" {}", setting.origin),
            "use 1 or 0",
        )),
    }
}

impl ConnInfo {
    /// Parses a URL (`postgres://` / `postgresql://`) or a libpq key=value conninfo string
    /// (`host=... dbname=...`), or None for "nothing given", then fills what is missing from
    /// the connection service it names (`service=`, else PGSERVICE), then from the libpq
    /// environment variables read through `env` (PGHOST, PGPORT, PGUSER,
    /// PGPASSWORD, PGDATABASE, PGSSLMODE, PGSSLROOTCERT, PGAPPNAME, PGCONNECT_TIMEOUT,
    /// PGPASSFILE, and a few more) and libpq's defaults: host = the Unix socket directory
    /// (/var/run/postgresql if it exists, else /tmp), port 5432, user = the OS user,
    /// dbname = user. The password comes from the settings, else PGPASSWORD, else the
    /// password file (`passfile`, PGPASSFILE or ~/.pgpass; `HOME` is read through `env`).
    pub fn parse(
        given: Option<&str>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<ConnInfo, ConnectError> {
        let mut settings = Settings::new();
        let text = given.map(str::trim).unwrap_or("");
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            parse_url(text, &mut settings)?;
        } else if let Some((scheme, _)) = text
            .split_once("://")
            .filter(|(scheme, _)| !scheme.contains(['=', ' ', '\'']))
        {
            return Err(settings_error(
                format!("unsupported URL scheme \"{scheme}\""),
                "use postgres:// or postgresql://",
            ));
        } else {
            parse_conninfo(text, &mut settings)?;
        }
        // libpq's order: what is given, then the service, then the environment.
        let service = match settings.remove("service") {
            Some(setting) => Some(setting.value),
            None => env("PGSERVICE"),
        };
        if let Some(name) = service.filter(|name| !name.is_empty()) {
            apply_service(&name, env, &mut settings)?;
        }
        for (key, var) in KEYS {
            if settings.contains_key(key) {
                continue;
            }
            if let Some(var) = var {
                if let Some(value) = env(var).filter(|v| !v.is_empty()) {
                    settings.insert(
                        key,
                        Setting {
                            value,
                            origin: Origin::Env(var),
                        },
                    );
                }
            }
        }
        // libpq treats an empty value as not given (and then applies the default).
        settings.retain(|_, setting| !setting.value.is_empty());
        ConnInfo::build_hosts(&settings, env)
    }

    /// [`ConnInfo::parse`] with the process environment.
    pub fn from_env(given: Option<&str>) -> Result<ConnInfo, ConnectError> {
        ConnInfo::parse(given, &|name| std::env::var(name).ok())
    }

    /// libpq's multi-host settings: `host`, `hostaddr` and `port` may be comma-separated
    /// lists (a single port applies to every host); each host becomes a complete
    /// [`ConnInfo`] of its own (its password looked up for that host), the first one
    /// holding the others as alternates.
    fn build_hosts(
        s: &Settings,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<ConnInfo, ConnectError> {
        let list = |key: &str| -> Vec<String> {
            s.get(key)
                .map(|v| {
                    v.value
                        .split(',')
                        .map(|part| part.trim().to_owned())
                        .collect()
                })
                .unwrap_or_default()
        };
        let (hosts, addrs, ports) = (list("host"), list("hostaddr"), list("port"));
        let count = hosts.len().max(addrs.len());
        if count <= 1 && ports.len() <= 1 {
            return ConnInfo::build(s, env);
        }
        let origin = |key: &str| s.get(key).map_or(Origin::Conninfo, |v| v.origin);
        if !hosts.is_empty() && !addrs.is_empty() && hosts.len() != addrs.len() {
            return Err(settings_error(
                format!(
                    "{} hosts {} but {} hostaddr values {}",
                    hosts.len(),
                    origin("host"),
                    addrs.len(),
                    origin("hostaddr")
                ),
                "give one hostaddr per host, or none",
            ));
        }
        if ports.len() > 1 && ports.len() != count {
            return Err(settings_error(
                format!(
                    "{} ports {} for {count} host(s)",
                    ports.len(),
                    origin("port")
                ),
                "give one port for all hosts, or one per host (postgres://h1:5432,h2:5433/db)",
            ));
        }
        let mut endpoints = Vec::with_capacity(count);
        for i in 0..count {
            let mut one = s.clone();
            for (key, values) in [("host", &hosts), ("hostaddr", &addrs), ("port", &ports)] {
                let value = match values.len() {
                    0 => continue,
                    1 => &values[0],
                    _ => &values[i],
                };
                // An empty entry means that setting's default for this host, as in libpq.
                match value.as_str() {
                    "" => one.remove(key),
                    _ => one.insert(
                        key,
                        Setting {
                            value: value.clone(),
                            origin: origin(key),
                        },
                    ),
                };
            }
            endpoints.push(ConnInfo::build(&one, env)?);
        }
        let mut first = endpoints.remove(0);
        first.alternates = endpoints;
        Ok(first)
    }

    fn build(s: &Settings, env: &dyn Fn(&str) -> Option<String>) -> Result<ConnInfo, ConnectError> {
        let passwd = passwd_entry();
        let home = home_dir(env, || passwd.as_ref().map(|(_, home)| home.clone()));
        let default_socket_dir = default_socket_dir();

        let hostaddr = match s.get("hostaddr") {
            Some(setting) => Some(setting.value.parse::<IpAddr>().map_err(|_| {
                settings_error(
                    format!("invalid hostaddr \"{}\" {}", setting.value, setting.origin),
                    "hostaddr takes a numeric IP address; use host for a name",
                )
            })?),
            None => None,
        };
        let (host, hostaddr) = match s.get("host") {
            Some(setting) => {
                let host = if setting.value.starts_with('/') {
                    Host::Socket(PathBuf::from(&setting.value))
                } else {
                    Host::Tcp(setting.value.clone())
                };
                (host, hostaddr)
            }
            // libpq: hostaddr alone is the host (and the name for TLS checks).
            None => match hostaddr {
                Some(addr) => (Host::Tcp(addr.to_string()), None),
                None => (Host::Socket(default_socket_dir.clone()), None),
            },
        };

        let port = match s.get("port") {
            Some(setting) => {
                match setting.value.trim().parse::<u16>() {
                    Ok(port) if port > 0 => port,
                    // A URL's "port" may be a piece of a badly encoded password: not shown.
                    _ if matches!(setting.origin, Origin::Url) => {
                        return Err(settings_error(
                            "invalid port in the URL (expected a number from 1 to 65535)",
                            URL_HINT,
                        ))
                    }
                    _ => {
                        return Err(settings_error(
                            format!("invalid port \"{}\" {}", setting.value, setting.origin),
                            "give a number from 1 to 65535",
                        ))
                    }
                }
            }
            None => 5432,
        };

        let user = match s.get("user") {
            Some(setting) => setting.value.clone(),
            None => passwd
                .as_ref()
                .map(|(name, _)| name.clone())
                .or_else(|| env("USER").filter(|u| !u.is_empty()))
                .or_else(|| env("LOGNAME").filter(|u| !u.is_empty()))
                .ok_or_else(|| {
                    settings_error(
                        "no user name given and the operating system user is unknown",
                        "give one: user in the URL (postgres://USER@host/db), user=..., or PGUSER",
                    )
                })?,
        };
        let dbname = s
            .get("dbname")
            .map_or_else(|| user.clone(), |setting| setting.value.clone());

        let sslrootcert = match s.get("sslrootcert") {
            Some(setting) if setting.value == "system" => RootCert::System,
            Some(setting) => RootCert::File {
                path: PathBuf::from(&setting.value),
                default: false,
            },
            None => match home
                .as_ref()
                .map(|h| h.join(".postgresql").join("root.crt"))
            {
                Some(path) if path.is_file() => RootCert::File {
                    path,
                    default: true,
                },
                _ => RootCert::Unset,
            },
        };
        let sslmode = match s.get("sslmode") {
            Some(setting) => {
                let mode = SslMode::parse(&setting.value).ok_or_else(|| {
                    settings_error(
                        format!("invalid sslmode \"{}\" {}", setting.value, setting.origin),
                        format!("use one of: {}", SslMode::ALLOWED),
                    )
                })?;
                // libpq: the system store only makes sense with full verification.
                if sslrootcert == RootCert::System && mode != SslMode::VerifyFull {
                    return Err(settings_error(
                        format!("sslrootcert=system needs sslmode=verify-full, not {mode}"),
                        "use sslmode=verify-full (the default with sslrootcert=system), or give \
                         sslrootcert=FILE",
                    ));
                }
                mode
            }
            None if sslrootcert == RootCert::System => SslMode::VerifyFull,
            None => SslMode::Prefer,
        };

        let client_cert = {
            let dir = home.as_ref().map(|h| h.join(".postgresql"));
            let cert = s.get("sslcert").map(|v| PathBuf::from(&v.value));
            let key = s.get("sslkey").map(|v| PathBuf::from(&v.value));
            match (cert, key) {
                (Some(cert), Some(key)) => Some((cert, key)),
                (Some(cert), None) => match dir.map(|d| d.join("postgresql.key")) {
                    Some(key) => Some((cert, key)),
                    None => {
                        return Err(settings_error(
                            "sslcert is given but sslkey is not",
                            "give sslkey=FILE too",
                        ))
                    }
                },
                (None, Some(_)) => {
                    return Err(settings_error(
                        "sslkey is given but sslcert is not",
                        "give sslcert=FILE too",
                    ))
                }
                // libpq's defaults, used only when both files are there.
                (None, None) => dir.and_then(|d| {
                    let (cert, key) = (d.join("postgresql.crt"), d.join("postgresql.key"));
                    (cert.is_file() && key.is_file()).then_some((cert, key))
                }),
            }
        };

        let ssl_direct = choice(
            s,
            "sslnegotiation",
            &[("postgres", false), ("direct", true)],
        )?;
        if ssl_direct
            && !matches!(
                sslmode,
                SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull
            )
        {
            return Err(settings_error(
                format!("sslnegotiation=direct needs sslmode=require or stronger, not {sslmode}"),
                "use sslmode=require, verify-ca or verify-full",
            ));
        }
        let channel_binding = choice(
            s,
            "channel_binding",
            &[
                ("prefer", ChannelBinding::Prefer),
                ("disable", ChannelBinding::Disable),
                ("require", ChannelBinding::Require),
            ],
        )?;
        match s.get("gssencmode").map(|v| (v.value.as_str(), v.origin)) {
            // We never use GSSAPI encryption; these modes allow doing without it.
            None | Some(("disable" | "prefer" | "allow", _)) => {}
            Some((other, origin)) => return Err(settings_error(
                format!("gssencmode \"{other}\" {origin} is not supported"),
                "retort does not do GSSAPI encryption: use gssencmode=disable and TLS (sslmode)",
            )),
        }
        match s
            .get("client_encoding")
            .map(|v| (v.value.as_str(), v.origin))
        {
            None => {}
            Some((enc, _))
                if enc.eq_ignore_ascii_case("utf8")
                    || enc.eq_ignore_ascii_case("utf-8")
                    || enc == "auto" => {}
            Some((other, origin)) => {
                return Err(settings_error(
                    format!("client_encoding \"{other}\" {origin} is not supported"),
                    "retort always talks UTF8 to the server; remove client_encoding",
                ))
            }
        }
        let target_session_attrs = choice(
            s,
            "target_session_attrs",
            &[
                ("any", TargetSessionAttrs::Any),
                ("read-write", TargetSessionAttrs::ReadWrite),
                ("read-only", TargetSessionAttrs::ReadOnly),
            ],
        )?;

        // libpq: 0 or negative = wait forever; anything below 2 seconds counts as 2.
        let connect_timeout = match s.get("connect_timeout") {
            Some(setting) => match parse_seconds(setting, "connect_timeout")? {
                secs if secs <= 0 => None,
                secs => Some(Duration::from_secs(secs.max(2).unsigned_abs())),
            },
            None => None,
        };
        let seconds = |key: &str| -> Result<Option<Duration>, ConnectError> {
            match s.get(key) {
                Some(setting) => Ok(Some(Duration::from_secs(
                    parse_seconds(setting, key)?.max(0).unsigned_abs(),
                ))),
                None => Ok(None),
            }
        };
        let keepalives_idle = seconds("keepalives_idle")?;
        let keepalives_interval = seconds("keepalives_interval")?;
        // libpq's tcp_user_timeout is in milliseconds.
        let tcp_user_timeout =
            seconds("tcp_user_timeout")?.map(|d| Duration::from_millis(d.as_secs()));
        let keepalives = s
            .get("keepalives")
            .map(|v| parse_bool01(v, "keepalives"))
            .transpose()?;
        let keepalives_retries = match s.get("keepalives_count") {
            Some(setting) => Some(setting.value.trim().parse::<u32>().map_err(|_| {
                settings_error(
                    format!(
                        "invalid keepalives_count \"{}\" {}",
                        setting.value, setting.origin
                    ),
                    "give a whole number",
                )
            })?),
            None => None,
        };

        let passfile = s
            .get("passfile")
            .map(|v| PathBuf::from(&v.value))
            .or_else(|| home.as_ref().map(|h| h.join(".pgpass")));
        let (password, password_from) = match s.get("password") {
            Some(setting) => (
                Some(Secret(setting.value.clone())),
                Some(match setting.origin {
                    Origin::Env(_) => PasswordFrom::Env,
                    _ => PasswordFrom::Settings,
                }),
            ),
            None => (None, None),
        };

        let mut info = ConnInfo {
            host,
            hostaddr,
            port,
            user,
            dbname,
            password,
            password_from,
            passfile,
            default_socket_dir,
            sslmode,
            sslrootcert,
            client_cert,
            ssl_direct,
            channel_binding,
            application_name: s.get("application_name").map(|v| v.value.clone()),
            fallback_application_name: s.get("fallback_application_name").map(|v| v.value.clone()),
            connect_timeout,
            options: s.get("options").map(|v| v.value.clone()),
            target_session_attrs,
            keepalives,
            keepalives_idle,
            keepalives_interval,
            keepalives_retries,
            tcp_user_timeout,
            warnings: Vec::new(),
            alternates: Vec::new(),
        };
        info.lookup_password_file();
        Ok(info)
    }

    /// Fills the password from the password file when no other source gave one. Depends
    /// on host, port, dbname and user, so it runs again when the database changes.
    fn lookup_password_file(&mut self) {
        if matches!(
            self.password_from,
            Some(PasswordFrom::Settings | PasswordFrom::Env)
        ) {
            return;
        }
        self.password = None;
        self.password_from = None;
        self.warnings.clear();
        let Some(path) = self.passfile.clone() else {
            return;
        };
        // libpq: a socket connection in the default directory matches "localhost".
        let host = match &self.host {
            Host::Tcp(host) => host.clone(),
            Host::Socket(dir) if *dir == self.default_socket_dir => "localhost".to_string(),
            Host::Socket(dir) => dir.display().to_string(),
        };
        match lookup_passfile(&path, &host, self.port, &self.dbname, &self.user) {
            PassFileLookup::Found(password) if !password.is_empty() => {
                self.password = Some(Secret(password));
                self.password_from = Some(PasswordFrom::PassFile);
            }
            PassFileLookup::Found(_) | PassFileLookup::NotFound => {}
            PassFileLookup::Ignored(why) => self.warnings.push(why),
        }
    }

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

    pub fn dbname(&self) -> &str {
        &self.dbname
    }

    pub fn user(&self) -> &str {
        &self.user
    }

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

    /// The same database with `search_path` set to `schema` for the whole session, through
    /// the startup packet's `options` (kept after the other options): a fleet's tenant
    /// schema. A startup setting, unlike a `SET`, survives the `RESET ALL` the runner sends
    /// after a `transaction:false` section.
    pub fn with_search_path(&self, schema: &str) -> ConnInfo {
        let quoted = crate::sql::quote_ident(schema);
        // libpq's options are split at spaces; a backslash escapes the next character.
        let escaped: String = quoted
            .chars()
            .flat_map(|c| match c {
                ' ' | '\\' => vec!['\\', c],
                _ => vec![c],
            })
            .collect();
        let setting = format!("-c search_path={escaped}");
        let mut info = self.clone();
        info.options = Some(match &self.options {
            Some(existing) if !existing.trim().is_empty() => format!("{existing} {setting}"),
            _ => setting,
        });
        info.alternates = self
            .alternates
            .iter()
            .map(|e| e.with_search_path(schema))
            .collect();
        info
    }

    // -----------------------------------------------------------------------
    // Connecting
    // -----------------------------------------------------------------------

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

    fn pg_config(
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

    fn tls_error(&self, reason: impl Into<String>, hint: impl Into<String>) -> ConnectError {
        ConnectError::Tls {
            target: self.describe(),
            reason: reason.into(),
            hint: hint.into(),
        }
    }

    /// The roots a verifying mode checks against, in words (for error messages).
    fn roots_text(&self) -> String {
        match &self.sslrootcert {
            RootCert::File {
                path,
                default: true,
            } => format!("{} (the default root certificate file)", path.display()),
            RootCert::File { path, .. } => path.display().to_string(),
            RootCert::System | RootCert::Unset => "the system's trusted roots".to_string(),
        }
    }

    /// How the server certificate is checked under `mode`: None = not at all.
    fn verification(&self, mode: SslMode) -> Option<Verify> {
        match mode {
            SslMode::Disable | SslMode::Allow | SslMode::Prefer => None,
            // libpq: `require` verifies the chain when a root certificate file exists.
            SslMode::Require => match self.sslrootcert {
                RootCert::File { ref path, .. } if path.is_file() => Some(Verify::Chain),
                _ => None,
            },
            SslMode::VerifyCa => Some(Verify::Chain),
            SslMode::VerifyFull => Some(Verify::ChainAndName),
        }
    }

    fn load_roots(&self) -> Result<RootCertStore, ConnectError> {
        let mut roots = RootCertStore::empty();
        match &self.sslrootcert {
            RootCert::File { path, .. } => {
                if !path.is_file() {
                    return Err(self.tls_error(
                        format!("root certificate file {} does not exist", path.display()),
                        "give the CA certificate of the server with sslrootcert=FILE, use \
                         sslrootcert=system for the system's trusted roots, or use \
                         sslmode=require to encrypt without verifying",
                    ));
                }
                let unreadable = |e: &dyn fmt::Display| {
                    self.tls_error(
                        format!("cannot read root certificate file {}: {e}", path.display()),
                        "sslrootcert must be a PEM file with one or more certificates",
                    )
                };
                let certs = CertificateDer::pem_file_iter(path)
                    .map_err(|e| unreadable(&e))?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| unreadable(&e))?;
                if certs.is_empty() {
                    return Err(unreadable(&"no PEM certificate in it"));
                }
                for cert in certs {
                    roots.add(cert).map_err(|e| unreadable(&e))?;
                }
            }
            RootCert::System | RootCert::Unset => {
                let native = rustls_native_certs::load_native_certs();
                roots.add_parsable_certificates(native.certs);
                if roots.is_empty() {
                    return Err(self.tls_error(
                        "no trusted root certificates found in the system store",
                        "install the ca-certificates package, or give the server's CA with \
                         sslrootcert=FILE",
                    ));
                }
            }
        }
        Ok(roots)
    }

    fn load_client_cert(
        &self,
        cert: &Path,
        key: &Path,
    ) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), ConnectError> {
        let unreadable = |path: &Path, e: &dyn fmt::Display| {
            self.tls_error(
                format!("cannot read {}: {e}", path.display()),
                "sslcert/sslkey must be PEM files (an unencrypted private key)",
            )
        };
        #[cfg(unix)]
        {
            // libpq refuses a private key others can read (root-owned may be 0640).
            use std::os::unix::fs::MetadataExt;
            let meta = std::fs::metadata(key).map_err(|e| unreadable(key, &e))?;
            let loose = if meta.uid() == 0 { 0o037 } else { 0o077 };
            if meta.mode() & loose != 0 {
                return Err(self.tls_error(
                    format!(
                        "private key file {} has group or world access",
                        key.display()
                    ),
                    format!("chmod 0600 {}", key.display()),
                ));
            }
        }
        let chain = CertificateDer::pem_file_iter(cert)
            .map_err(|e| unreadable(cert, &e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| unreadable(cert, &e))?;
        let private = PrivateKeyDer::from_pem_file(key).map_err(|e| unreadable(key, &e))?;
        Ok((chain, private))
    }

    /// The rustls configuration for `mode`, with the ring provider chosen explicitly.
    fn tls_config(&self, mode: SslMode) -> Result<ClientConfig, ConnectError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier: Arc<dyn ServerCertVerifier> = match self.verification(mode) {
            None => Arc::new(NoVerification(provider.clone())),
            Some(how) => {
                let webpki = WebPkiServerVerifier::builder_with_provider(
                    Arc::new(self.load_roots()?),
                    provider.clone(),
                )
                .build()
                .map_err(|e| {
                    self.tls_error(
                        format!("cannot use the root certificates: {e}"),
                        format!("check {}", self.roots_text()),
                    )
                })?;
                match how {
                    Verify::Chain => Arc::new(ChainOnly(webpki)),
                    Verify::ChainAndName => webpki,
                }
            }
        };
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| self.tls_error(e.to_string(), "this is a bug in retort's TLS setup"))?
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let mut config = match (&self.client_cert, mode) {
            (Some((cert, key)), m) if m != SslMode::Disable => {
                let (chain, private) = self.load_client_cert(cert, key)?;
                builder.with_client_auth_cert(chain, private).map_err(|e| {
                    self.tls_error(
                        format!("unusable client certificate {}: {e}", cert.display()),
                        "check that sslcert and sslkey belong together",
                    )
                })?
            }
            _ => builder.with_no_client_auth(),
        };
        // What libpq 17 sends; PostgreSQL 17 requires it for sslnegotiation=direct.
        config.alpn_protocols = vec![b"postgresql".to_vec()];
        Ok(config)
    }

    // -----------------------------------------------------------------------
    // Errors
    // -----------------------------------------------------------------------

    fn running_hint(&self) -> String {
        format!(
            "check that the server is running and accepts connections at {}",
            self.address_text()
        )
    }

    fn password_sources(&self) -> String {
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

    fn tls_failure(&self, error: &rustls::Error) -> ConnectError {
        let verify_hint = match (&self.sslrootcert, self.sslmode) {
            // libpq's rule made `require` verify: say so, or the advice goes in circles.
            (RootCert::File { path, .. }, SslMode::Require) => format!(
                "the certificate was checked against {} because that file exists (with a root \
                 certificate file, sslmode=require verifies the chain, as in libpq): put the \
                 server's CA in it, or point sslrootcert at the right file",
                path.display()
            ),
            _ => format!(
                "the certificate was checked against {} (sslmode={}): give the server's CA with \
                 sslrootcert=FILE, or use sslmode=require to encrypt without verifying",
                self.roots_text(),
                self.sslmode
            ),
        };
        let (reason, hint) = match error {
            rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => (
                "the server's certificate is not signed by a trusted root certificate (unknown issuer)"
                    .to_string(),
                verify_hint,
            ),
            rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            ) => (
                format!(
                    "the server's certificate is not valid for the host name \"{}\"",
                    self.host_text()
                ),
                "connect with a host name the certificate names, or use sslmode=verify-ca to \
                 check the certificate without the host name"
                    .to_string(),
            ),
            rustls::Error::InvalidCertificate(
                CertificateError::Expired | CertificateError::ExpiredContext { .. },
            ) => (
                "the server's certificate has expired".to_string(),
                "renew the server's certificate (or check this machine's clock)".to_string(),
            ),
            rustls::Error::InvalidCertificate(other) => (
                format!("the server's certificate was rejected: {other:?}"),
                verify_hint,
            ),
            other => (
                other.to_string(),
                format!(
                    "check sslmode (now {}) and the server's TLS settings",
                    self.sslmode
                ),
            ),
        };
        self.tls_error(reason, hint)
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

// ---------------------------------------------------------------------------
// Certificate verifiers
// ---------------------------------------------------------------------------

enum Verify {
    Chain,
    ChainAndName,
}

/// `prefer` / `require` without a root certificate: encrypt, trust any certificate
/// (libpq's behaviour). Handshake signatures are still checked, so the session is bound
/// to the key in the certificate that was presented.
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the full WebPKI check minus the host name. WebPKI checks the chain
/// before the name, so a name error means the chain was good.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const SECRET: &str = "Sup3r-S3cret";

    /// A fake environment: the given variables, and HOME pointing at `home` so the
    /// developer's own ~/.pgpass and ~/.postgresql never leak into a test.
    fn env_with(home: &Path, vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let mut map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        map.entry("HOME".to_string())
            .or_insert_with(|| home.display().to_string());
        move |name| map.get(name).cloned()
    }

    fn parse_with(given: &str, vars: &[(&str, &str)]) -> Result<ConnInfo, ConnectError> {
        let home = tempfile::tempdir().expect("temp dir");
        ConnInfo::parse(Some(given), &env_with(home.path(), vars))
    }

    fn parse_ok(given: &str) -> ConnInfo {
        parse_with(given, &[]).unwrap_or_else(|e| panic!("{given}: {e}"))
    }

    fn parse_err(given: &str) -> String {
        match parse_with(given, &[]) {
            Ok(info) => panic!("{given}: expected an error, got {}", info.describe()),
            Err(e) => {
                assert!(e.is_settings_error(), "{e}");
                e.to_string()
            }
        }
    }

    fn password(info: &ConnInfo) -> Option<&str> {
        info.password.as_ref().map(|p| p.0.as_str())
    }

    #[test]
    fn url_with_and_without_port() {
        let info = parse_ok("postgres://alice@db.example.com/shop");
        assert_eq!(info.host, Host::Tcp("db.example.com".into()));
        assert_eq!(
            (info.port, info.user.as_str(), info.dbname()),
            (5432, "alice", "shop")
        );
        assert_eq!(password(&info), None);
        assert_eq!(info.describe(), "alice@db.example.com:5432/shop");

        let info = parse_ok("postgresql://alice:pw@db.example.com:6543/shop");
        assert_eq!(info.port, 6543);
        assert_eq!(password(&info), Some("pw"));
        assert_eq!(info.describe(), "alice@db.example.com:6543/shop");
    }

    #[test]
    fn url_ipv6_host() {
        let info = parse_ok("postgres://bob@[::1]:5433/app");
        assert_eq!(info.host, Host::Tcp("::1".into()));
        assert_eq!(info.port, 5433);
        assert_eq!(info.describe(), "bob@[::1]:5433/app");
        assert_eq!(parse_ok("postgres://bob@[::1]/app").port, 5432);
        assert!(parse_err("postgres://bob@[::1/app").contains("'['"));
    }

    #[test]
    fn url_percent_encoded_parts() {
        let info = parse_ok("postgres://al%69ce:p%40ss@h/my%20db");
        assert_eq!(info.user, "alice");
        assert_eq!(password(&info), Some("p@ss"));
        assert_eq!(info.dbname(), "my db");
        // An unencoded '@' in the password still works: hosts never contain one.
        assert_eq!(password(&parse_ok("postgres://u:p@ss@h/db")), Some("p@ss"));
        let err = parse_err("postgres://u:p%zzss@h/db");
        assert!(err.contains("percent-encoding in the password"), "{err}");
        assert!(!err.contains("zzss"), "{err}");
    }

    #[test]
    fn url_unix_socket_hosts() {
        let info = parse_ok("postgres://u@/db?host=/some/dir");
        assert_eq!(info.host, Host::Socket("/some/dir".into()));
        assert_eq!(info.describe(), "u@/some/dir:5432/db");
        let info = parse_ok("postgres://%2Fvar%2Frun%2Fpostgresql/db");
        assert_eq!(info.host, Host::Socket("/var/run/postgresql".into()));
        assert_eq!(info.dbname(), "db");
        assert_eq!(
            info.address_text(),
            "the Unix socket /var/run/postgresql/.s.PGSQL.5432"
        );
        // No host at all: libpq's default socket directory.
        let info = parse_ok("postgres:///db");
        assert_eq!(info.host, Host::Socket(default_socket_dir()));
    }

    #[test]
    fn url_query_parameters() {
        let info = parse_ok(
            "postgres://u@h/db?sslmode=verify-full&sslrootcert=/ca.pem&application_name=my%20app\
             &connect_timeout=10&options=-c%20search_path%3Dx&port=7777",
        );
        assert_eq!(info.ssl_mode(), SslMode::VerifyFull);
        assert_eq!(
            info.sslrootcert,
            RootCert::File {
                path: "/ca.pem".into(),
                default: false
            }
        );
        assert_eq!(info.application_name.as_deref(), Some("my app"));
        assert_eq!(info.connect_timeout, Some(Duration::from_secs(10)));
        assert_eq!(info.options.as_deref(), Some("-c search_path=x"));
        assert_eq!(info.port, 7777);
        // libpq: below 2 seconds counts as 2, 0 means no limit.
        assert_eq!(
            parse_ok("postgres://h?connect_timeout=1").connect_timeout,
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            parse_ok("postgres://h?connect_timeout=0").connect_timeout,
            None
        );
        assert_eq!(
            parse_ok("postgres://h?ssl=true").ssl_mode(),
            SslMode::Require
        );
        let err = parse_err("postgres://h/db?sslmod=require");
        assert!(
            err.contains("\"sslmod\"") && err.contains("did you mean \"sslmode\""),
            "{err}"
        );
        let err = parse_err("postgres://h/db?sslcrl=/x");
        assert!(err.contains("not supported"), "{err}");
    }

    #[test]
    fn url_errors_never_repeat_the_password() {
        // An unencoded '/' in the password makes "cr3t@host" the path and "s3" the port.
        let err = parse_err("postgres://user:s3/cr3t@host/db");
        assert!(err.contains("invalid port in the URL"), "{err}");
        assert!(!err.contains("s3") && !err.contains("cr3t"), "{err}");
        let err = parse_err("mysql://user:Sup3r-S3cret@host/db");
        assert!(err.contains("\"mysql\"") && !err.contains(SECRET), "{err}");
        let err = parse_err("postgres://user:s3cr3t@h1:abc,h2/db");
        assert!(err.contains("invalid port in the URL"), "{err}");
        assert!(!err.contains("s3cr3t") && !err.contains("abc"), "{err}");
    }

    #[test]
    fn conninfo_with_quoted_values() {
        let info = parse_ok(
            r"host=db.internal port = 5433 dbname='my db' user=carol password='it\'s a \\ secret' application_name=x\ y",
        );
        assert_eq!(info.host, Host::Tcp("db.internal".into()));
        assert_eq!(info.port, 5433);
        assert_eq!(info.dbname(), "my db");
        assert_eq!(info.user, "carol");
        assert_eq!(password(&info), Some(r"it's a \ secret"));
        assert_eq!(info.application_name.as_deref(), Some("x y"));
        let info = parse_ok("host=/run/pg user=u dbname=''");
        assert_eq!(info.host, Host::Socket("/run/pg".into()));
        assert_eq!(info.dbname(), "u", "empty dbname means the default");
        let info = parse_ok("hostaddr=127.0.0.1 user=u");
        assert_eq!(info.host, Host::Tcp("127.0.0.1".into()));
        let info = parse_ok("host=db.example.com hostaddr=10.0.0.5 user=u");
        assert_eq!(info.hostaddr, Some("10.0.0.5".parse().expect("ip")));
        assert!(info.address_text().contains("hostaddr 10.0.0.5"));
    }

    #[test]
    fn conninfo_errors() {
        let err = parse_err("host='unterminated");
        assert!(
            err.contains("unterminated quoted value for \"host\""),
            "{err}"
        );
        let err = parse_err("mydb");
        assert!(
            err.contains("dbname=NAME") && !err.contains("mydb"),
            "{err}"
        );
        // An unquoted password with a space: the rest must not be echoed.
        let err = parse_err("user=u password=Sup3r S3cret");
        assert!(
            err.contains("follows the password") && !err.contains("S3cret"),
            "{err}"
        );
        let err = parse_err("user=u password=Sup3r S3cret=x");
        assert!(!err.contains("S3cret"), "{err}");
        let err = parse_err("hots=h");
        assert!(err.contains("did you mean \"host\""), "{err}");
        let err = parse_err("port=abc");
        assert!(
            err.contains("invalid port \"abc\" in the connection string"),
            "{err}"
        );
    }

    #[test]
    fn environment_fills_what_is_missing() {
        let vars = [
            ("PGHOST", "envhost"),
            ("PGPORT", "6000"),
            ("PGUSER", "envuser"),
            ("PGDATABASE", "envdb"),
            ("PGPASSWORD", "envpw"),
            ("PGSSLMODE", "require"),
            ("PGAPPNAME", "envapp"),
            ("PGCONNECT_TIMEOUT", "7"),
            ("PGOPTIONS", "-c work_mem=1MB"),
        ];
        let info = parse_with("", &vars).expect("parse");
        assert_eq!(info.describe(), "envuser@envhost:6000/envdb");
        assert_eq!(password(&info), Some("envpw"));
        assert_eq!(info.password_from, Some(PasswordFrom::Env));
        assert_eq!(info.ssl_mode(), SslMode::Require);
        assert_eq!(info.application_name.as_deref(), Some("envapp"));
        assert_eq!(info.connect_timeout, Some(Duration::from_secs(7)));
        assert_eq!(info.options.as_deref(), Some("-c work_mem=1MB"));

        // What the URL gives wins over the environment; the rest still comes from it.
        let info =
            parse_with("postgres://urluser@urlhost/urldb?sslmode=disable", &vars).expect("parse");
        assert_eq!(info.describe(), "urluser@urlhost:6000/urldb");
        assert_eq!(info.ssl_mode(), SslMode::Disable);
        assert_eq!(password(&info), Some("envpw"));

        // Empty variables count as unset, as in libpq.
        let info = parse_with("", &[("PGHOST", ""), ("PGUSER", "u")]).expect("parse");
        assert_eq!(info.host, Host::Socket(default_socket_dir()));

        let err = parse_with("", &[("PGPORT", "x1")]).expect_err("bad port");
        assert!(
            err.to_string().contains("invalid port \"x1\" from PGPORT"),
            "{err}"
        );
    }

    #[test]
    fn defaults_are_libpq_defaults() {
        let home = tempfile::tempdir().expect("temp dir");
        let info = ConnInfo::parse(None, &env_with(home.path(), &[])).expect("parse");
        assert_eq!(info.host, Host::Socket(default_socket_dir()));
        assert_eq!(info.port, 5432);
        assert!(!info.user.is_empty(), "user defaults to the OS user");
        assert_eq!(info.dbname(), info.user);
        assert_eq!(info.ssl_mode(), SslMode::Prefer);
        assert_eq!(info.sslrootcert, RootCert::Unset);
        assert_eq!(info.password_from, None);

        // A default ~/.postgresql/root.crt is picked up (and makes `require` verify).
        std::fs::create_dir(home.path().join(".postgresql")).expect("mkdir");
        std::fs::write(home.path().join(".postgresql/root.crt"), "x").expect("write");
        let info = ConnInfo::parse(Some("host=h sslmode=require"), &env_with(home.path(), &[]))
            .expect("parse");
        assert!(matches!(
            info.sslrootcert,
            RootCert::File { default: true, .. }
        ));
        assert!(matches!(
            info.verification(SslMode::Require),
            Some(Verify::Chain)
        ));
        assert!(info.verification(SslMode::Prefer).is_none());
    }

    fn write_pgpass(dir: &Path, mode: u32, text: &str) -> PathBuf {
        let path = dir.join(".pgpass");
        std::fs::write(&path, text).expect("write pgpass");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
        }
        path
    }

    #[test]
    fn several_hosts_become_alternates_tried_in_order() {
        let info = parse_ok("postgres://u@db1.internal:5432,db2.internal:5433,[::1]/app");
        assert_eq!(
            info.describe(),
            "u@db1.internal:5432,db2.internal:5433,[::1]:5432/app"
        );
        assert_eq!(info.alternates.len(), 2);
        assert_eq!(info.alternates[0].host, Host::Tcp("db2.internal".into()));
        assert_eq!(info.alternates[0].port, 5433);
        assert_eq!(info.alternates[1].host, Host::Tcp("::1".into()));
        assert!(!info.is_local(), "db1 is not on this machine");
        let env: BTreeMap<&str, String> = info.libpq_env().into_iter().collect();
        assert_eq!(env["PGHOST"], "db1.internal,db2.internal,::1");
        assert_eq!(env["PGPORT"], "5432,5433,5432");

        // One port for every host; a database change reaches every host.
        let info = parse_ok("host=localhost,127.0.0.1 port=6000 user=u dbname=a");
        assert_eq!(info.describe(), "u@localhost:6000,127.0.0.1:6000/a");
        assert!(info.is_local());
        assert_eq!(
            info.with_dbname("b").describe(),
            "u@localhost:6000,127.0.0.1:6000/b"
        );
        assert_eq!(info.with_dbname("b").alternates[0].dbname, "b");
        // An empty entry is that setting's default for its host.
        let info = parse_ok("host=db1,db2 port=,6001 user=u");
        assert_eq!(info.describe(), "u@db1:5432,db2:6001/u");

        let error = parse_err("host=a,b,c port=1,2 user=u");
        assert!(
            error.contains("2 ports in the connection string for 3 host(s)"),
            "{error}"
        );
        let error = parse_err("host=a,b hostaddr=10.0.0.1 user=u");
        assert!(error.contains("give one hostaddr per host"), "{error}");
        // A single host still parses as before: no alternates.
        assert!(parse_ok("postgres://u@db1/app").alternates.is_empty());
    }

    #[test]
    fn each_host_gets_its_own_password_from_the_password_file() {
        let home = tempfile::tempdir().expect("temp dir");
        write_pgpass(home.path(), 0o600, PGPASS);
        let env = env_with(home.path(), &[]);
        let info = ConnInfo::parse(
            Some("postgres://alice@other.host,db.example.com/shop"),
            &env,
        )
        .expect("parse");
        assert_eq!(password(&info), Some("wrong-host"));
        assert_eq!(password(&info.alternates[0]), Some("shop-pw"));
        // Different passwords cannot travel as one PGPASSWORD: the file goes instead.
        let vars: BTreeMap<&str, String> = info.libpq_env().into_iter().collect();
        assert!(!vars.contains_key("PGPASSWORD"));
        assert!(vars["PGPASSFILE"].ends_with(".pgpass"), "{vars:?}");
    }

    const SERVICES: &str = "\
# the team's services
[warehouse]
host = wh.example.com
port=6543
dbname=dw
user=loader

[warehouse]
host=ignored.example.com

[broken]
host
";

    #[test]
    fn a_service_fills_what_is_not_given_before_the_environment() {
        let home = tempfile::tempdir().expect("temp dir");
        let file = home.path().join("services.conf");
        std::fs::write(&file, SERVICES).expect("write services");
        let file = file.display().to_string();
        let vars = [
            ("PGSERVICEFILE", file.as_str()),
            ("PGPORT", "7000"),
            ("PGSSLMODE", "disable"),
        ];
        let env = env_with(home.path(), &vars);
        let parse = |given: &str| ConnInfo::parse(Some(given), &env);

        // The first [warehouse] section counts; the service wins over PGPORT, and the
        // environment still fills what neither gives.
        let info = parse("service=warehouse").expect("parse");
        assert_eq!(info.describe(), "loader@wh.example.com:6543/dw");
        assert_eq!(info.ssl_mode(), SslMode::Disable);
        // What is given wins over the service, in a conninfo and in a URL.
        let info = parse("service=warehouse dbname=staging").expect("parse");
        assert_eq!(info.describe(), "loader@wh.example.com:6543/staging");
        let info = parse("postgres://other@/?service=warehouse").expect("parse");
        assert_eq!(info.describe(), "other@wh.example.com:6543/dw");
        // PGSERVICE names the service when nothing else does.
        let with_var = [("PGSERVICE", "warehouse"), ("PGSERVICEFILE", file.as_str())];
        let info = ConnInfo::parse(None, &env_with(home.path(), &with_var)).expect("parse");
        assert_eq!(info.describe(), "loader@wh.example.com:6543/dw");

        let error = parse("service=broken")
            .expect_err("a line without =")
            .to_string();
        assert!(
            error.contains("services.conf:12: syntax error in service \"broken\""),
            "{error}"
        );
        let error = parse("service=nowhere")
            .expect_err("no such service")
            .to_string();
        assert!(
            error.contains("no definition of service \"nowhere\" in"),
            "{error}"
        );
        assert!(error.contains("services.conf or "), "{error}");
    }

    #[test]
    fn a_service_with_an_unknown_or_nested_setting_is_refused_with_its_line() {
        let home = tempfile::tempdir().expect("temp dir");
        let file = home.path().join(".pg_service.conf");
        std::fs::write(&file, "[a]\nhost=h\nprot=1\n[b]\nservice=a\n").expect("write");
        // ~/.pg_service.conf is read when PGSERVICEFILE is unset.
        let env = env_with(home.path(), &[]);
        let error = ConnInfo::parse(Some("service=a"), &env)
            .expect_err("typo")
            .to_string();
        assert!(
            error.contains(".pg_service.conf:3: unknown connection setting \"prot\""),
            "{error}"
        );
        let error = ConnInfo::parse(Some("service=b"), &env)
            .expect_err("nested")
            .to_string();
        assert!(
            error.contains(".pg_service.conf:5: service \"b\" names another service"),
            "{error}"
        );
    }

    const PGPASS: &str = "\
# comment:line:ignored:x:nope
other.host:5432:*:alice:wrong-host
db.example.com:5432:shop:alice:shop-pw
db.example.com:*:*:alice:any-db-pw
we\\:ird:5432:*:bob:escaped-host-pw
localhost:5432:*:carol:socket-pw
*:*:*:dave:pa\\:ss\\\\word
";

    #[test]
    fn pgpass_matching() {
        let home = tempfile::tempdir().expect("temp dir");
        write_pgpass(home.path(), 0o600, PGPASS);
        let env = env_with(home.path(), &[]);
        let parse = |given: &str| ConnInfo::parse(Some(given), &env).expect("parse");

        let info = parse("postgres://alice@db.example.com/shop");
        assert_eq!(password(&info), Some("shop-pw"));
        assert_eq!(info.password_from, Some(PasswordFrom::PassFile));
        // Another database: the lookup runs again.
        assert_eq!(password(&info.with_dbname("crm")), Some("any-db-pw"));
        assert_eq!(
            password(&parse("postgres://alice@db.example.com:9999/crm")),
            Some("any-db-pw")
        );
        assert_eq!(
            password(&parse("host=we:ird user=bob")),
            Some("escaped-host-pw")
        );
        // A socket in the default directory matches "localhost", as in libpq.
        assert_eq!(password(&parse("user=carol")), Some("socket-pw"));
        assert_eq!(password(&parse("host=/elsewhere user=carol")), None);
        assert_eq!(password(&parse("host=x user=dave")), Some(r"pa:ss\word"));
        assert_eq!(password(&parse("host=nowhere user=erin")), None);

        // A given password wins; PGPASSWORD too.
        assert_eq!(
            password(&parse("postgres://alice:given@db.example.com/shop")),
            Some("given")
        );
        let env = env_with(home.path(), &[("PGPASSWORD", "envpw")]);
        let info =
            ConnInfo::parse(Some("postgres://alice@db.example.com/shop"), &env).expect("parse");
        assert_eq!(password(&info), Some("envpw"));
        assert_eq!(password(&info.with_dbname("crm")), Some("envpw"));
    }

    #[test]
    fn pgpass_from_pgpassfile_and_passfile() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = write_pgpass(dir.path(), 0o600, "h:5432:*:u:from-file\n");
        let home = tempfile::tempdir().expect("temp dir");
        let env = env_with(home.path(), &[("PGPASSFILE", &path.display().to_string())]);
        let info = ConnInfo::parse(Some("host=h user=u"), &env).expect("parse");
        assert_eq!(password(&info), Some("from-file"));
        let given = format!("postgres://u@h/db?passfile={}", path.display());
        assert_eq!(password(&parse_ok(&given)), Some("from-file"));
    }

    #[cfg(unix)]
    #[test]
    fn pgpass_with_loose_permissions_is_ignored() {
        let home = tempfile::tempdir().expect("temp dir");
        write_pgpass(home.path(), 0o644, PGPASS);
        let info = ConnInfo::parse(
            Some("postgres://alice@db.example.com/shop"),
            &env_with(home.path(), &[]),
        )
        .expect("parse");
        assert_eq!(password(&info), None);
        assert_eq!(info.warnings().len(), 1);
        assert!(info.warnings()[0].contains("0644"), "{:?}", info.warnings());
        assert!(info.password_sources().contains("chmod 0600"));
    }

    #[test]
    fn pgpass_field_splitting() {
        assert_eq!(
            pgpass_fields(r"a\:b:*:\*:u:p\\w"),
            vec![
                ("a:b".to_string(), false),
                ("*".to_string(), true),
                ("*".to_string(), false),
                ("u".to_string(), false),
                (r"p\w".to_string(), false),
            ]
        );
    }

    #[test]
    fn sslmode_values() {
        for (text, mode) in [
            ("disable", SslMode::Disable),
            ("allow", SslMode::Allow),
            ("prefer", SslMode::Prefer),
            ("require", SslMode::Require),
            ("verify-ca", SslMode::VerifyCa),
            ("verify-full", SslMode::VerifyFull),
        ] {
            let info = parse_ok(&format!("host=h sslmode={text}"));
            assert_eq!(info.ssl_mode(), mode);
            assert_eq!(mode.to_string(), text);
        }
        let err = parse_err("host=h sslmode=verify_full");
        assert!(
            err.contains("invalid sslmode \"verify_full\"")
                && err.contains("disable, allow, prefer, require, verify-ca, verify-full"),
            "{err}"
        );
        // libpq: sslrootcert=system means verify-full, and refuses weaker modes.
        assert_eq!(
            parse_ok("host=h sslrootcert=system").ssl_mode(),
            SslMode::VerifyFull
        );
        let err = parse_err("host=h sslrootcert=system sslmode=require");
        assert!(err.contains("verify-full"), "{err}");
        let err = parse_err("host=h sslmode=prefer sslnegotiation=direct");
        assert!(err.contains("sslnegotiation=direct"), "{err}");
    }

    #[test]
    fn tls_configs_build_with_the_ring_provider() {
        let home = tempfile::tempdir().expect("temp dir");
        let env = env_with(home.path(), &[]);
        for mode in ["disable", "prefer", "require"] {
            let info =
                ConnInfo::parse(Some(&format!("host=h sslmode={mode}")), &env).expect("parse");
            info.tls_config(info.ssl_mode()).expect("tls config");
        }
        // A root file that does not exist: a clear error, not a fallback.
        let info = ConnInfo::parse(
            Some("host=h sslmode=verify-full sslrootcert=/nonexistent/ca.pem"),
            &env,
        )
        .expect("parse");
        let err = info
            .tls_config(SslMode::VerifyFull)
            .expect_err("missing root");
        assert!(
            err.to_string()
                .contains("/nonexistent/ca.pem does not exist"),
            "{err}"
        );
        let bad = home.path().join("bad.pem");
        std::fs::write(&bad, "not a certificate\n").expect("write");
        let info = ConnInfo::parse(
            Some(&format!(
                "host=h sslmode=verify-ca sslrootcert={}",
                bad.display()
            )),
            &env,
        )
        .expect("parse");
        let err = info.tls_config(SslMode::VerifyCa).expect_err("bad root");
        assert!(err.to_string().contains("no PEM certificate"), "{err}");
    }

    #[test]
    fn connection_refused_says_where_and_what_to_do() {
        // A port nobody listens on: bind, note the port, close.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("bind")
            .port();
        let info = parse_ok(&format!(
            "postgres://u:{SECRET}@127.0.0.1:{port}/db?sslmode=disable"
        ));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let err = runtime
            .block_on(info.connect("retort-test"))
            .expect_err("nothing listens there");
        let text = err.to_string();
        assert!(matches!(err, ConnectError::Unreachable { .. }), "{text}");
        assert!(text.contains(&format!("u@127.0.0.1:{port}/db")), "{text}");
        assert!(text.contains("server is running"), "{text}");
        assert!(!text.contains(SECRET), "{text}");
    }

    #[test]
    fn the_password_never_shows() {
        let url = format!("postgres://alice:{SECRET}@db.example.com:5433/shop?sslmode=verify-full");
        let info = parse_ok(&url);
        assert_eq!(password(&info), Some(SECRET));
        let shown = [
            info.describe(),
            format!("{info:?}"),
            format!("{:?}", info.with_dbname("other")),
            format!(
                "{:?}",
                info.pg_config("app", tokio_postgres::config::SslMode::Require)
            ),
        ];
        for text in &shown {
            assert!(!text.contains(SECRET), "{text}");
        }
        assert!(shown[1].contains("<redacted>"), "{}", shown[1]);

        let mut errors = vec![
            info.tls_error("reason", "hint"),
            info.tls_failure(&rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer,
            )),
            info.tls_failure(&rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName,
            )),
            info.tls_failure(&rustls::Error::InvalidCertificate(
                CertificateError::Expired,
            )),
            info.tls_failure(&rustls::Error::General("x".into())),
            ConnectError::Timeout {
                target: info.describe(),
                seconds: 3,
            },
            ConnectError::Rejected {
                target: info.describe(),
                code: "28P01".into(),
                message: "password authentication failed for user \"alice\"".into(),
                hint: info.password_sources(),
            },
            ConnectError::Unreachable {
                target: info.describe(),
                reason: "refused".into(),
                hint: info.running_hint(),
            },
            ConnectError::PasswordNeeded {
                target: info.describe(),
                hint: info.password_sources(),
            },
        ];
        // Settings errors from inputs that carry the password in various places.
        for bad in [
            format!("postgres://alice:{SECRET}@h:notaport/db"),
            format!("postgres://alice:{SECRET}@h/db?sslmode=bogus"),
            format!("postgres://alice:{SECRET}@h/db?nosuchkey=1"),
            format!("postgres://alice:{SECRET}@h1,h2,h3/db?port=1,2"),
            format!("postgres://alice:{SECRET}%zz@h/db"),
            format!("host=h password={SECRET} sslmode=bogus"),
            format!("host=h password='{SECRET}"),
            format!("host=h password={SECRET} {SECRET}"),
            format!("ftp://alice:{SECRET}@h/db"),
            format!("alice:{SECRET}@h/db"),
        ] {
            errors.push(parse_with(&bad, &[]).expect_err(&bad));
        }
        for err in &errors {
            let text = err.to_string();
            assert!(!text.contains(SECRET), "{text}");
            assert!(!format!("{err:?}").contains(SECRET), "{err:?}");
            assert!(!text.contains("alice:"), "{text}");
        }
        assert!(errors[1].to_string().contains("certificate"));
        assert!(errors[2].to_string().contains("verify-ca"));
    }
}
