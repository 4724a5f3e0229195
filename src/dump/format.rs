//! What a dump is: its format, told by content (never by file name), and the versions
//! of the server and the pg_dump that made it, from pg_dump's header comments (plain)
//! or `pg_restore -l` (archives). A dump that cannot be loaded as given is refused here,
//! with what to do instead, before any database is touched.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;
use std::process::Stdio;

use super::run::{client_command, error_lines, file_arg, run, status_text};
use super::{first_chars, ClientPrograms, DumpFormat, DumpInfo, RestoreError};

/// pg_dump writes its version comments at the top; a file with none there has none.
const HEADER_LINES: usize = 64;

/// How far into a plain dump `CREATE DATABASE` / `\connect` are looked for: pg_dump
/// `--create` writes them right after the header.
const CREATE_LINES: usize = 200;

/// Detects the format by content (not by extension): "PGDMP" magic → Custom; a directory
/// with toc.dat → Directory; a tar archive (ustar magic at offset 257) → Tar; otherwise
/// text → Plain (binary garbage, a compressed file or a missing file is an error).
///
/// Reads the versions: for archives from `pg_restore -l FILE` (which also proves that
/// this pg_restore can read the archive), for plain dumps from pg_dump's header comments.
pub fn inspect_dump(path: &Path, programs: &ClientPrograms) -> Result<DumpInfo, RestoreError> {
    let format = detect_format(path)?;
    let (server_version, pg_dump_version) = if format.is_archive() {
        archive_versions(path, format, &programs.pg_restore)?
    } else {
        plain_versions(path)?
    };
    Ok(DumpInfo {
        path: path.to_owned(),
        format,
        server_version,
        pg_dump_version,
    })
}

pub(super) fn input_error(
    path: &Path,
    problem: impl Into<String>,
    hint: impl Into<String>,
) -> RestoreError {
    RestoreError::Input {
        path: path.to_owned(),
        problem: problem.into(),
        hint: hint.into(),
    }
}

fn io_problem(path: &Path, what: &str, e: &io::Error) -> RestoreError {
    let hint = match e.kind() {
        io::ErrorKind::NotFound => "check the path",
        io::ErrorKind::PermissionDenied => "check the file's permissions",
        _ => "check the file",
    };
    input_error(path, format!("cannot {what}: {e}"), hint)
}

/// Reads up to `limit` bytes from the start of a file.
fn read_start(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    File::open(path)?.take(limit).read_to_end(&mut bytes)?;
    Ok(bytes)
}

pub(crate) fn detect_format(path: &Path) -> Result<DumpFormat, RestoreError> {
    let meta = std::fs::metadata(path).map_err(|e| io_problem(path, "read it", &e))?;
    if meta.is_dir() {
        if path.join("toc.dat").is_file() {
            return Ok(DumpFormat::Directory);
        }
        return Err(input_error(
            path,
            "it is a directory without toc.dat, so not a directory-format dump",
            "give the directory pg_dump -Fd wrote, or a dump file",
        ));
    }
    let bytes = read_start(path, 8192).map_err(|e| io_problem(path, "read it", &e))?;
    if bytes.starts_with(b"PGDMP") {
        return Ok(DumpFormat::Custom);
    }
    if bytes.get(257..262) == Some(b"ustar".as_slice()) {
        return Ok(DumpFormat::Tar);
    }
    if bytes.is_empty() {
        return Err(input_error(
            path,
            "the file is empty",
            "the dump probably failed; make it again",
        ));
    }
    const COMPRESSED: &[(&[u8], &str, &str)] = &[
        (b"\x1f\x8b", "gzip", "gunzip -k"),
        (b"\x28\xb5\x2f\xfd", "zstd", "zstd -d"),
        (b"\x04\x22\x4d\x18", "lz4", "lz4 -d"),
        (b"BZh", "bzip2", "bunzip2 -k"),
        (b"\xfd7zXZ\x00", "xz", "unxz -k"),
        (b"PK\x03\x04", "zip", "unzip"),
    ];
    if let Some((_, kind, tool)) = COMPRESSED
        .iter()
        .find(|(magic, _, _)| bytes.starts_with(magic))
    {
        return Err(input_error(
            path,
            format!("the file is {kind}-compressed"),
            format!(
                "decompress it first (`{tool} FILE`), or make the dump with pg_dump -Fc, \
                 which compresses inside the archive"
            ),
        ));
    }
    if looks_binary(&bytes) {
        return Err(input_error(
            path,
            "the file is binary but no pg_dump archive (no PGDMP or tar header)",
            "give a dump made by pg_dump (-Fc, -Fd, -Ft or plain SQL)",
        ));
    }
    Ok(DumpFormat::Plain)
}

