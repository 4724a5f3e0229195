//! What libpq takes from the operating system when the settings are silent: the user
//! name, the home directory (for `~/.pgpass`, `~/.pg_service.conf`, `~/.postgresql/`)
//! and the Unix socket directory.

use std::path::{Path, PathBuf};

/// The user's home, as libpq finds it: `HOME`, else the passwd entry's.
pub(super) fn home_dir(
    env: &dyn Fn(&str) -> Option<String>,
    passwd_home: impl FnOnce() -> Option<PathBuf>,
) -> Option<PathBuf> {
    env("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .or_else(passwd_home)
}

/// The passwd entry (name, home) of the effective user, like libpq's getpwuid(geteuid()).
/// /proc/self is owned by the effective uid; without /proc (not Linux) this gives None.
pub(super) fn passwd_entry() -> Option<(String, PathBuf)> {
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
pub(super) fn default_socket_dir() -> PathBuf {
    let debian = Path::new("/var/run/postgresql");
    if debian.is_dir() {
        debian.to_path_buf()
    } else {
        PathBuf::from("/tmp")
    }
}
