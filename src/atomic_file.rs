//! Replacing a file so that a reader sees the old contents or the new, never a mix, and a
//! crash (power loss included) leaves one of the two: `retort.sum`, schema dumps, JUnit
//! reports, fleet metrics.

use std::io::Write as _;
use std::path::Path;

/// Writes `bytes` to `path` through a temporary file in the same directory, flushed to
/// disk before it is renamed over `path`; the directory is synced after the rename so the
/// rename itself survives a crash. An existing file keeps its permissions; a new one gets
/// `rw-r--r--`, as `new-migration`'s files do.
pub fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".retort-").suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(path)
            .map(|m| m.permissions().mode() & 0o7777)
            .unwrap_or(0o644);
        builder.permissions(std::fs::Permissions::from_mode(mode));
    }
    let mut temp = builder.tempfile_in(dir)?;
    temp.write_all(bytes)?;
    temp.as_file().sync_all()?;
    temp.persist(path).map_err(|e| e.error)?;
    // Best effort: not every file system can sync a directory.
    if let Ok(dir) = std::fs::File::open(dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .expect("read dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn writes_a_new_file_and_replaces_an_old_one_leaving_no_temporary_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("retort.sum");
        write(&path, b"one\n").expect("first write");
        write(&path, b"two\n").expect("second write");
        assert_eq!(std::fs::read(&path).expect("read"), b"two\n");
        assert_eq!(names(dir.path()), ["retort.sum"]);
    }

    #[cfg(unix)]
    #[test]
    fn a_new_file_is_readable_by_others_and_an_old_one_keeps_its_mode() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("schema.sql");
        write(&path, b"a").expect("write");
        let mode = |p: &Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o644);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        write(&path, b"b").expect("rewrite");
        assert_eq!(mode(&path), 0o600);
    }

    #[test]
    fn a_missing_directory_is_an_error_and_nothing_is_written() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("missing/retort.sum");
        assert!(write(&path, b"x").is_err());
        assert!(names(dir.path()).is_empty());
    }
}