/// Text in any ASCII-compatible encoding (a LATIN1 dump is fine) has no NUL bytes and
/// few control characters.
fn looks_binary(bytes: &[u8]) -> bool {
    if bytes.contains(&0) {
        return true;
    }
    let control = bytes
        .iter()
        .filter(|&&b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0b | 0x0c | 0x1b))
        .count();
    control * 20 > bytes.len()
}

/// Versions of a plain dump from pg_dump's header comments, after refusing dumps that
/// would restore somewhere else than the target database.
pub(crate) fn plain_versions(
    path: &Path,
) -> Result<(Option<String>, Option<String>), RestoreError> {
    let file = File::open(path).map_err(|e| io_problem(path, "read it", &e))?;
    let mut reader = BufReader::new(file);
    let mut server = None;
    let mut pg_dump = None;
    let mut line = Vec::new();
    for number in 1..=CREATE_LINES {
        line.clear();
        let read = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| io_problem(path, "read it", &e))?;
        if read == 0 {
            break;
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim();
        if number <= HEADER_LINES {
            if let Some(v) = text.strip_prefix("-- Dumped from database version ") {
                server = server.or_else(|| version_number(v));
            } else if let Some(v) = text.strip_prefix("-- Dumped by pg_dump version ") {
                pg_dump = pg_dump.or_else(|| version_number(v));
            } else if text.starts_with("-- PostgreSQL database cluster dump") {
                return Err(input_error(
                    path,
                    "it is a pg_dumpall dump of a whole cluster (roles, every database)",
                    "dump the one database with pg_dump (e.g. `pg_dump -Fc -f prod.dump DBNAME`)",
                ));
            }
        }
        let upper = text.to_ascii_uppercase();
        if upper.starts_with("CREATE DATABASE ")
            || text.starts_with("\\connect ")
            || text.starts_with("\\c ")
        {
            return Err(input_error(
                path,
                format!(
                    "line {number} ({}) would create or switch to another database, so the \
                     restore would not land in the target database",
                    first_chars(text, 60)
                ),
                "make the dump without --create (-C), or as an archive (pg_dump -Fc), which \
                 pg_restore loads into the given database",
            ));
        }
    }
    Ok((server, pg_dump))
}

/// Versions of an archive from `pg_restore -l`, which reads only the header and the TOC.
fn archive_versions(
    path: &Path,
    format: DumpFormat,
    pg_restore: &Path,
) -> Result<(Option<String>, Option<String>), RestoreError> {
    let mut command = client_command(pg_restore, None);
    command.arg("-l").arg(file_arg(path)).stdout(Stdio::piped());
    let output = run(&mut command, pg_restore, "list the archive's contents")?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        if let Some(archive_version) = unsupported_version(&stderr) {
            let header = archive_header_bytes(path, format);
            return Err(RestoreError::TooNew {
                path: path.to_owned(),
                archive_version,
                made_by: header
                    .as_deref()
                    .and_then(parse_archive_header)
                    .and_then(|h| h.pg_dump_version)
                    .and_then(|v| version_number(&v)),
                pg_restore: pg_restore.to_owned(),
                pg_restore_version: program_version(pg_restore),
            });
        }
        let message = error_lines(&stderr, "pg_restore: ");
        let hint = if format == DumpFormat::Tar {
            "a tar archive must come from pg_dump -Ft; a tarred directory dump must be \
             extracted and the directory given instead"
        } else {
            "the dump may be truncated or damaged: make it again"
        };
        return Err(input_error(
            path,
            format!(
                "{} cannot read it ({}): {}",
                pg_restore.display(),
                status_text(&output),
                message
            ),
            hint,
        ));
    }
    let listing = String::from_utf8_lossy(&output.stdout);
    let mut server = None;
    let mut pg_dump = None;
    for line in listing.lines().take_while(|l| l.starts_with(';')) {
        let text = line.trim_start_matches(';').trim();
        if let Some(v) = text.strip_prefix("Dumped from database version:") {
            server = server.or_else(|| version_number(v));
        } else if let Some(v) = text.strip_prefix("Dumped by pg_dump version:") {
            pg_dump = pg_dump.or_else(|| version_number(v));
        }
    }
    Ok((server, pg_dump))
}

