//! Loading a dump (of production, typically) into an empty database with the PostgreSQL
//! client programs: archives (`pg_dump -Fc/-Fd/-Ft`) through `pg_restore`, plain SQL
//! through `psql`.
//!
//! The restore behaves like `pg_restore --no-owner --no-acl`: a dump names roles
//! (owners, grantees, policy roles) that a scratch server does not have, and statements
//! failing only for that are "role noise": reported as skipped, never an error. The same
//! goes for what else belongs to the production host rather than to the schema
//! (tablespaces, security label providers) and, in plain dumps, for the OWNER TO / GRANT
//! statements the restoring user lacks the privileges for (see `is_noise`). Every
//! other failed statement is a real error, because a half-restored schema would make any
//! later verdict about the migrations worthless. Both programs are run so that they go on
//! past failed statements and report each one on stderr; that text is what is classified
//! here, with its location (TOC entry, or file and line) and statement.
//!
//! The programs get the target's libpq environment and none of ours: an inherited
//! `PGHOSTADDR`, `PGSERVICE` or `PGOPTIONS` meant for production must never reach them.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Instant;

use super::ClientPrograms;
use crate::db::ConnInfo;

/// How many real errors a [`RestoreError::Errors`] shows; the rest are only counted.
const SHOWN_ERRORS: usize = 5;
/// pg_dump writes its version comments at the top; a file with none there has none.
const HEADER_LINES: usize = 64;
/// How far into a plain dump `CREATE DATABASE` / `\connect` are looked for: pg_dump
/// `--create` writes them right after the header.
const CREATE_LINES: usize = 200;
/// Statements are shown by their first line, cut to this many characters.
const STATEMENT_CHARS: usize = 200;
/// Lines of a failed program's stderr repeated in the error.
const OUTPUT_LINES: usize = 20;

/// Why a dump cannot be inspected or restored.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// The file is missing, unreadable, or not a dump that can be loaded.
    #[error("cannot use {} as a dump: {problem}; {hint}", .path.display())]
    Input {
        path: PathBuf,
        problem: String,
        hint: String,
    },
    /// The archive was written by a pg_dump newer than the pg_restore at hand.
    #[error(
        "{}",
        too_new_message(
            .path,
            .archive_version,
            .made_by.as_deref(),
            .pg_restore,
            .pg_restore_version.as_deref()
        )
    )]
    TooNew {
        path: PathBuf,
        /// The archive format version, e.g. "1.16".
        archive_version: String,
        /// The pg_dump version written in the archive's header, when it could be read.
        made_by: Option<String>,
        pg_restore: PathBuf,
        /// What `pg_restore --version` says, e.g. "15.18".
        pg_restore_version: Option<String>,
    },
    /// A client program could not be started at all.
    #[error(
        "cannot run {} to {action}: {source}; install the PostgreSQL client programs \
         (`apt-get install postgresql-client`) or put them on PATH",
        .program.display()
    )]
    Program {
        program: PathBuf,
        action: String,
        source: io::Error,
    },
    /// The program gave up (no connection, lost connection, unreadable archive data)
    /// instead of going on past failed statements.
    #[error(
        "{} failed {action} ({status}):\n{output}\nthe database {database} may be left \
         partially restored (a scratch database is dropped at the end anyway). Check that the \
         server is reachable and the dump is complete, then run again",
        .program.display()
    )]
    Failed {
        program: PathBuf,
        action: String,
        database: String,
        status: String,
        /// The relevant end of the program's stderr.
        output: String,
    },
    /// Statements failed for reasons other than missing roles.
    #[error("{}", errors_message(.path, .database, .program, .total, .shown, .skipped))]
    Errors {
        path: PathBuf,
        database: String,
        program: PathBuf,
        /// Real errors in all, including those not shown and those the program counted
        /// but whose messages could not be parsed.
        total: usize,
        /// The first few real errors.
        shown: Vec<RestoreFailure>,
        /// Role-noise errors that were tolerated.
        skipped: usize,
    },
}

impl RestoreError {
    /// The process exit code: 2 when the input itself is the problem (missing,
    /// unreadable, unknown, too new), 3 when restoring into the database failed.
    pub fn exit_code(&self) -> u8 {
        match self {
            RestoreError::Input { .. } | RestoreError::TooNew { .. } => 2,
            RestoreError::Program { .. }
            | RestoreError::Failed { .. }
            | RestoreError::Errors { .. } => 3,
        }
    }
}

fn too_new_message(
    path: &Path,
    archive_version: &str,
    made_by: Option<&str>,
    pg_restore: &Path,
    pg_restore_version: Option<&str>,
) -> String {
    let made = made_by.map_or(String::new(), |v| format!(", written by pg_dump {v}"));
    let used = pg_restore_version.map_or(String::new(), |v| format!(" (version {v})"));
    let major = made_by.and_then(major_of);
    let wanted = major.map_or("a newer PostgreSQL".to_owned(), |m| {
        format!("PostgreSQL {m} or newer")
    });
    let package = major.map_or("NN".to_owned(), |m| m.to_string());
    format!(
        "{} is an archive of format {archive_version}{made}, too new for {}{used}; a newer \
         pg_restore is needed: install the client programs of {wanted} (e.g. `apt-get install \
         postgresql-client-{package}`) and put them on PATH, or make the dump with the pg_dump \
         that matches the scratch server",
        path.display(),
        pg_restore.display()
    )
}

fn errors_message(
    path: &Path,
    database: &str,
    program: &Path,
    total: &usize,
    shown: &[RestoreFailure],
    skipped: &usize,
) -> String {
    let (total, skipped) = (*total, *skipped);
    let mut text = format!(
        "restoring {} into database {database} with {} failed: {total} statement(s) failed \
         for other reasons than missing roles",
        path.display(),
        program.display()
    );
    if skipped > 0 {
        let _ = write!(text, " ({skipped} role-noise error(s) were tolerated)");
    }
    text.push(':');
    for failure in shown {
        let _ = write!(text, "\n  {}: {}", failure.location, failure.message);
        for detail in &failure.detail {
            let _ = write!(text, "\n      {detail}");
        }
        if !failure.statement.is_empty() {
            let _ = write!(text, "\n      statement: {}", failure.statement);
        }
    }
    if total > shown.len() {
        let _ = write!(
            text,
            "\n  ... and {} more (run {} by hand to see them all)",
            total - shown.len(),
            program.display()
        );
    }
    let _ = write!(
        text,
        "\nthe database {database} was left partially restored (a scratch database is dropped \
         at the end anyway). Make the server able to load the dump (a missing extension, \
         an older server version than the dump's, ...) or fix the dump, then run again"
    );
    text
}

/// The kind of dump, told by its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DumpFormat {
    /// `pg_dump -Fc`: one file starting with `PGDMP`.
    Custom,
    /// `pg_dump -Fd`: a directory with `toc.dat`.
    Directory,
    /// `pg_dump -Ft`: a tar archive.
    Tar,
    /// `pg_dump -Fp` (the default): SQL text for psql.
    Plain,
}

impl DumpFormat {
    fn is_archive(self) -> bool {
        self != DumpFormat::Plain
    }
}

impl std::fmt::Display for DumpFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DumpFormat::Custom => "custom",
            DumpFormat::Directory => "directory",
            DumpFormat::Tar => "tar",
            DumpFormat::Plain => "plain",
        })
    }
}

/// What [`inspect_dump`] found out about a dump.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DumpInfo {
    pub path: PathBuf,
    pub format: DumpFormat,
    /// The version of the server the dump was taken from, e.g. "15.18".
    pub server_version: Option<String>,
    /// The version of the pg_dump that wrote it, e.g. "15.18".
    pub pg_dump_version: Option<String>,
}

