//! Entry points for the fuzz targets under `fuzz/` (cargo-fuzz, feature `fuzzing`): one
//! function per kind of input a user hands retort, taking arbitrary bytes. Each must
//! return (with an error, for bad input) and never panic; the fuzzers check that, and the
//! unit test below replays the committed corpus (`fuzz/corpus/*/`) on every `make test`.
//!
//! Readers that take a file (`.pgpass`, `pg_service.conf`, `retort.toml`,
//! `targets.toml`, a dump) get the bytes written to a file of this process first.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// A revision file (`versions/NNNN_hex_slug.sql`) through the strict parser.
pub fn revision_file(data: &[u8]) {
    let path = Path::new("versions/0001_0123456789ab_fuzz.sql");
    if let Ok(revision) = crate::revision::parse_bytes(path, data) {
        // What a parsed revision is used for next: its sections split and rendered.
        for script in [Some(&revision.upgrade), revision.downgrade.as_ref()]
            .into_iter()
            .flatten()
        {
            let _ = crate::sql::split::split(&script.sql);
        }
        for batch in [&revision.upgrade_batch, &revision.downgrade_batch]
            .into_iter()
            .flatten()
        {
            // A one-column key's parameters replace the placeholders in place: positions
            // stay the file's.
            let bound = batch.bound_statement();
            if batch.key.len() == 1 {
                assert_eq!(bound.len(), batch.statement.sql.len());
            }
            let _ = batch.options();
        }
        let _ = crate::revision::parse_bytes(path, crate::revision::render(&revision).as_bytes());
    }
}

/// SQL through the statement splitter, both modes, and the position helpers.
pub fn statement_splitter(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for statement in crate::sql::split::split(text) {
        let end = statement.offset + statement.sql.len();
        assert!(end <= text.len(), "a statement beyond the text");
        let _ = crate::sql::split::line_column(text, end);
    }
    let _ = crate::sql::split::split_psql(text);
}

/// A connection string: a URL or `key=value` text, with an empty environment (no
/// service file, no password file).
pub fn connection_string(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let env = |name: &str| (name == "HOME").then(|| "/nonexistent/retort-fuzz".to_owned());
    if let Ok(info) = crate::db::ConnInfo::parse(Some(text), &env) {
        let _ = info.describe();
        let _ = info.libpq_env();
    }
}

/// A password file, looked up for one connection.
pub fn pgpass_file(data: &[u8]) {
    let path = scratch_file("pgpass", data);
    let _ = crate::db::connect::pgpass::lookup_passfile(&path, "db.example", 5432, "app", "u");
    if let Ok(text) = std::str::from_utf8(data) {
        for line in text.lines() {
            let _ = crate::db::connect::pgpass::pgpass_fields(line);
        }
    }
}

/// A connection service file, read for one service.
pub fn service_file(data: &[u8]) {
    let path = scratch_file("pg_service.conf", data);
    let _ = crate::db::connect::service::read_service(&path, "app");
}

/// A revision target (`head`, `0003+2`, a prefix, `-1`, ...) resolved on a small graph
/// with a branch and a merge, with and without a current state.
pub fn revision_target(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let graph = target_graph();
    let _ = graph.resolve(text, None);
    let _ = graph.resolve(text, Some(&[1]));
    let _ = graph.resolve(text, Some(&[1, 2]));
    let _ = graph.resolve_prefix(text);
}

/// `retort.toml`, loaded and resolved for every environment it names.
pub fn config_file(data: &[u8]) {
    let dir = scratch_dir().join("config");
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(crate::config::FILE_NAME);
    write_file(&path, data);
    let Ok(config) = crate::config::Config::load(&path) else {
        return;
    };
    let getenv = |_: &str| None;
    let _ = config.database(None, None, &getenv);
    for name in config.envs.keys() {
        if let Ok((settings, _, _)) = config.database(None, Some(name), &getenv) {
            let _ = crate::migrator::RunOptions::from_settings(&settings, &Default::default());
        }
    }
}

