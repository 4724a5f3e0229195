//! Finding the PostgreSQL programs: the server binaries (`initdb`, `postgres`) for a
//! private cluster, and the client programs (`psql`, `pg_restore`) for loading dumps.
//!
//! Debian and Ubuntu install every major version side by side under
//! `/usr/lib/postgresql/N/bin` and put only the client programs on PATH (through a
//! wrapper), so both PATH and those directories are searched; other systems have
//! everything on PATH. The majors Debian lacks are fetched by `scripts/pg-binaries.sh`
//! into a cache laid out the same way (`<cache>/N/bin`), which is searched as well:
//! `$RETORT_PG_CACHE`, `/var/cache/retort/postgresql` (when run as root) and
//! `${XDG_CACHE_HOME:-~/.cache}/retort/postgresql`.

use std::cmp::Reverse;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::ScratchError;
use crate::dump::ClientPrograms;

/// Where Debian-style packages put each major version's programs.
const VERSIONED_ROOT: &str = "/usr/lib/postgresql";

/// `psql` and `pg_restore`, from `prefer` (the scratch server's bin directory) when
/// both are there, else PATH, else the newest installed major that has them.
pub fn client_programs(prefer: Option<&Path>) -> Result<ClientPrograms, ScratchError> {
    if let Some(dir) = prefer {
        // Both from the same directory or neither: a dump is best loaded by the programs
        // of the server's own version.
        if let (Some(psql), Some(pg_restore)) =
            (executable_in(dir, "psql"), executable_in(dir, "pg_restore"))
        {
            return Ok(ClientPrograms { psql, pg_restore });
        }
    }
    let path = path_dirs();
    let versioned = installed_bin_dirs();
    let find = |program: &str| -> Result<PathBuf, ScratchError> {
        path.iter()
            .chain(&versioned)
            .find_map(|dir| executable_in(dir, program))
            .ok_or_else(|| ScratchError::ProgramNotFound {
                program: program.to_owned(),
                looked: looked_text(prefer, &path, &versioned),
            })
    };
    Ok(ClientPrograms {
        psql: find("psql")?,
        pg_restore: find("pg_restore")?,
    })
}

/// A directory holding both `initdb` and `postgres`, and the major version of that
/// `postgres`: the one of `want_major` when installed, else the nearest newer one (a
/// newer server loads what an older one wrote), else the newest; with no major asked
/// for, the one whose `initdb` is on PATH, else the newest.
pub(super) fn server_bin_dir(want_major: Option<u32>) -> Result<(PathBuf, u32), ScratchError> {
    let path = path_dirs();
    let versioned = installed_bin_dirs();
    let mut candidates: Vec<PathBuf> = Vec::new();
    // Resolved, because a PATH entry is often a symlink into a versioned directory
    // (and that directory, not the link's, holds `postgres`).
    let on_path = path
        .iter()
        .find_map(|dir| executable_in(dir, "initdb"))
        .and_then(|initdb| std::fs::canonicalize(initdb).ok())
        .and_then(|real| real.parent().map(Path::to_path_buf));
    candidates.extend(on_path.clone());
    for dir in &versioned {
        let real = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.clone());
        if !candidates.contains(&real) {
            candidates.push(real);
        }
    }

    let mut found = Vec::new();
    let mut problems = Vec::new();
    for dir in candidates {
        if executable_in(&dir, "initdb").is_none() {
            continue;
        }
        if executable_in(&dir, "postgres").is_none() {
            problems.push(format!("{} has initdb but no postgres", dir.display()));
            continue;
        }
        match server_major(&dir) {
            Ok(major) => found.push((dir, major)),
            Err(why) => problems.push(why),
        }
    }
    // With no major asked for, the server on PATH is the user's choice.
    let path_server = on_path
        .filter(|_| want_major.is_none())
        .and_then(|dir| found.iter().find(|(known, _)| *known == dir));
    if let Some((dir, major)) = path_server.or_else(|| choose_server(&found, want_major)) {
        return Ok((dir.clone(), *major));
    }
    let mut looked = looked_text(None, &path, &versioned);
    for problem in problems {
        looked = format!("{looked}; {problem}");
    }
    // The error's own advice is about the client programs; the server's come apart.
    looked.push_str(
        "; the server programs come with `apt-get install postgresql`, or for any major \
         from 13 to 18 with `scripts/pg-binaries.sh N` of retort's repository",
    );
    Err(ScratchError::ProgramNotFound {
        program: "initdb".into(),
        looked,
    })
}