impl DumpInfo {
    /// The major version of the server the dump was taken from: "9.6.24" -> 9,
    /// "15.18" -> 15.
    pub fn server_major(&self) -> Option<u32> {
        self.server_version.as_deref().and_then(major_of)
    }
}

fn major_of(version: &str) -> Option<u32> {
    let digits: String = version
        .trim()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// The version number of a version text: "15.18 (Debian 15.18-0+deb12u1)" -> "15.18".
fn version_number(text: &str) -> Option<String> {
    text.split_whitespace().next().map(str::to_owned)
}

/// A statement that failed only because of a role (or privilege) the server does not
/// have, and was left out.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Skipped {
    /// "TOC entry 215; 1259 16386 TABLE public t" or "dump.sql:42".
    pub location: String,
    /// The server's message, e.g. `role "rdsadmin" does not exist`.
    pub message: String,
    /// The first line of the statement.
    pub statement: String,
}

/// A statement that failed for a real reason.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RestoreFailure {
    /// "TOC entry 215; 1259 16386 TABLE public t" or "dump.sql:42".
    pub location: String,
    /// The error message, e.g. `extension "postgis" is not available`.
    pub message: String,
    /// DETAIL, HINT and CONTEXT lines, as the server sent them.
    pub detail: Vec<String>,
    /// The first line of the statement (empty when the program did not say).
    pub statement: String,
}

/// The outcome of a successful restore.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RestoreReport {
    /// The statements left out as role noise.
    pub skipped: Vec<Skipped>,
    pub duration_ms: u128,
}

// ---------------------------------------------------------------------------
// Inspecting
// ---------------------------------------------------------------------------

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

