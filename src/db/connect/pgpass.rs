//! libpq's password file (`~/.pgpass`, `PGPASSFILE` or `passfile=`): the password for a
//! host, port, database and user when no setting or `PGPASSWORD` gives one.

use std::path::Path;

use super::{ConnInfo, Host, PasswordFrom, Secret};

/// Splits a `.pgpass` line into its fields, honouring `\` escapes. Returns, per field,
/// the unescaped text and whether it was exactly an unescaped `*` (the wildcard).
/// libpq ends the password at an unescaped ':' too, so a sixth field is dropped.
pub(crate) fn pgpass_fields(line: &str) -> Vec<(String, bool)> {
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
pub(crate) enum PassFileLookup {
    Found(String),
    NotFound,
    /// The file exists but was not read; the text says why (shown to the user).
    Ignored(String),
}

/// libpq's lookup: the first line `host:port:db:user:password` whose four first fields
/// match (each literally or `*`). The file is ignored unless it is a plain file without
/// group or world permissions, as libpq does, so a leaked password file is not trusted.
pub(crate) fn lookup_passfile(
    path: &Path,
    host: &str,
    port: u16,
    dbname: &str,
    user: &str,
) -> PassFileLookup {
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

impl ConnInfo {
    /// Fills the password from the password file when no other source gave one. Depends
    /// on host, port, dbname and user, so it runs again when the database changes.
    pub(super) fn lookup_password_file(&mut self) {
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
}