/// The major version of `<dir>/postgres`, from its `--version`.
fn server_major(dir: &Path) -> Result<u32, String> {
    let program = dir.join("postgres");
    let output = Command::new(&program)
        .arg("--version")
        .output()
        .map_err(|e| format!("cannot run {} --version: {e}", program.display()))?;
    let text = String::from_utf8_lossy(&output.stdout);
    match parse_server_major(&text) {
        Some(major) if output.status.success() => Ok(major),
        _ => Err(format!(
            "{} --version printed no version ({}: {:?})",
            program.display(),
            output.status,
            text.trim()
        )),
    }
}

/// The major version in `postgres --version` output, e.g. 15 in
/// "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)". Releases before 10 count as
/// their first number (9 for 9.6), as `server_version_num / 10000` does.
fn parse_server_major(output: &str) -> Option<u32> {
    let after = match output.find("(PostgreSQL)") {
        Some(at) => &output[at + "(PostgreSQL)".len()..],
        None => output,
    };
    after.split_whitespace().find_map(leading_number)
}

/// The number at the start of `word`: 17 for "17devel", "17beta1" or "17.2".
fn leading_number(word: &str) -> Option<u32> {
    let end = word
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(word.len());
    word[..end].parse().ok()
}

/// A versioned directory's name as numbers ("9.6" is [9, 6], "15" is [15]), so that
/// they sort as versions (9.6 < 10 < 15 < 17) rather than as text. None for other names.
fn parse_dir_version(name: &str) -> Option<Vec<u32>> {
    name.split('.').map(|part| part.parse().ok()).collect()
}

/// Directory names sorted newest version first; names that are not versions are left out.
fn newest_first(names: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut versions: Vec<(Vec<u32>, String)> = names
        .into_iter()
        .filter_map(|name| Some((parse_dir_version(&name)?, name)))
        .collect();
    versions.sort_by(|a, b| b.0.cmp(&a.0));
    versions.into_iter().map(|(_, name)| name).collect()
}

/// The roots holding `<version>/bin` directories: Debian's, then the caches that
/// `scripts/pg-binaries.sh` fills.
fn version_roots() -> Vec<PathBuf> {
    let mut roots = vec![PathBuf::from(VERSIONED_ROOT)];
    if let Some(cache) = std::env::var_os("RETORT_PG_CACHE").filter(|v| !v.is_empty()) {
        roots.push(PathBuf::from(cache));
    }
    roots.push(PathBuf::from("/var/cache/retort/postgresql"));
    let user_cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache")));
    if let Some(cache) = user_cache {
        roots.push(cache.join("retort").join("postgresql"));
    }
    roots
}

/// `<root>/<version>/bin` of every root, newest version first (Debian's first among
/// equals).
fn installed_bin_dirs() -> Vec<PathBuf> {
    let mut all: Vec<(Vec<u32>, PathBuf)> = Vec::new();
    for root in version_roots() {
        for dir in versioned_bin_dirs(&root) {
            let version = dir
                .parent()
                .and_then(Path::file_name)
                .and_then(|name| parse_dir_version(&name.to_string_lossy()))
                .unwrap_or_default();
            if !all.iter().any(|(_, known)| known == &dir) {
                all.push((version, dir));
            }
        }
    }
    all.sort_by(|a, b| b.0.cmp(&a.0));
    all.into_iter().map(|(_, dir)| dir).collect()
}

/// `<root>/<version>/bin` for every installed version, newest first.
fn versioned_bin_dirs(root: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let names = entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().into_string().ok());
    newest_first(names)
        .into_iter()
        .map(|name| root.join(name).join("bin"))
        .filter(|dir| dir.is_dir())
        .collect()
}

/// The candidate of the wanted major version, else the nearest newer one, else the
/// newest (the earliest listed among equals, so PATH wins a tie).
fn choose_server(found: &[(PathBuf, u32)], want_major: Option<u32>) -> Option<&(PathBuf, u32)> {
    let nearest = want_major.and_then(|want| {
        found
            .iter()
            .filter(|(_, major)| *major >= want)
            .min_by_key(|(_, major)| *major)
    });
    nearest.or_else(|| found.iter().min_by_key(|(_, major)| Reverse(*major)))
}

fn path_dirs() -> Vec<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    // An empty entry means the current directory: never a place to pick a server from.
    std::env::split_paths(&path)
        .filter(|dir| !dir.as_os_str().is_empty())
        .collect()
}

/// `dir/name` when it is an executable file (following symlinks).
fn executable_in(dir: &Path, name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    let meta = std::fs::metadata(&path).ok()?;
    (meta.is_file() && meta.permissions().mode() & 0o111 != 0).then_some(path)
}

