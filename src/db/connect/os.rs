//! What libpq takes from the operating system when the settings are silent: the user
//! name, the home directory (for `~/.pgpass`, `~/.pg_service.conf`, `~/.postgresql/`)
//! and the Unix socket directory.

use std::path::{Path, PathBuf};

/// The user's home, as libpq finds it: `HOME`, else the passwd entry's.
pub(super) fn home_dir(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    env("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .or_else(passwd_home)
}

/// The operating-system user name, libpq's default user: the effective user's account
/// name (getpwuid(geteuid()), as libpq), else `USER` or `LOGNAME` for an effective uid
/// without an account (a container run with an arbitrary uid).
pub(super) fn os_user(env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    whoami::username()
        .ok()
        .filter(|u| !u.is_empty())
        .or_else(|| env("USER").filter(|u| !u.is_empty()))
        .or_else(|| env("LOGNAME").filter(|u| !u.is_empty()))
}

/// The home directory in the effective user's passwd entry, which libpq uses when `HOME`
/// is unset. Read here rather than through `std::env::home_dir`, which would consult the
/// process's `HOME` and so override the `env` given to `ConnInfo::parse`; whoami does
/// not give the home. /proc/self is owned by the effective uid; without /proc (not
/// Linux) this gives None.
pub(super) fn passwd_home() -> Option<PathBuf> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let uid = std::fs::metadata("/proc/self").ok()?.uid();
        let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
        passwd.lines().find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            let matches = fields.len() >= 6 && fields[2].parse::<u32>().ok()? == uid;
            matches.then(|| PathBuf::from(fields[5]))
        })
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// libpq's default socket directory (Debian builds use /var/run/postgresql).
pub(super) fn default_socket_dir() -> PathBuf {
    let debian = Path::new("/var/run/postgresql");
    if debian.is_dir() {
        debian.to_path_buf()
    } else {
        PathBuf::from("/tmp")
    }
}