/// "pg_restore: error: unsupported version (1.16) in file header" -> "1.16".
fn unsupported_version(stderr: &str) -> Option<String> {
    let start = stderr.find("unsupported version (")? + "unsupported version (".len();
    let end = stderr[start..].find(')')? + start;
    Some(stderr[start..end].to_owned())
}

/// `PROGRAM --version` -> "15.18".
fn program_version(program: &Path) -> Option<String> {
    let mut command = client_command(program, None);
    command.arg("--version").stdout(Stdio::piped());
    let output = command.output().ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let after = text.split_once("(PostgreSQL)")?.1;
    version_number(after)
}

/// The first bytes of the archive's toc.dat, where the header is.
fn archive_header_bytes(path: &Path, format: DumpFormat) -> Option<Vec<u8>> {
    match format {
        DumpFormat::Custom => read_start(path, 4096).ok(),
        DumpFormat::Directory => read_start(&path.join("toc.dat"), 4096).ok(),
        // pg_dump -Ft writes toc.dat as the first member, right after its 512-byte header.
        DumpFormat::Tar => read_start(path, 4096 + 512)
            .ok()
            .map(|b| b.get(512..).unwrap_or_default().to_vec()),
        DumpFormat::Plain => None,
    }
}

/// What the header of a pg_dump archive says.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ArchiveHeader {
    /// Major, minor and revision of the archive format.
    version: (u8, u8, u8),
    server_version: Option<String>,
    pg_dump_version: Option<String>,
}

/// Parses the archive header the way pg_restore's `ReadHead` does, to name the pg_dump
/// that wrote an archive this pg_restore cannot read.
pub(crate) fn parse_archive_header(bytes: &[u8]) -> Option<ArchiveHeader> {
    struct Reader<'a> {
        bytes: &'a [u8],
        at: usize,
        int_size: usize,
        signed: bool,
    }
    impl Reader<'_> {
        fn byte(&mut self) -> Option<u8> {
            let b = *self.bytes.get(self.at)?;
            self.at += 1;
            Some(b)
        }
        fn int(&mut self) -> Option<i64> {
            let negative = if self.signed {
                self.byte()? != 0
            } else {
                false
            };
            // pg_dump writes 4-byte ints; a header claiming more than 8 is not one, and
            // a magnitude past i64 (found by fuzzing: `-value` overflowed) is refused.
            if self.int_size > 8 {
                return None;
            }
            let mut value: u64 = 0;
            for i in 0..self.int_size {
                value |= u64::from(self.byte()?) << (8 * i);
            }
            let value = i64::try_from(value).ok()?;
            if negative {
                value.checked_neg()
            } else {
                Some(value)
            }
        }
        fn string(&mut self) -> Option<Option<String>> {
            let len = self.int()?;
            if len < 0 {
                return Some(None);
            }
            let len = usize::try_from(len).ok()?;
            let end = self.at.checked_add(len)?;
            let text = self.bytes.get(self.at..end)?;
            self.at = end;
            Some(Some(String::from_utf8_lossy(text).into_owned()))
        }
    }

    let rest = bytes.strip_prefix(b"PGDMP")?;
    let mut r = Reader {
        bytes: rest,
        at: 0,
        int_size: 0,
        signed: false,
    };
    let major = r.byte()?;
    let minor = r.byte()?;
    let revision = if (major, minor) > (1, 0) {
        r.byte()?
    } else {
        0
    };
    let version = (major, minor, revision);
    let at_least = |min: u8| (major, minor) >= (1, min);
    r.int_size = usize::from(r.byte()?);
    if r.int_size == 0 || r.int_size > 8 {
        return None;
    }
    r.signed = (major, minor, revision) > (1, 0, 0);
    if at_least(7) {
        r.byte()?; // offset size
    }
    r.byte()?; // format
    if at_least(15) {
        r.byte()?; // compression algorithm
    } else if at_least(4) {
        r.int()?; // compression level
    } else if at_least(2) {
        r.byte()?;
    }
    let mut header = ArchiveHeader {
        version,
        server_version: None,
        pg_dump_version: None,
    };
    if at_least(4) {
        for _ in 0..7 {
            r.int()?; // creation time: sec, min, hour, mday, mon, year, isdst
        }
        r.string()?; // database name
    }
    if at_least(10) {
        header.server_version = r.string()?;
        header.pg_dump_version = r.string()?;
    }
    Some(header)
}