/// Every place searched, for "not found" messages.
fn looked_text(prefer: Option<&Path>, path: &[PathBuf], versioned: &[PathBuf]) -> String {
    let mut places = Vec::new();
    if let Some(dir) = prefer {
        places.push(dir.display().to_string());
    }
    let path: Vec<String> = path.iter().map(|d| d.display().to_string()).collect();
    places.push(if path.is_empty() {
        "PATH (unset)".to_owned()
    } else {
        format!("PATH ({})", path.join(":"))
    });
    places.push(if versioned.is_empty() {
        format!("{VERSIONED_ROOT}/*/bin and the retort caches (none installed)")
    } else {
        let dirs: Vec<String> = versioned.iter().map(|d| d.display().to_string()).collect();
        dirs.join(", ")
    });
    places.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_sort_as_numbers() {
        let names = ["10", "9.6", "17", "common", "15", "9.4", "", "16beta"];
        assert_eq!(
            newest_first(names.iter().map(|s| s.to_string())),
            vec!["17", "15", "10", "9.6", "9.4"]
        );
        assert_eq!(parse_dir_version("9.6"), Some(vec![9, 6]));
        assert_eq!(parse_dir_version("15"), Some(vec![15]));
        assert_eq!(parse_dir_version("15."), None);
        assert_eq!(parse_dir_version("x"), None);
    }

    #[test]
    fn server_versions_parse() {
        let cases = [
            (
                "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n",
                Some(15),
            ),
            ("postgres (PostgreSQL) 17.2\n", Some(17)),
            ("postgres (PostgreSQL) 9.6.24\n", Some(9)),
            ("postgres (PostgreSQL) 18devel\n", Some(18)),
            ("postgres (PostgreSQL) 18beta1\n", Some(18)),
            ("postgres 16.1\n", Some(16)),
            ("", None),
            ("postgres (PostgreSQL) unknown\n", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_server_major(text), want, "{text:?}");
        }
    }

    #[test]
    fn the_wanted_version_wins_else_the_newest() {
        let found = vec![
            (PathBuf::from("/path/bin"), 15),
            (PathBuf::from("/usr/lib/postgresql/17/bin"), 17),
            (PathBuf::from("/usr/lib/postgresql/16/bin"), 16),
            (PathBuf::from("/usr/lib/postgresql/15/bin"), 15),
        ];
        let pick = |want| choose_server(&found, want).map(|(dir, major)| (dir.clone(), *major));
        assert_eq!(
            pick(Some(16)),
            Some(("/usr/lib/postgresql/16/bin".into(), 16))
        );
        assert_eq!(pick(Some(15)), Some(("/path/bin".into(), 15)));
        // Not installed: the nearest newer major, which can load what the older wrote.
        assert_eq!(pick(Some(12)), Some(("/path/bin".into(), 15)));
        assert_eq!(
            pick(Some(18)),
            Some(("/usr/lib/postgresql/17/bin".into(), 17))
        );
        assert_eq!(pick(None), Some(("/usr/lib/postgresql/17/bin".into(), 17)));
        assert_eq!(choose_server(&[], Some(15)), None);
    }

    #[test]
    fn programs_are_found_only_when_executable() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("temp dir");
        for (name, mode) in [("psql", 0o755), ("pg_restore", 0o644)] {
            let path = dir.path().join(name);
            std::fs::write(&path, "#!/bin/sh\n").expect("write");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
        }
        assert_eq!(
            executable_in(dir.path(), "psql"),
            Some(dir.path().join("psql"))
        );
        assert_eq!(executable_in(dir.path(), "pg_restore"), None);
        assert_eq!(executable_in(dir.path(), "initdb"), None);
    }

    #[test]
    fn versioned_dirs_newest_first() {
        let root = tempfile::tempdir().expect("temp dir");
        for version in ["9.6", "10", "17", "15", "notaversion"] {
            std::fs::create_dir_all(root.path().join(version).join("bin")).expect("mkdir");
        }
        // A version without a bin directory (client leftovers) is no candidate.
        std::fs::create_dir(root.path().join("16")).expect("mkdir");
        let dirs = versioned_bin_dirs(root.path());
        let want: Vec<PathBuf> = ["17", "15", "10", "9.6"]
            .iter()
            .map(|v| root.path().join(v).join("bin"))
            .collect();
        assert_eq!(dirs, want);
    }

    #[test]
    fn not_found_names_every_place() {
        let text = looked_text(
            Some(Path::new("/srv/pg/bin")),
            &[PathBuf::from("/usr/bin"), PathBuf::from("/bin")],
            &[],
        );
        assert_eq!(
            text,
            "/srv/pg/bin, PATH (/usr/bin:/bin), /usr/lib/postgresql/*/bin and the retort caches \
             (none installed)"
        );
    }
}