/// A fleet's `targets.toml`.
pub fn targets_file(data: &[u8]) {
    let path = scratch_file("targets.toml", data);
    let getenv = |name: &str| (name == "TENANT_URL").then(|| "postgres://u@h/db".to_owned());
    let _ = crate::fleet::targets::load_file(&path, &crate::db::VersionTables::default(), &getenv);
}

/// The start of a dump: the archive header reader, and the format and plain-header
/// readers on a file holding the bytes.
pub fn dump_header(data: &[u8]) {
    let _ = crate::dump::format::parse_archive_header(data);
    let path = scratch_file("dump", data);
    if crate::dump::format::detect_format(&path).is_ok() {
        let _ = crate::dump::format::plain_versions(&path);
    }
}

/// `versions/retort.sum`.
pub fn sum_file(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = crate::sum::SumFile::parse(Path::new("versions/retort.sum"), text);
    }
}

/// A fuzz target's entry point.
pub type Target = fn(&[u8]);

/// Every entry point by the name of its fuzz target (and corpus directory).
pub const TARGETS: &[(&str, Target)] = &[
    ("revision_file", revision_file),
    ("statement_splitter", statement_splitter),
    ("connection_string", connection_string),
    ("pgpass_file", pgpass_file),
    ("service_file", service_file),
    ("revision_target", revision_target),
    ("config_file", config_file),
    ("targets_file", targets_file),
    ("dump_header", dump_header),
    ("sum_file", sum_file),
];

fn scratch_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("retort-fuzz-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        dir
    })
}

/// `data` in the file `name` of this process's scratch directory (mode 0600, as a
/// password file must be), per thread so parallel tests do not share one.
fn scratch_file(name: &str, data: &[u8]) -> PathBuf {
    let thread = format!("{:?}", std::thread::current().id())
        .chars()
        .filter(char::is_ascii_digit)
        .collect::<String>();
    let path = scratch_dir().join(format!("{thread}-{name}"));
    write_file(&path, data);
    path
}

fn write_file(path: &Path, data: &[u8]) {
    use std::os::unix::fs::OpenOptionsExt as _;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path);
    if let Ok(mut file) = file {
        let _ = file.write_all(data);
    }
}

/// A base, two branches from it, and their merge.
fn target_graph() -> &'static crate::graph::RevisionGraph {
    static GRAPH: OnceLock<crate::graph::RevisionGraph> = OnceLock::new();
    GRAPH.get_or_init(|| {
        let revision = |id: &str, parents: &str| {
            let text = format!(
                "-- revision: {id}\n-- down_revision: {parents}\n-- message: m\n\n\
                 -- migrate:upgrade\nSELECT 1;\n\n-- migrate:downgrade\nSELECT 1;\n"
            );
            let path = PathBuf::from(format!("versions/{id}_m.sql"));
            crate::revision::parse_bytes(&path, text.as_bytes()).expect("a valid revision")
        };
        let revisions = vec![
            revision("0001_aaaaaaaaaaaa", ""),
            revision("0002_abbbbbbbbbbb", "0001_aaaaaaaaaaaa"),
            revision("0003_cccccccccccc", "0001_aaaaaaaaaaaa"),
            revision("0004_dddddddddddd", "0002_abbbbbbbbbbb, 0003_cccccccccccc"),
        ];
        crate::graph::RevisionGraph::from_revisions(Path::new("versions"), revisions)
            .expect("a valid graph")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed corpus (seeds and every input that once crashed a target) through
    /// each target: a regression test for every crash found.
    #[test]
    fn the_committed_corpus_runs_through_every_target() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
        let mut inputs = 0;
        for (name, target) in TARGETS {
            let dir = root.join(name);
            let entries = std::fs::read_dir(&dir)
                .unwrap_or_else(|e| panic!("{}: {e} (each target has a corpus)", dir.display()));
            for entry in entries {
                let path = entry.expect("a corpus entry").path();
                let data = std::fs::read(&path).expect("a corpus file");
                target(&data);
                inputs += 1;
            }
        }
        assert!(inputs >= TARGETS.len(), "{inputs} inputs");
    }
}
