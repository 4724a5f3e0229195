//! The text of connection settings: a `postgres://` URL or a libpq `key=value` conninfo
//! string, read into [`Settings`] that remember where each value came from (for error
//! messages, which must never repeat a password).

use std::collections::BTreeMap;
use std::fmt;

use super::{settings_error, ConnectError};

/// The settings we understand, with the libpq environment variable that supplies each
/// when the URL / conninfo does not.
pub(super) const KEYS: &[(&str, Option<&str>)] = &[
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
pub(super) enum Origin {
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
pub(super) struct Setting {
    pub(super) value: String,
    pub(super) origin: Origin,
}

pub(super) type Settings = BTreeMap<&'static str, Setting>;

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

pub(super) const URL_HINT: &str =
    "the form is postgres://user:password@host:port/dbname?sslmode=...; \
     percent-encode special characters (@ : / ? # % in a password)";

/// `postgres://[user[:password]@][host][:port][/dbname][?key=value&...]`
pub(super) fn parse_url(url: &str, out: &mut Settings) -> Result<(), ConnectError> {
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
pub(super) fn parse_conninfo(text: &str, out: &mut Settings) -> Result<(), ConnectError> {
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