fn input_error(path: &Path, problem: impl Into<String>, hint: impl Into<String>) -> RestoreError {
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

fn detect_format(path: &Path) -> Result<DumpFormat, RestoreError> {
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
fn plain_versions(path: &Path) -> Result<(Option<String>, Option<String>), RestoreError> {
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
struct ArchiveHeader {
    /// Major, minor and revision of the archive format.
    version: (u8, u8, u8),
    server_version: Option<String>,
    pg_dump_version: Option<String>,
}

/// Parses the archive header the way pg_restore's `ReadHead` does, to name the pg_dump
/// that wrote an archive this pg_restore cannot read.
fn parse_archive_header(bytes: &[u8]) -> Option<ArchiveHeader> {
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
            let mut value: i64 = 0;
            for i in 0..self.int_size {
                value |= i64::from(self.byte()?) << (8 * i);
            }
            Some(if negative { -value } else { value })
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

// ---------------------------------------------------------------------------
// Running the programs
// ---------------------------------------------------------------------------

/// A command for a client program with a clean environment: the target's libpq settings
/// (when given) and untranslated messages, since stderr is parsed.
fn client_command(program: &Path, conn: Option<&ConnInfo>) -> Command {
    let mut command = Command::new(program);
    for (key, _) in std::env::vars_os() {
        if key.to_str().is_some_and(|k| k.starts_with("PG")) {
            command.env_remove(key);
        }
    }
    command
        .env_remove("LC_ALL")
        .env_remove("LANGUAGE")
        .env("LC_MESSAGES", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(conn) = conn {
        command.envs(conn.libpq_env());
        command.env("PGAPPNAME", "retort restore");
    }
    command
}

/// A path as a program argument: one starting with `-` would be taken for an option (and
/// `-` alone for stdin).
fn file_arg(path: &Path) -> OsString {
    if path.as_os_str().to_string_lossy().starts_with('-') {
        Path::new(".").join(path).into_os_string()
    } else {
        path.as_os_str().to_owned()
    }
}

fn run(command: &mut Command, program: &Path, action: &str) -> Result<Output, RestoreError> {
    command.output().map_err(|source| RestoreError::Program {
        program: program.to_owned(),
        action: action.to_owned(),
        source,
    })
}

fn status_text(output: &Output) -> String {
    match output.status.code() {
        Some(code) => format!("exit status {code}"),
        None => format!("{}", output.status),
    }
}

/// The error lines of a program's stderr (with what follows them), or its last lines
/// when none is marked as an error.
fn error_lines(stderr: &str, prefix: &str) -> String {
    let mut kept = Vec::new();
    let mut in_error = false;
    for line in stderr.lines() {
        if let Some(rest) = line.strip_prefix(prefix) {
            in_error = ["error:", "detail:", "hint:", "ERROR:", "FATAL:"]
                .iter()
                .any(|marker| rest.contains(marker));
        }
        if in_error && !line.trim().is_empty() {
            kept.push(line);
        }
    }
    if kept.is_empty() {
        kept = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    }
    let from = kept.len().saturating_sub(OUTPUT_LINES);
    let tail = kept[from..].join("\n");
    if tail.is_empty() {
        "(no message)".to_owned()
    } else {
        tail
    }
}

/// Restores `info` into the (empty) database `conn`, tolerating role noise.
pub fn restore(
    info: &DumpInfo,
    conn: &ConnInfo,
    programs: &ClientPrograms,
) -> Result<RestoreReport, RestoreError> {
    let started = Instant::now();
    let (program, mut command) = if info.format.is_archive() {
        let program = programs.pg_restore.as_path();
        let mut command = client_command(program, Some(conn));
        // --verbose, because only then does pg_restore say which TOC entry failed.
        // Tablespaces and security label providers are the host's, like owners.
        command
            .args([
                "--verbose",
                "--no-owner",
                "--no-acl",
                "--no-subscriptions",
                "--no-tablespaces",
                "--no-security-labels",
                "--no-password",
                "-d",
            ])
            .arg(database_arg(conn.dbname()))
            .arg(file_arg(&info.path));
        (program, command)
    } else {
        let program = programs.psql.as_path();
        let mut command = client_command(program, Some(conn));
        command
            .args(["-X", "-q", "--no-password", "-v", "ON_ERROR_STOP=0", "-f"])
            .arg(file_arg(&info.path));
        (program, command)
    };
    let action = format!("restoring {}", info.path.display());
    let output = run(&mut command, program, &action)?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    let failed = |prefix: &str| RestoreError::Failed {
        program: program.to_owned(),
        action: action.clone(),
        database: conn.dbname().to_owned(),
        status: status_text(&output),
        output: error_lines(&stderr, prefix),
    };
    let (records, counted) = if info.format.is_archive() {
        let parsed = parse_pg_restore(&stderr);
        // Exit status 1 with the summary line: it went on past failed statements. Anything
        // else (no summary, another status) means it stopped.
        let went_through = output.status.success()
            || (output.status.code() == Some(1) && parsed.ignored.is_some());
        if !went_through {
            return Err(failed("pg_restore: "));
        }
        (parsed.errors, parsed.ignored.unwrap_or(0))
    } else {
        if !output.status.success() {
            return Err(failed("psql"));
        }
        let mut errors = parse_psql(&stderr);
        fill_statements(&info.path, &mut errors);
        (errors, 0)
    };
    let outcome = classify(records, counted);
    if outcome.real_total > 0 {
        return Err(RestoreError::Errors {
            path: info.path.clone(),
            database: conn.dbname().to_owned(),
            program: program.to_owned(),
            total: outcome.real_total,
            shown: outcome.shown,
            skipped: outcome.skipped.len(),
        });
    }
    Ok(RestoreReport {
        skipped: outcome.skipped,
        duration_ms: started.elapsed().as_millis(),
    })
}

/// pg_restore's `-d` is a connection string when it contains `=` or is a URL; a database
/// name that looks like one is passed as `dbname='...'` (the rest still comes from the
/// environment, so no password ever is on the command line).
fn database_arg(dbname: &str) -> String {
    if dbname.contains('=')
        || dbname.starts_with("postgres://")
        || dbname.starts_with("postgresql://")
    {
        format!(
            "dbname='{}'",
            dbname.replace('\\', "\\\\").replace('\'', "\\'")
        )
    } else {
        dbname.to_owned()
    }
}

// ---------------------------------------------------------------------------
// Parsing what the programs report
// ---------------------------------------------------------------------------

/// One failed statement as a program reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Reported {
    /// TOC entry, phase or "file:line"; None when the program gave none.
    location: Option<String>,
    /// psql's line number, to find the statement in the file.
    line: Option<usize>,
    /// The message without the program's decoration ("could not execute query: ",
    /// "ERROR:  ").
    message: String,
    /// The server's own message, what classification looks at.
    server_message: String,
    detail: Vec<String>,
    /// The first line of the statement, when known.
    statement: String,
}

#[derive(Debug, Default)]
struct PgRestoreErrors {
    errors: Vec<Reported>,
    /// The count in "warning: errors ignored on restore: N".
    ignored: Option<usize>,
}

/// Splits "could not execute query: ERROR:  role "x" does not exist" into the message to
/// show and the server's part.
fn split_message(text: &str) -> (String, String) {
    let text = text.trim();
    let text = text
        .strip_prefix("could not execute query: ")
        .unwrap_or(text);
    for level in ["ERROR:", "FATAL:", "PANIC:"] {
        if let Some(at) = text.find(level) {
            let server = text[at + level.len()..].trim().to_owned();
            let before = text[..at].trim_end();
            let shown = if before.is_empty() {
                server.clone()
            } else {
                format!("{before} {server}")
            };
            return (shown, server);
        }
    }
    (text.to_owned(), text.to_owned())
}

/// A continuation line of a server error (after the message line) worth keeping.
fn detail_line(line: &str) -> Option<String> {
    ["DETAIL:", "HINT:", "CONTEXT:"]
        .iter()
        .find(|p| line.starts_with(**p))
        .map(|_| line.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// Parses pg_restore's (--verbose) stderr. Per failed statement it writes
///
/// ```text
/// pg_restore: while PROCESSING TOC:
/// pg_restore: from TOC entry 215; 1259 16386 TABLE public t postgres
/// pg_restore: error: could not execute query: ERROR:  role "rdsadmin" does not exist
/// Command was: CREATE POLICY ...
/// ```
///
/// where the "from TOC entry" line is left out when the entry is the same as for the
/// previous error, and at the end "pg_restore: warning: errors ignored on restore: N".
fn parse_pg_restore(stderr: &str) -> PgRestoreErrors {
    let mut out = PgRestoreErrors::default();
    let mut phase: Option<String> = None;
    let mut entry: Option<String> = None;
    let mut current: Option<usize> = None;
    let mut command: Option<Vec<&str>> = None;
    let finish_command = |out: &mut PgRestoreErrors, current: Option<usize>, lines: Vec<&str>| {
        if let Some(error) = current.and_then(|i| out.errors.get_mut(i)) {
            if let Some(first) = lines.iter().map(|l| l.trim()).find(|l| !l.is_empty()) {
                error.statement = first_chars(first, STATEMENT_CHARS);
            }
        }
    };
    for line in stderr.lines() {
        let Some(rest) = line.strip_prefix("pg_restore: ") else {
            if let Some(first) = line.strip_prefix("Command was: ") {
                command = Some(vec![first]);
            } else if let Some(lines) = command.as_mut() {
                lines.push(line);
            } else if let (Some(detail), Some(error)) = (
                detail_line(line),
                current.and_then(|i| out.errors.get_mut(i)),
            ) {
                error.detail.push(detail);
            }
            continue;
        };
        if let Some(lines) = command.take() {
            finish_command(&mut out, current, lines);
        }
        if let Some(name) = rest
            .strip_prefix("while ")
            .and_then(|r| r.strip_suffix(':'))
        {
            phase = Some(name.to_owned());
            entry = None;
            current = None;
        } else if let Some(toc) = rest.strip_prefix("from ") {
            entry = Some(toc.trim().to_owned());
        } else if let Some(message) = rest.strip_prefix("error: ") {
            let (message, server_message) = split_message(message);
            let location = entry
                .clone()
                .or_else(|| phase.as_ref().map(|p| format!("while {p}")));
            out.errors.push(Reported {
                location,
                line: None,
                message,
                server_message,
                detail: Vec::new(),
                statement: String::new(),
            });
            current = Some(out.errors.len() - 1);
        } else if let Some(count) = rest.strip_prefix("warning: errors ignored on restore: ") {
            out.ignored = count.trim().parse().ok();
            current = None;
        } else if let Some(detail) = rest
            .strip_prefix("detail: ")
            .or_else(|| rest.strip_prefix("hint: "))
        {
            if let Some(error) = current.and_then(|i| out.errors.get_mut(i)) {
                error.detail.push(detail.trim().to_owned());
            }
        } else {
            // Progress ("creating TABLE ...") and other warnings end an error's text.
            current = None;
        }
    }
    if let Some(lines) = command.take() {
        finish_command(&mut out, current, lines);
    }
    out
}

/// psql's message levels that mean a statement (or meta-command) failed.
const PSQL_ERRORS: &[&str] = &["ERROR", "FATAL", "PANIC", "error"];
/// Levels psql prefixes with the location too, that do not.
const PSQL_OTHERS: &[&str] = &[
    "WARNING", "NOTICE", "INFO", "LOG", "DEBUG", "warning", "detail", "hint", "DETAIL", "HINT",
    "CONTEXT",
];

/// Splits "psql:FILE:LINE: LEVEL: message" (FILE may contain colons).
fn split_psql_line(line: &str) -> Option<(&str, usize, &str, &str)> {
    let rest = line.strip_prefix("psql:")?;
    let mut search = 0;
    while let Some(found) = rest[search..].find(": ") {
        let at = search + found;
        search = at + 2;
        let before = &rest[..at];
        let Some((file, number)) = before.rsplit_once(':') else {
            continue;
        };
        let Ok(number) = number.parse::<usize>() else {
            continue;
        };
        let after = &rest[at + 2..];
        let Some((level, message)) = after.split_once(':') else {
            continue;
        };
        if PSQL_ERRORS.contains(&level) || PSQL_OTHERS.contains(&level) {
            return Some((file, number, level, message.trim()));
        }
    }
    None
}

/// Parses psql's stderr: `psql:FILE:LINE: ERROR:  message`, followed by the server's
/// LINE/DETAIL/HINT/CONTEXT lines. The statement is not repeated; [`fill_statements`]
/// finds it in the file.
fn parse_psql(stderr: &str) -> Vec<Reported> {
    let mut errors: Vec<Reported> = Vec::new();
    let mut current: Option<usize> = None;
    for line in stderr.lines() {
        if let Some((file, number, level, message)) = split_psql_line(line) {
            current = None;
            if PSQL_ERRORS.contains(&level) {
                let (message, server_message) = split_message(message);
                errors.push(Reported {
                    location: Some(format!("{file}:{number}")),
                    line: Some(number),
                    message,
                    server_message,
                    detail: Vec::new(),
                    statement: String::new(),
                });
                current = Some(errors.len() - 1);
            } else if matches!(level, "detail" | "hint" | "DETAIL" | "HINT" | "CONTEXT") {
                if let Some(error) = errors.last_mut() {
                    error.detail.push(format!("{level}: {message}"));
                }
            }
        } else if let Some(message) = line.strip_prefix("psql: error: ") {
            let (message, server_message) = split_message(message);
            errors.push(Reported {
                location: None,
                line: None,
                message,
                server_message,
                detail: Vec::new(),
                statement: String::new(),
            });
            current = Some(errors.len() - 1);
        } else if let (Some(detail), Some(error)) =
            (detail_line(line), current.and_then(|i| errors.get_mut(i)))
        {
            error.detail.push(detail);
        }
    }
    errors
}

/// Fills in the first line of each failed statement of a plain dump. psql reports the
/// line a statement ends on, so the file is read (up to the last such line) and split
/// into statements the way psql splits it.
fn fill_statements(path: &Path, errors: &mut [Reported]) {
    let wanted: BTreeSet<usize> = errors.iter().filter_map(|e| e.line).collect();
    let Some(&last) = wanted.last() else {
        return;
    };
    let Ok(file) = File::open(path) else {
        return;
    };
    let mut reader = BufReader::new(file);
    let mut tracker = StatementTracker::default();
    let mut found = BTreeMap::new();
    let mut line = Vec::new();
    for number in 1..=last {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        while matches!(line.last(), Some(b'\n' | b'\r')) {
            line.pop();
        }
        let owner = tracker.feed(&line);
        if wanted.contains(&number) {
            let text = owner.unwrap_or_else(|| String::from_utf8_lossy(&line).trim().to_owned());
            found.insert(number, first_chars(&text, STATEMENT_CHARS));
        }
    }
    for error in errors.iter_mut() {
        if let Some(text) = error.line.and_then(|n| found.get(&n)) {
            error.statement = text.clone();
        }
    }
}

fn first_chars(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max).collect();
    cut.push('…');
    cut
}

/// Lexer state carried from one line to the next.
#[derive(Debug, Default)]
enum Lex {
    #[default]
    Code,
    /// In '...'; `escapes` for E'...' strings, where backslash escapes a quote.
    Quote { escapes: bool },
    /// In "...".
    Ident,
    /// In $tag$...$tag$ (the tag with its dollars).
    Dollar(Vec<u8>),
    /// In /* */ comments, which nest.
    Comment(u32),
}

/// Follows psql's split of a file into statements, line by line, to tell which statement
/// a line belongs to. It knows what pg_dump writes: quotes, dollar quotes, comments,
/// parentheses, `BEGIN ATOMIC ... END` function bodies, COPY data and meta-commands.
#[derive(Debug, Default)]
struct StatementTracker {
    lex: Lex,
    /// The first line of the statement under way (or of the COPY whose data follows).
    current: Option<String>,
    in_statement: bool,
    copy_data: bool,
    parens: u32,
    begin_depth: u32,
    /// psql's heuristic for CREATE [OR REPLACE] FUNCTION/PROCEDURE: the first letters of
    /// the first four identifiers, when they are among those words.
    idents: [u8; 4],
    ident_count: usize,
}

impl StatementTracker {
    /// Feeds the next line; returns the first line of the statement it belongs to (the
    /// one under way when the line starts, else the first one starting on it).
    fn feed(&mut self, line: &[u8]) -> Option<String> {
        if self.copy_data {
            let owner = self.current.clone();
            if line == b"\\." {
                self.copy_data = false;
                self.current = None;
            }
            return owner;
        }
        let mut owner = if self.in_statement {
            self.current.clone()
        } else {
            None
        };
        let mut i = 0;
        while i < line.len() {
            match &mut self.lex {
                Lex::Quote { escapes } => {
                    match line[i] {
                        b'\\' if *escapes => i += 1,
                        b'\'' if line.get(i + 1) == Some(&b'\'') => i += 1,
                        b'\'' => self.lex = Lex::Code,
                        _ => {}
                    }
                    i += 1;
                }
                Lex::Ident => {
                    match line[i] {
                        b'"' if line.get(i + 1) == Some(&b'"') => i += 1,
                        b'"' => self.lex = Lex::Code,
                        _ => {}
                    }
                    i += 1;
                }
                Lex::Dollar(tag) => match find(&line[i..], tag) {
                    Some(at) => {
                        i += at + tag.len();
                        self.lex = Lex::Code;
                    }
                    None => i = line.len(),
                },
                Lex::Comment(depth) => {
                    if line[i..].starts_with(b"/*") {
                        *depth += 1;
                        i += 2;
                    } else if line[i..].starts_with(b"*/") {
                        *depth -= 1;
                        if *depth == 0 {
                            self.lex = Lex::Code;
                        }
                        i += 2;
                    } else {
                        i += 1;
                    }
                }
                Lex::Code => {
                    let b = line[i];
                    if b.is_ascii_whitespace() {
                        i += 1;
                        continue;
                    }
                    if line[i..].starts_with(b"--") {
                        break;
                    }
                    if line[i..].starts_with(b"/*") {
                        self.lex = Lex::Comment(1);
                        i += 2;
                        continue;
                    }
                    if !self.in_statement {
                        let text = String::from_utf8_lossy(&line[i..]).trim().to_owned();
                        if b == b'\\' {
                            // A meta-command takes the rest of the line.
                            return owner.or(Some(text));
                        }
                        self.start(text.clone());
                        owner.get_or_insert(text);
                    }
                    i = self.code(line, i);
                }
            }
        }
        owner
    }

    fn start(&mut self, first_line: String) {
        self.in_statement = true;
        self.current = Some(first_line);
        self.parens = 0;
        self.begin_depth = 0;
        self.idents = [0; 4];
        self.ident_count = 0;
    }

    /// Lexes one token of code at `i`; returns where the next one starts.
    fn code(&mut self, line: &[u8], i: usize) -> usize {
        let b = line[i];
        match b {
            b'\'' => {
                self.lex = Lex::Quote { escapes: false };
                i + 1
            }
            b'"' => {
                self.lex = Lex::Ident;
                i + 1
            }
            b'(' => {
                self.parens += 1;
                i + 1
            }
            b')' => {
                self.parens = self.parens.saturating_sub(1);
                i + 1
            }
            b';' => {
                if self.parens == 0 && self.begin_depth == 0 {
                    self.end();
                }
                i + 1
            }
            b'$' => match dollar_tag(&line[i..]) {
                Some(len) => {
                    self.lex = Lex::Dollar(line[i..i + len].to_vec());
                    i + len
                }
                None => {
                    // $1 and the like.
                    let mut j = i + 1;
                    while j < line.len() && line[j].is_ascii_digit() {
                        j += 1;
                    }
                    j
                }
            },
            b if b.is_ascii_digit() => {
                let mut j = i + 1;
                while j < line.len() && (is_ident_char(line[j]) || line[j] == b'.') {
                    j += 1;
                }
                j
            }
            b if is_ident_start(b) => {
                let mut j = i + 1;
                while j < line.len() && is_ident_char(line[j]) {
                    j += 1;
                }
                let word = &line[i..j];
                if word.eq_ignore_ascii_case(b"e") && line.get(j) == Some(&b'\'') {
                    self.lex = Lex::Quote { escapes: true };
                    return j + 1;
                }
                self.identifier(word);
                j
            }
            _ => i + 1,
        }
    }

    /// psql's BEGIN ... END tracking for SQL-standard function bodies, whose semicolons
    /// do not end the statement.
    fn identifier(&mut self, word: &[u8]) {
        let lower = word.to_ascii_lowercase();
        if self.ident_count < self.idents.len()
            && matches!(
                lower.as_slice(),
                b"create" | b"function" | b"procedure" | b"or" | b"replace"
            )
        {
            self.idents[self.ident_count] = lower[0];
        }
        self.ident_count += 1;
        let [first, second, third, fourth] = self.idents;
        let routine = first == b'c'
            && (second == b'f'
                || second == b'p'
                || (second == b'o' && third == b'r' && (fourth == b'f' || fourth == b'p')));
        if !routine || self.parens != 0 {
            return;
        }
        match lower.as_slice() {
            b"begin" => self.begin_depth += 1,
            b"case" if self.begin_depth > 0 => self.begin_depth += 1,
            b"end" => self.begin_depth = self.begin_depth.saturating_sub(1),
            _ => {}
        }
    }

    fn end(&mut self) {
        self.in_statement = false;
        let copy_from_stdin = self.current.as_deref().is_some_and(|first| {
            let upper = first.to_ascii_uppercase();
            upper.starts_with("COPY ") && upper.contains(" FROM STDIN")
        });
        if copy_from_stdin {
            self.copy_data = true;
        } else {
            self.current = None;
        }
    }
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

fn is_ident_char(b: u8) -> bool {
    is_ident_start(b) || b.is_ascii_digit() || b == b'$'
}

/// The length of a dollar-quote opener (`$$`, `$tag$`) at the start of `text`.
fn dollar_tag(text: &[u8]) -> Option<usize> {
    let body = text.get(1..)?;
    if body.first() == Some(&b'$') {
        return Some(2);
    }
    if !is_ident_start(*body.first()?) {
        return None;
    }
    let end = body.iter().position(|&b| !is_ident_char(b) || b == b'$')?;
    (body[end] == b'$').then_some(end + 2)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

// ---------------------------------------------------------------------------
// Noise or real
// ---------------------------------------------------------------------------

/// Whether a failure is noise: a statement about something only the production server
/// has. `role "X" does not exist` always is; lacking privileges only for statements
/// that merely hand out ownership or privileges (or comment on objects the restoring
/// user does not own by default); a missing tablespace or security-label provider only
/// for the statements that name them (archives leave those out with
/// --no-tablespaces/--no-security-labels, plain dumps cannot).
pub(crate) fn is_noise(server_message: &str, statement: &str) -> bool {
    let message = server_message.trim();
    if message
        .strip_prefix("role \"")
        .is_some_and(|r| r.ends_with("\" does not exist"))
    {
        return true;
    }
    let statement = statement.trim().to_ascii_uppercase();
    let privileges = [
        "must be owner of ",
        "permission denied",
        "must be member of role ",
        "must be able to SET ROLE ",
    ]
    .iter()
    .any(|p| message.starts_with(p));
    if privileges {
        let hands_out = (statement.starts_with("ALTER ") && statement.contains(" OWNER TO "))
            || statement.starts_with("GRANT ")
            || statement.starts_with("REVOKE ")
            || statement.starts_with("ALTER DEFAULT PRIVILEGES ")
            || statement.starts_with("COMMENT ON EXTENSION ")
            || statement.starts_with("COMMENT ON SCHEMA PUBLIC ");
        return hands_out;
    }
    (statement.starts_with("SET DEFAULT_TABLESPACE ")
        && message.starts_with("invalid value for parameter \"default_tablespace\""))
        || (statement.starts_with("SECURITY LABEL ")
            && message.starts_with("security label provider"))
}

#[derive(Debug)]
struct Outcome {
    skipped: Vec<Skipped>,
    real_total: usize,
    shown: Vec<RestoreFailure>,
}

/// Sorts reported failures into noise and real errors. `counted` is the program's own
/// error count (pg_restore's summary): failures it counted beyond those parsed are real,
/// since nothing says they are noise.
fn classify(records: Vec<Reported>, counted: usize) -> Outcome {
    let parsed = records.len();
    let mut outcome = Outcome {
        skipped: Vec::new(),
        real_total: counted.saturating_sub(parsed),
        shown: Vec::new(),
    };
    for record in records {
        let location = record
            .location
            .unwrap_or_else(|| "(no location)".to_owned());
        if is_noise(&record.server_message, &record.statement) {
            outcome.skipped.push(Skipped {
                location,
                message: record.server_message,
                statement: record.statement,
            });
        } else {
            outcome.real_total += 1;
            if outcome.shown.len() < SHOWN_ERRORS {
                outcome.shown.push(RestoreFailure {
                    location,
                    message: record.message,
                    detail: record.detail,
                    statement: record.statement,
                });
            }
        }
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    /// pg_restore 15 --verbose restoring into a database where some objects already
    /// existed, from a dump whose owner role was dropped.
    const PG_RESTORE_STDERR: &str = r#"pg_restore: connecting to database for restore
pg_restore: creating FUNCTION "public.h()"
pg_restore: while PROCESSING TOC:
pg_restore: from TOC entry 216; 1255 16486 FUNCTION h() postgres
pg_restore: error: could not execute query: ERROR:  function "h" already exists with same argument types
Command was: CREATE FUNCTION public.h() RETURNS integer
    LANGUAGE plpgsql
    AS $$
begin

  return 1;
end $$;


pg_restore: creating TABLE "public.t"
pg_restore: from TOC entry 214; 1259 16478 TABLE t r_y
pg_restore: error: could not execute query: ERROR:  relation "t" already exists
Command was: CREATE TABLE public.t (
    id integer NOT NULL,
    s text
);


pg_restore: creating VIEW "public.v"
pg_restore: processing data for table "public.t"
pg_restore: from TOC entry 3347; 0 16478 TABLE DATA t r_y
pg_restore: error: COPY failed for table "t": ERROR:  null value in column "x" of relation "t" violates not-null constraint
DETAIL:  Failing row contains (1, a, null).
CONTEXT:  COPY t, line 1: "1	a"
pg_restore: creating CONSTRAINT "public.t t_pkey"
pg_restore: creating POLICY "public.t p"
pg_restore: from TOC entry 3346; 3256 16485 POLICY t p r_y
pg_restore: error: could not execute query: ERROR:  role "r_y" does not exist
Command was: CREATE POLICY p ON public.t TO r_y USING (true);


pg_restore: creating ACL "public.TABLE t"
pg_restore: error: could not execute query: ERROR:  role "rdsadmin" does not exist
Command was: GRANT SELECT ON TABLE public.t TO rdsadmin;


pg_restore: warning: errors ignored on restore: 5
"#;

    /// psql 15 running a plain dump with ON_ERROR_STOP=0 (the file is PLAIN_SQL).
    const PSQL_STDERR: &str = r#"psql:dir: odd/y.sql:5: ERROR:  type "nosuchtype" does not exist
LINE 3:     b nosuchtype
              ^
psql:dir: odd/y.sql:7: ERROR:  role "nobody" does not exist
psql:dir: odd/y.sql:8: WARNING:  no privileges were granted for "t"
psql:dir: odd/y.sql:13: ERROR:  invalid input syntax for type integer: "x"
CONTEXT:  COPY t, line 2, column id: "x"
psql:dir: odd/y.sql:19: ERROR:  column "nosuch" does not exist
LINE 4:  SELECT nosuch;
                ^
psql:dir: odd/y.sql:27: ERROR:  role "nobody" does not exist
psql:dir: odd/y.sql:28: ERROR:  must be owner of extension plpgsql
psql:dir: odd/y.sql:31: ERROR:  must be owner of table t
psql:dir: odd/y.sql:32: ERROR:  permission denied for table t
psql:dir: odd/y.sql:33: ERROR:  must be owner of schema public
psql:dir: odd/y.sql:35: error: invalid command \restrict
psql:dir: odd/y.sql:36: ERROR:  must be owner of table t
"#;

    const PLAIN_SQL: &str = r#"SET client_min_messages = warning;
CREATE TABLE public.a (
    id integer NOT NULL,
    b nosuchtype
);

ALTER TABLE public.t OWNER TO nobody;
GRANT SELECT ON TABLE public.t TO nobody;
CREATE TABLE public.t (id int, s text);
COPY public.t (id, s) FROM stdin;
1	a;
x	b
\.

CREATE FUNCTION public.g() RETURNS integer
    LANGUAGE sql
    BEGIN ATOMIC
 SELECT nosuch;
END;
CREATE FUNCTION public.h() RETURNS integer
    LANGUAGE plpgsql
    AS $body$
begin
  -- a ; in a comment; 'quotes' too
  return 1;
end $body$;
ALTER FUNCTION public.h() OWNER TO nobody;
COMMENT ON EXTENSION plpgsql IS 'PL/pgSQL; procedural language';
CREATE ROLE lowly;
SET ROLE lowly;
ALTER TABLE public.t OWNER TO lowly;
GRANT SELECT ON TABLE public.t TO lowly;
COMMENT ON SCHEMA public IS 'standard public schema';
RESET ROLE;
\restrict abc
ALTER TABLE public.t
    ADD COLUMN c text; /* a comment */ SELECT 'it''s;' AS "a;b", E'\';' AS e;
"#;

    fn write_plain(dir: &Path) -> PathBuf {
        let sub = dir.join("dir: odd");
        std::fs::create_dir_all(&sub).expect("create the test directory");
        let path = sub.join("y.sql");
        std::fs::write(&path, PLAIN_SQL).expect("write the test dump");
        path
    }

    #[test]
    fn pg_restore_errors_are_located_and_classified() {
        let parsed = parse_pg_restore(PG_RESTORE_STDERR);
        assert_eq!(parsed.ignored, Some(5));
        let locations: Vec<_> = parsed
            .errors
            .iter()
            .map(|e| e.location.as_deref().unwrap_or("-"))
            .collect();
        assert_eq!(
            locations,
            [
                "TOC entry 216; 1255 16486 FUNCTION h() postgres",
                "TOC entry 214; 1259 16478 TABLE t r_y",
                "TOC entry 3347; 0 16478 TABLE DATA t r_y",
                "TOC entry 3346; 3256 16485 POLICY t p r_y",
                // pg_restore does not repeat the entry line for the ACL: the last one stands
                // (its progress line says which ACL it was).
                "TOC entry 3346; 3256 16485 POLICY t p r_y",
            ]
        );
        let first = &parsed.errors[0];
        assert_eq!(
            first.message,
            "function \"h\" already exists with same argument types"
        );
        assert_eq!(
            first.statement,
            "CREATE FUNCTION public.h() RETURNS integer"
        );
        assert_eq!(parsed.errors[1].statement, "CREATE TABLE public.t (");
        let copy = &parsed.errors[2];
        assert_eq!(
            copy.message,
            "COPY failed for table \"t\": null value in column \"x\" of relation \"t\" violates \
             not-null constraint"
        );
        assert_eq!(
            copy.detail,
            [
                "DETAIL: Failing row contains (1, a, null).",
                "CONTEXT: COPY t, line 1: \"1 a\""
            ]
        );
        assert_eq!(copy.statement, "");
        assert_eq!(
            parsed.errors[3].server_message,
            "role \"r_y\" does not exist"
        );
        assert_eq!(
            parsed.errors[4].statement,
            "GRANT SELECT ON TABLE public.t TO rdsadmin;"
        );

        let outcome = classify(parsed.errors, 5);
        assert_eq!(outcome.real_total, 3);
        assert_eq!(outcome.shown.len(), 3);
        let skipped: Vec<_> = outcome.skipped.iter().map(|s| s.message.as_str()).collect();
        assert_eq!(
            skipped,
            [
                "role \"r_y\" does not exist",
                "role \"rdsadmin\" does not exist"
            ]
        );
        assert_eq!(
            outcome.skipped[0].statement,
            "CREATE POLICY p ON public.t TO r_y USING (true);"
        );
    }

    #[test]
    fn errors_pg_restore_counted_but_not_parsed_are_real() {
        let parsed = parse_pg_restore(
            "pg_restore: from TOC entry 3346; 3256 16485 POLICY t p r_y\n\
             pg_restore: error: could not execute query: ERROR:  role \"r_y\" does not exist\n\
             Command was: CREATE POLICY p ON public.t TO r_y USING (true);\n\n\n\
             pg_restore: warning: errors ignored on restore: 3\n",
        );
        let outcome = classify(parsed.errors, parsed.ignored.unwrap_or(0));
        assert_eq!(outcome.skipped.len(), 1);
        assert_eq!(outcome.real_total, 2);
        assert!(outcome.shown.is_empty());
    }

    #[test]
    fn errors_outside_toc_entries_name_the_phase() {
        let parsed = parse_pg_restore(
            "pg_restore: while INITIALIZING:\n\
             pg_restore: error: could not execute query: ERROR:  unrecognized configuration parameter \"transaction_timeout\"\n\
             Command was: SET transaction_timeout = 0;\n\
             pg_restore: warning: errors ignored on restore: 1\n",
        );
        assert_eq!(parsed.errors.len(), 1);
        assert_eq!(
            parsed.errors[0].location.as_deref(),
            Some("while INITIALIZING")
        );
        assert_eq!(parsed.errors[0].statement, "SET transaction_timeout = 0;");
        assert_eq!(classify(parsed.errors, 1).real_total, 1);
    }

    #[test]
    fn psql_errors_are_located_in_the_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = write_plain(dir.path());
        let mut errors = parse_psql(PSQL_STDERR);
        let lines: Vec<_> = errors.iter().filter_map(|e| e.line).collect();
        assert_eq!(lines, [5, 7, 13, 19, 27, 28, 31, 32, 33, 35, 36]);
        assert_eq!(errors[0].location.as_deref(), Some("dir: odd/y.sql:5"));
        assert_eq!(
            errors[2].detail,
            ["CONTEXT: COPY t, line 2, column id: \"x\""]
        );
        assert_eq!(errors[9].message, "invalid command \\restrict");
        fill_statements(&path, &mut errors);
        let statements: Vec<_> = errors.iter().map(|e| e.statement.as_str()).collect();
        assert_eq!(
            statements,
            [
                "CREATE TABLE public.a (",
                "ALTER TABLE public.t OWNER TO nobody;",
                "COPY public.t (id, s) FROM stdin;",
                "CREATE FUNCTION public.g() RETURNS integer",
                "ALTER FUNCTION public.h() OWNER TO nobody;",
                "COMMENT ON EXTENSION plpgsql IS 'PL/pgSQL; procedural language';",
                "ALTER TABLE public.t OWNER TO lowly;",
                "GRANT SELECT ON TABLE public.t TO lowly;",
                "COMMENT ON SCHEMA public IS 'standard public schema';",
                "\\restrict abc",
                "ALTER TABLE public.t",
            ]
        );

        let outcome = classify(errors, 0);
        let skipped: Vec<_> = outcome
            .skipped
            .iter()
            .map(|s| s.location.rsplit(':').next().unwrap_or_default())
            .collect();
        assert_eq!(skipped, ["7", "27", "28", "31", "32", "33"]);
        assert_eq!(outcome.real_total, 5);
        let real: Vec<_> = outcome.shown.iter().map(|f| f.location.as_str()).collect();
        assert_eq!(
            real,
            [
                "dir: odd/y.sql:5",
                "dir: odd/y.sql:13",
                "dir: odd/y.sql:19",
                "dir: odd/y.sql:35",
                "dir: odd/y.sql:36",
            ]
        );
        // "must be owner" is noise for OWNER TO, not for changing a table's columns.
        assert_eq!(outcome.shown[4].message, "must be owner of table t");
    }

    #[test]
    fn statement_tracker_follows_psql() {
        let mut tracker = StatementTracker::default();
        let owners: Vec<Option<String>> = PLAIN_SQL
            .lines()
            .map(|line| tracker.feed(line.as_bytes()))
            .collect();
        let at = |line: usize| owners[line - 1].as_deref();
        assert_eq!(at(1), Some("SET client_min_messages = warning;"));
        assert_eq!(at(4), Some("CREATE TABLE public.a ("));
        assert_eq!(at(6), None);
        assert_eq!(at(11), Some("COPY public.t (id, s) FROM stdin;"));
        assert_eq!(at(13), Some("COPY public.t (id, s) FROM stdin;"));
        assert_eq!(at(14), None);
        assert_eq!(at(18), Some("CREATE FUNCTION public.g() RETURNS integer"));
        assert_eq!(at(23), Some("CREATE FUNCTION public.h() RETURNS integer"));
        assert_eq!(at(26), Some("CREATE FUNCTION public.h() RETURNS integer"));
        assert_eq!(at(27), Some("ALTER FUNCTION public.h() OWNER TO nobody;"));
        // The quoted ';' of the last line does not end a statement; the real ones do.
        assert!(!tracker.in_statement);
        assert!(matches!(tracker.lex, Lex::Code));
    }

    #[test]
    fn noise_is_only_roles_and_privilege_statements() {
        assert!(is_noise(
            "role \"rdsadmin\" does not exist",
            "CREATE POLICY p ON t TO rdsadmin;"
        ));
        assert!(is_noise(
            "must be owner of table t",
            "ALTER TABLE public.t OWNER TO x;"
        ));
        assert!(is_noise(
            "permission denied for table t",
            "REVOKE ALL ON TABLE t FROM x;"
        ));
        assert!(is_noise(
            "must be owner of schema public",
            "COMMENT ON SCHEMA public IS 'standard public schema';"
        ));
        assert!(!is_noise(
            "must be owner of schema app",
            "COMMENT ON SCHEMA app IS 'x';"
        ));
        assert!(!is_noise(
            "must be owner of table t",
            "ALTER TABLE public.t ADD COLUMN c int;"
        ));
        assert!(!is_noise(
            "permission denied to create extension \"x\"",
            "CREATE EXTENSION x;"
        ));
        assert!(!is_noise(
            "type \"nosuch\" does not exist",
            "CREATE TABLE t (c nosuch);"
        ));
        assert!(!is_noise(
            "relation \"role\" does not exist",
            "SELECT * FROM role;"
        ));
        assert!(is_noise(
            "invalid value for parameter \"default_tablespace\": \"fast\"",
            "SET default_tablespace = fast;"
        ));
    }

    #[test]
    fn error_message_says_what_where_and_what_next() {
        let parsed = parse_pg_restore(PG_RESTORE_STDERR);
        let outcome = classify(parsed.errors, 5);
        let error = RestoreError::Errors {
            path: PathBuf::from("prod.dump"),
            database: "retort_scratch_test_0a".into(),
            program: PathBuf::from("/usr/lib/postgresql/15/bin/pg_restore"),
            total: outcome.real_total,
            shown: outcome.shown,
            skipped: outcome.skipped.len(),
        };
        let text = error.to_string();
        assert_eq!(error.exit_code(), 3);
        for part in [
            "restoring prod.dump into database retort_scratch_test_0a",
            "3 statement(s) failed",
            "(2 role-noise error(s) were tolerated)",
            "TOC entry 214; 1259 16478 TABLE t r_y: relation \"t\" already exists",
            "statement: CREATE TABLE public.t (",
            "DETAIL: Failing row contains (1, a, null).",
            "partially restored",
            "dropped at the end anyway",
        ] {
            assert!(text.contains(part), "{part:?} missing in:\n{text}");
        }
        assert!(!text.contains("more"), "{text}");
    }

    #[test]
    fn only_the_first_errors_are_shown() {
        let stderr: String = (1..=8)
            .map(|i| format!("psql:d.sql:{i}: ERROR:  syntax error at or near \"x{i}\"\n"))
            .collect();
        let outcome = classify(parse_psql(&stderr), 0);
        assert_eq!(outcome.real_total, 8);
        assert_eq!(outcome.shown.len(), SHOWN_ERRORS);
        let error = RestoreError::Errors {
            path: PathBuf::from("d.sql"),
            database: "db".into(),
            program: PathBuf::from("psql"),
            total: outcome.real_total,
            shown: outcome.shown,
            skipped: 0,
        };
        let text = error.to_string();
        assert!(text.contains("d.sql:5: syntax error"), "{text}");
        assert!(!text.contains("d.sql:6:"), "{text}");
        assert!(text.contains("... and 3 more"), "{text}");
    }

    #[test]
    fn psql_connection_failure_is_unlocated() {
        let errors = parse_psql(
            "psql: error: connection to server at \"127.0.0.1\", port 1 failed: Connection refused\n",
        );
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].location, None);
        assert!(errors[0].message.starts_with("connection to server"));
    }

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

    #[test]
    fn server_major_reads_the_leading_number() {
        let info = |v: &str| DumpInfo {
            path: PathBuf::from("x"),
            format: DumpFormat::Custom,
            server_version: Some(v.to_owned()),
            pg_dump_version: None,
        };
        assert_eq!(info("9.6.24").server_major(), Some(9));
        assert_eq!(info("15.18").server_major(), Some(15));
        assert_eq!(info("17beta1").server_major(), Some(17));
        assert_eq!(info("").server_major(), None);
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
    fn odd_names_stay_arguments() {
        assert_eq!(file_arg(Path::new("-x.dump")), OsString::from("./-x.dump"));
        assert_eq!(
            file_arg(Path::new("/tmp/x.dump")),
            OsString::from("/tmp/x.dump")
        );
        assert_eq!(database_arg("retort_scratch_a"), "retort_scratch_a");
        assert_eq!(database_arg("a=b'c"), "dbname='a=b\\'c'");
    }

    // -----------------------------------------------------------------------
    // With the real programs (and, for most, the server of TEST_DATABASE_URL)
    // -----------------------------------------------------------------------

    /// A client program as the scratch code would pick it: PATH first (`make test-matrix`
    /// puts the tested major's programs there), then the installed majors.
    fn program(name: &str) -> PathBuf {
        let programs = super::super::binaries::client_programs(None).expect("client programs");
        match name {
            "psql" => programs.psql,
            "pg_restore" => programs.pg_restore,
            _ => programs.psql.with_file_name(name),
        }
    }

    fn programs() -> ClientPrograms {
        ClientPrograms {
            psql: program("psql"),
            pg_restore: program("pg_restore"),
        }
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

    fn admin() -> ConnInfo {
        let url = std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| {
            panic!(
                "TEST_DATABASE_URL is not set. These tests restore real dumps and need a \
                 PostgreSQL superuser URL: run `make test` (it starts one), or \
                 `export TEST_DATABASE_URL=$(scripts/pg-local.sh start)`"
            )
        });
        ConnInfo::from_env(Some(&url)).expect("TEST_DATABASE_URL is a valid URL")
    }

    /// Runs SQL with psql on `conn`, returning the unaligned output.
    fn sql(conn: &ConnInfo, text: &str) -> String {
        let mut command = client_command(&program("psql"), Some(conn));
        command
            .args(["-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-c", text])
            .stdout(Stdio::piped());
        let output = command.output().expect("run psql");
        assert!(
            output.status.success(),
            "psql -c {text:?} on {}: {}",
            conn.describe(),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    /// Unique names for the databases and roles of one test, dropped when it ends
    /// (also when it panics).
    struct Names {
        admin: ConnInfo,
        prefix: String,
        databases: Vec<String>,
        roles: Vec<String>,
    }

    impl Names {
        fn new(label: &str) -> Names {
            let mut random = [0u8; 4];
            getrandom::fill(&mut random).expect("random bytes");
            let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
            Names {
                admin: admin(),
                prefix: format!("retort_test_restore_{label}_{}_{hex}", std::process::id()),
                databases: Vec::new(),
                roles: Vec::new(),
            }
        }

        fn database(&mut self, suffix: &str) -> ConnInfo {
            let name = format!("{}_{suffix}", self.prefix);
            sql(
                &self.admin,
                &format!("CREATE DATABASE \"{name}\" TEMPLATE template0"),
            );
            self.databases.push(name.clone());
            self.admin.with_dbname(&name)
        }

        fn role(&mut self) -> String {
            let name = format!("{}_role", self.prefix);
            sql(&self.admin, &format!("CREATE ROLE \"{name}\""));
            self.roles.push(name.clone());
            name
        }
    }

    impl Drop for Names {
        fn drop(&mut self) {
            for name in self.databases.iter().rev() {
                let _ = client_command(&program("psql"), Some(&self.admin))
                    .args(["-X", "-q", "-c"])
                    .arg(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .status();
            }
            for name in &self.roles {
                let _ = client_command(&program("psql"), Some(&self.admin))
                    .args(["-X", "-q", "-c"])
                    .arg(format!("DROP ROLE IF EXISTS \"{name}\""))
                    .status();
            }
        }
    }

    fn pg_dump(conn: &ConnInfo, format: &str, path: &Path) {
        let mut command = client_command(&program("pg_dump"), Some(conn));
        command.arg(format!("-F{format}")).arg("-f").arg(path);
        let output = command.output().expect("run pg_dump");
        assert!(
            output.status.success(),
            "pg_dump -F{format}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// A database with objects owned by, and naming, a role that is then dropped, dumped
    /// in every format.
    fn dumps_naming_a_dropped_role(names: &mut Names, dir: &Path) -> Vec<(PathBuf, DumpFormat)> {
        let role = names.role();
        let source = names.database("src");
        sql(
            &source,
            &format!(
                "CREATE TABLE t (id int PRIMARY KEY, s text);
                 COMMENT ON TABLE t IS 'kept';
                 INSERT INTO t VALUES (1, 'a'), (2, 'b');
                 ALTER TABLE t OWNER TO \"{role}\";
                 ALTER TABLE t ENABLE ROW LEVEL SECURITY;
                 CREATE POLICY p ON t TO \"{role}\" USING (true);
                 CREATE VIEW v AS SELECT id FROM t;
                 GRANT SELECT ON v TO \"{role}\";"
            ),
        );
        let dumps = [
            ("c", "prod.sqlc", DumpFormat::Custom),
            ("d", "prod.dir", DumpFormat::Directory),
            ("t", "prod.tar", DumpFormat::Tar),
            ("p", "prod.sql", DumpFormat::Plain),
        ]
        .into_iter()
        .map(|(flag, name, format)| {
            let path = dir.join(name);
            pg_dump(&source, flag, &path);
            (path, format)
        })
        .collect();
        sql(
            &source,
            &format!(
                "DROP POLICY p ON t; DROP VIEW v; DROP TABLE t; \
                 REVOKE ALL ON SCHEMA public FROM \"{role}\";"
            ),
        );
        sql(&names.admin, &format!("DROP ROLE \"{role}\""));
        names.roles.clear();
        dumps
    }

    #[test]
    fn every_format_restores_with_role_noise_skipped() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut names = Names::new("noise");
        let dumps = dumps_naming_a_dropped_role(&mut names, dir.path());
        let server_major: u32 = sql(&names.admin, "SHOW server_version_num")
            .parse::<u32>()
            .expect("server_version_num")
            / 10000;
        let programs = programs();
        for (i, (path, format)) in dumps.iter().enumerate() {
            let info = inspect_dump(path, &programs)
                .unwrap_or_else(|e| panic!("inspect {}: {e}", path.display()));
            assert_eq!(info.format, *format, "{}", path.display());
            assert_eq!(info.server_major(), Some(server_major), "{info:?}");
            assert!(info.pg_dump_version.is_some(), "{info:?}");

            let target = names.database(&format!("dst{i}"));
            let report = restore(&info, &target, &programs)
                .unwrap_or_else(|e| panic!("restore of the {format} dump failed: {e}"));
            assert!(
                report
                    .skipped
                    .iter()
                    .any(|s| s.message.ends_with("_role\" does not exist")
                        && s.statement.starts_with("CREATE POLICY p ON public.t")),
                "{format}: the policy's role noise is not among {:#?}",
                report.skipped
            );
            if *format == DumpFormat::Plain {
                // Without --no-owner, the plain dump's OWNER TO and GRANT name the role too.
                for kind in [
                    "ALTER TABLE public.t OWNER TO",
                    "GRANT SELECT ON TABLE public.v",
                ] {
                    assert!(
                        report.skipped.iter().any(|s| s.statement.starts_with(kind)
                            && s.location.starts_with(&path.display().to_string())),
                        "plain: {kind} is not among {:#?}",
                        report.skipped
                    );
                }
            } else {
                assert!(
                    report
                        .skipped
                        .iter()
                        .all(|s| s.location.starts_with("TOC entry ")),
                    "{:#?}",
                    report.skipped
                );
            }
            assert_eq!(
                sql(
                    &target,
                    "SELECT count(*) || ' ' || obj_description('public.t'::regclass) FROM t"
                ),
                "2 kept",
                "{format}"
            );
            assert_eq!(sql(&target, "SELECT count(*) FROM v"), "2", "{format}");
        }
    }

    #[test]
    fn real_errors_fail_the_restore_with_their_location() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut names = Names::new("real");
        let dumps = dumps_naming_a_dropped_role(&mut names, dir.path());
        let programs = programs();
        for (i, (path, format)) in dumps.iter().enumerate() {
            let info = inspect_dump(path, &programs).expect("inspect");
            let target = names.database(&format!("dst{i}"));
            // An object in the way: its CREATE and its data fail for real.
            sql(&target, "CREATE TABLE t (other int NOT NULL)");
            let error = restore(&info, &target, &programs)
                .expect_err("a restore over an existing table must fail");
            let RestoreError::Errors {
                total,
                shown,
                skipped,
                ..
            } = &error
            else {
                panic!("{format}: expected Errors, got: {error}");
            };
            assert!(*total >= 2, "{format}: {error}");
            assert!(*skipped >= 1, "{format}: {error}");
            let create = shown
                .iter()
                .find(|f| f.message == "relation \"t\" already exists")
                .unwrap_or_else(|| panic!("{format}: no 'already exists' in {error}"));
            assert_eq!(create.statement, "CREATE TABLE public.t (", "{format}");
            if *format == DumpFormat::Plain {
                assert!(
                    create.location.starts_with(&format!("{}:", path.display())),
                    "{}",
                    create.location
                );
            } else {
                assert!(
                    create.location.starts_with("TOC entry ")
                        && create.location.contains("TABLE t"),
                    "{}",
                    create.location
                );
            }
            assert_eq!(error.exit_code(), 3);
            let text = error.to_string();
            assert!(text.contains("partially restored"), "{text}");
            assert!(text.contains(&create.location), "{text}");
        }
    }

    #[test]
    fn an_unreachable_server_is_a_failed_restore() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("tiny.sql");
        std::fs::write(&path, "SELECT 1;\n").expect("write the dump");
        let info = inspect_dump(&path, &programs()).expect("inspect");
        // Port 1 on the loopback: nothing listens there.
        let conn = ConnInfo::from_env(Some(
            "postgres://nobody@127.0.0.1:1/retort_scratch_x?connect_timeout=2",
        ))
        .expect("a valid URL");
        let error = restore(&info, &conn, &programs()).expect_err("no server");
        assert!(matches!(error, RestoreError::Failed { .. }), "{error}");
        assert_eq!(error.exit_code(), 3);
        assert!(
            error.to_string().contains("connection to server"),
            "{error}"
        );
    }
}
