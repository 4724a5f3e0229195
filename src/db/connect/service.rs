//! libpq's connection service file (`pg_service.conf`): `service=NAME` or `PGSERVICE`
//! fills what the settings leave out from a named `[section]`.

use std::path::{Path, PathBuf};

use super::os::home_dir;
use super::parse::{Origin, Setting, Settings, KEYS};
use super::{settings_error, ConnectError};

/// The service files libpq reads, in its order: `PGSERVICEFILE` or
/// `~/.pg_service.conf`, then `pg_service.conf` in `PGSYSCONFDIR` (where Debian's libpq
/// looks without it: /etc/postgresql-common).
fn service_files(env: &dyn Fn(&str) -> Option<String>) -> Vec<PathBuf> {
    let user_file = match env("PGSERVICEFILE").filter(|f| !f.is_empty()) {
        Some(file) => Some(PathBuf::from(file)),
        None => home_dir(env).map(|home| home.join(".pg_service.conf")),
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
pub(crate) type ServiceLine = (usize, String, String);

/// The lines of section `[name]` of a service file; None when the file does not exist
/// or has no such section.
pub(crate) fn read_service(
    path: &Path,
    name: &str,
) -> Result<Option<Vec<ServiceLine>>, ConnectError> {
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
pub(super) fn apply_service(
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
