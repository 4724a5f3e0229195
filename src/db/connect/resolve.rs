//! From settings to a [`ConnInfo`]: what is given, then the connection service, then the
//! libpq environment variables, then libpq's defaults; several hosts become alternates.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use tokio_postgres::config::{ChannelBinding, TargetSessionAttrs};

use super::os::{default_socket_dir, home_dir, os_user};
use super::parse::{parse_conninfo, parse_url, Origin, Setting, Settings, KEYS, URL_HINT};
use super::service::apply_service;
use super::{
    settings_error, ConnInfo, ConnectError, Host, PasswordFrom, RootCert, Secret, SslMode,
};

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
        let home = home_dir(env);
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
            None => os_user(env).ok_or_else(|| {
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
}