/// The version number of a version text: "15.18 (Debian 15.18-0+deb12u1)" -> "15.18".
fn version_number(text: &str) -> Option<String> {
    text.split_whitespace().next().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::super::tests::programs;
    use super::*;

    #[test]
    fn formats_are_detected_by_content() {
        let dir = tempfile::tempdir().expect("temp dir");
        let at = |name: &str, bytes: &[u8]| {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).expect("write a test file");
            path
        };
        let custom = at("prod.sql", b"PGDMP\x01\x0e\x00\x04\x08\x01rest");
        assert_eq!(detect_format(&custom).expect("custom"), DumpFormat::Custom);
        let mut tar = vec![0u8; 1024];
        tar[..7].copy_from_slice(b"toc.dat");
        tar[257..263].copy_from_slice(b"ustar\0");
        let tar = at("prod.dump", &tar);
        assert_eq!(detect_format(&tar).expect("tar"), DumpFormat::Tar);
        let plain = at("prod.dump.txt", b"--\n-- PostgreSQL database dump\n--\n");
        assert_eq!(detect_format(&plain).expect("plain"), DumpFormat::Plain);
        let latin1 = at("latin1.sql", b"INSERT INTO t VALUES ('caf\xe9');\n");
        assert_eq!(detect_format(&latin1).expect("latin1"), DumpFormat::Plain);

        let directory = dir.path().join("prod.dir");
        std::fs::create_dir(&directory).expect("create dir");
        let error = detect_format(&directory).expect_err("no toc.dat yet");
        assert!(error.to_string().contains("without toc.dat"), "{error}");
        std::fs::write(directory.join("toc.dat"), b"PGDMP").expect("write toc.dat");
        assert_eq!(
            detect_format(&directory).expect("directory"),
            DumpFormat::Directory
        );

        for (name, bytes, expected) in [
            (
                "garbage.bin",
                b"\x7fELF\x02\x01\x01\x00\x00".as_slice(),
                "binary",
            ),
            (
                "prod.sql.gz",
                b"\x1f\x8b\x08\x00rest".as_slice(),
                "gzip-compressed",
            ),
            ("empty.sql", b"".as_slice(), "empty"),
        ] {
            let path = at(name, bytes);
            let error = detect_format(&path).expect_err(name);
            assert_eq!(error.exit_code(), 2);
            let text = error.to_string();
            assert!(text.contains(expected), "{text}");
            assert!(text.contains(name), "{text}");
        }
        let missing = dir.path().join("missing.dump");
        let error = detect_format(&missing).expect_err("missing");
        assert_eq!(error.exit_code(), 2);
        let text = error.to_string();
        assert!(
            text.contains("missing.dump") && text.contains("check the path"),
            "{text}"
        );
    }

    fn unused_programs() -> ClientPrograms {
        ClientPrograms {
            psql: PathBuf::from("/nonexistent/psql"),
            pg_restore: PathBuf::from("/nonexistent/pg_restore"),
        }
    }

    #[test]
    fn plain_dumps_give_their_versions_from_the_header() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("prod.sql");
        std::fs::write(
            &path,
            "--\n-- PostgreSQL database dump\n--\n\n\\restrict abc\n\n\
             -- Dumped from database version 9.6.24\n\
             -- Dumped by pg_dump version 15.18 (Debian 15.18-0+deb12u1)\n\nSET x = 0;\n",
        )
        .expect("write the dump");
        let info = inspect_dump(&path, &unused_programs()).expect("inspect");
        assert_eq!(info.format, DumpFormat::Plain);
        assert_eq!(info.server_version.as_deref(), Some("9.6.24"));
        assert_eq!(info.pg_dump_version.as_deref(), Some("15.18"));
        assert_eq!(info.server_major(), Some(9));

        std::fs::write(&path, "CREATE TABLE t (id int);\n").expect("write the dump");
        let info = inspect_dump(&path, &unused_programs()).expect("inspect");
        assert_eq!(info.server_version, None);
        assert_eq!(info.server_major(), None);
    }

    #[test]
    fn plain_dumps_that_switch_databases_are_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("create.sql");
        std::fs::write(
            &path,
            "-- Dumped from database version 15.18\nSET x = 0;\n\
             CREATE DATABASE prod WITH TEMPLATE = template0;\n\\connect prod\n",
        )
        .expect("write the dump");
        let error = inspect_dump(&path, &unused_programs()).expect_err("refused");
        let text = error.to_string();
        assert!(
            text.contains("line 3") && text.contains("--create"),
            "{text}"
        );
        assert_eq!(error.exit_code(), 2);

        std::fs::write(
            &path,
            "--\n-- PostgreSQL database cluster dump\n--\n\nCREATE ROLE x;\n",
        )
        .expect("write the dump");
        let error = inspect_dump(&path, &unused_programs()).expect_err("refused");
        assert!(error.to_string().contains("pg_dumpall"), "{error}");
    }

    /// Writes an archive header the way pg_dump's WriteHead does (format 1.14 and later).
    fn header(minor: u8, server: &str, pg_dump: &str) -> Vec<u8> {
        let mut bytes = b"PGDMP".to_vec();
        bytes.extend([1, minor, 0, 4, 8, 1]);
        let int = |bytes: &mut Vec<u8>, value: i32| {
            bytes.push(u8::from(value < 0));
            bytes.extend(value.unsigned_abs().to_le_bytes());
        };
        if minor >= 15 {
            bytes.push(0);
        } else {
            int(&mut bytes, -1);
        }
        for value in [27, 17, 13, 23, 10, 126, 0] {
            int(&mut bytes, value);
        }
        for text in ["prod", server, pg_dump] {
            int(&mut bytes, i32::try_from(text.len()).expect("short"));
            bytes.extend(text.as_bytes());
        }
        bytes
    }

    /// Found by the dump_header fuzz target: an 8-byte int with the top bit set made the
    /// sign flip overflow.
    #[test]
    fn headers_with_impossible_ints_are_not_archives() {
        // Format 1.14, 8-byte ints, then the compression level: sign byte set, magnitude
        // 2^63 (i64::MIN's).
        let mut header = b"PGDMP\x01\x0e\x00\x08\x04\x01".to_vec();
        header.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0, 0x80]);
        assert_eq!(parse_archive_header(&header), None);
    }

    #[test]
    fn archive_headers_name_their_pg_dump() {
        let parsed = parse_archive_header(&header(14, "15.18 (Debian)", "15.18 (Debian)"))
            .expect("a 1.14 header");
        assert_eq!(parsed.version, (1, 14, 0));
        assert_eq!(parsed.server_version.as_deref(), Some("15.18 (Debian)"));
        let parsed = parse_archive_header(&header(16, "17.2", "17.4")).expect("a 1.16 header");
        assert_eq!(parsed.version, (1, 16, 0));
        assert_eq!(parsed.pg_dump_version.as_deref(), Some("17.4"));
        assert_eq!(parse_archive_header(b"PGDMP\x01"), None);
        assert_eq!(parse_archive_header(b"not a dump"), None);
    }

    #[test]
    fn a_too_new_archive_names_the_pg_restore_used() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("new.dump");
        std::fs::write(&path, header(99, "99.1", "99.2")).expect("write the dump");
        let programs = programs();
        let error = inspect_dump(&path, &programs).expect_err("too new");
        let RestoreError::TooNew {
            archive_version,
            made_by,
            pg_restore_version,
            ..
        } = &error
        else {
            panic!("expected TooNew, got: {error}");
        };
        assert_eq!(archive_version, "1.99");
        assert_eq!(made_by.as_deref(), Some("99.2"));
        assert!(pg_restore_version.is_some(), "{error}");
        assert_eq!(error.exit_code(), 2);
        let text = error.to_string();
        for part in [
            "new.dump",
            "format 1.99",
            "pg_dump 99.2",
            &programs.pg_restore.display().to_string(),
            "PostgreSQL 99 or newer",
            "postgresql-client-99",
        ] {
            assert!(text.contains(part), "{part:?} missing in: {text}");
        }
    }
}
