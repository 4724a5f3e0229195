//! Golden files per PostgreSQL major. Part of a golden file is the server's own text
//! (`pg_get_viewdef`, extension versions), which changes between majors: PostgreSQL 16
//! stopped qualifying the columns of a one-table view, 18 ships newer extensions. The
//! file `NAME.EXT` holds what the base major prints; a major whose output differs has
//! its own `NAME.pgN.EXT` beside it, so every difference between majors is a reviewed
//! file, never a normalisation that could hide a real change.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::pg::admin_texts;

/// The major whose output the unsuffixed golden files hold (Debian's PostgreSQL here).
pub const BASE_MAJOR: u32 = 15;

/// The major version of the test server, read once. Callable from async tests: the
/// query runs on a thread of its own, outside the caller's runtime.
pub fn server_major() -> u32 {
    static MAJOR: OnceLock<u32> = OnceLock::new();
    *MAJOR.get_or_init(|| {
        std::thread::spawn(|| admin_texts("SELECT current_setting('server_version_num')"))
            .join()
            .expect("read server_version_num")[0]
            .parse::<u32>()
            .expect("server_version_num is a number")
            / 10000
    })
}

/// `dir/NAME.pgN.EXT` for `dir/NAME.EXT`.
fn variant(path: &Path, major: u32) -> PathBuf {
    let name = path.file_name().expect("a file name").to_string_lossy();
    let file = match name.rsplit_once('.') {
        Some((stem, ext)) => format!("{stem}.pg{major}.{ext}"),
        None => format!("{name}.pg{major}"),
    };
    path.with_file_name(file)
}

/// The golden file that holds the test server's expected output: the major's own
/// variant when there is one; above the base major, else the variant of the nearest
/// older major that has one (what changed in 16 usually holds in 17 and 18); else the
/// base file.
pub fn golden_path(path: &Path) -> PathBuf {
    resolve(path, server_major())
}

fn resolve(path: &Path, major: u32) -> PathBuf {
    let own = variant(path, major);
    if own.exists() {
        return own;
    }
    ((BASE_MAJOR + 1)..major)
        .rev()
        .map(|older| variant(path, older))
        .find(|older| older.exists())
        .unwrap_or_else(|| path.to_path_buf())
}

/// Records `text` as the expected output on the test server's major (`RETORT_BLESS=1`):
/// in the base file on the base major, or when there is no base file yet (a case only
/// newer majors run has its base from the first of them); elsewhere in the major's
/// variant, unless the file the major would otherwise read (see [`golden_path`]) holds
/// the text already, when the variant is not needed and is removed. Returns the file
/// that holds the text.
pub fn bless(path: &Path, text: &str) -> PathBuf {
    let major = server_major();
    let write = |target: &Path| {
        std::fs::write(target, text)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", target.display()));
        target.to_path_buf()
    };
    if major == BASE_MAJOR || !path.exists() {
        return write(path);
    }
    let own = variant(path, major);
    let _ = std::fs::remove_file(&own);
    let inherited = resolve(path, major);
    if std::fs::read_to_string(&inherited).is_ok_and(|expected| expected == text) {
        return inherited;
    }
    write(&own)
}

/// A fixture's SQL for the test server's major. Sections written only for some majors
/// are marked: `-- retort-test: since N` (kept on N and newer) or `-- retort-test:
/// before N` (kept below N), each closed by `-- retort-test: end`, so one fixture keeps
/// every object a major can have and older majors load what they understand.
pub fn for_server(sql: &str) -> String {
    sections_for(sql, server_major())
}

fn sections_for(sql: &str, major: u32) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut keep = true;
    for line in sql.lines() {
        let marker = line.trim().strip_prefix("-- retort-test:").map(str::trim);
        match marker {
            Some("end") => keep = true,
            Some(rest) => {
                let (kind, n) = rest.split_once(' ').expect("`since N` or `before N`");
                let n: u32 = n.trim().parse().expect("a major number");
                keep = match kind {
                    "since" => major >= n,
                    "before" => major < n,
                    other => panic!("unknown fixture marker `{other}`"),
                };
            }
            None if keep => {
                out.push_str(line);
                out.push('\n');
            }
            None => {}
        }
    }
    out
}

#[test]
fn sections_follow_the_major() {
    let sql = "a\n-- retort-test: since 15\nb\n-- retort-test: end\n\
               -- retort-test: before 15\nc\n-- retort-test: end\nd\n";
    assert_eq!(sections_for(sql, 15), "a\nb\nd\n");
    assert_eq!(sections_for(sql, 14), "a\nc\nd\n");
}
