//! Where a fleet's targets come from and which of them a run takes: a `targets.toml`
//! file, a query against a control database, or the schemas of one database that match
//! a LIKE pattern; then `--only` and `--label` filters.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::db::{ConnInfo, DbError, VersionTables};

use super::FleetError;

/// One database (or one schema of a database) the fleet migrates.
#[derive(Debug, Clone)]
pub struct FleetTarget {
    /// Unique within the fleet; what events, reports and `--only` use.
    pub name: String,
    /// Where to connect: the database, the same for every schema target of it, so that
    /// they share connections ([`super::pool`] sets `search_path` to the schema at each
    /// checkout).
    pub conn: ConnInfo,
    /// The target's own version tables (inside its schema for a schema target), hence
    /// its own advisory lock.
    pub tables: VersionTables,
    /// The schema a schema target lives in (`schema` in the targets file or query, or the
    /// matched schema of `--schemas`); `None` for a whole database.
    pub schema: Option<String>,
    /// Labels that `--label` filters select on (`labels` in the targets file, a `text[]`
    /// column of the query); empty for `--schemas` targets.
    pub labels: Vec<String>,
}

impl FleetTarget {
    /// A target on `conn`; with a `schema`, the version tables move into that schema and
    /// unqualified names in the revisions resolve there (the pool sets the session's
    /// `search_path` to it).
    pub fn new(
        name: String,
        conn: ConnInfo,
        schema: Option<String>,
        labels: Vec<String>,
        defaults: &VersionTables,
    ) -> FleetTarget {
        let tables = match &schema {
            Some(schema) => VersionTables {
                schema: schema.clone(),
                ..defaults.clone()
            },
            None => defaults.clone(),
        };
        FleetTarget {
            name,
            conn,
            tables,
            schema,
            labels,
        }
    }

    /// `user@host:port/db` (plus the schema), safe to print: never the URL or password.
    pub fn describe(&self) -> String {
        match &self.schema {
            Some(schema) => format!("{} schema {schema}", self.conn.describe()),
            None => self.conn.describe(),
        }
    }
}

/// The layout of `targets.toml`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetsFile {
    #[serde(default)]
    targets: Vec<TargetEntry>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetEntry {
    name: String,
    /// A URL or libpq conninfo; keep passwords out of it (PGPASSWORD, ~/.pgpass, url_env).
    url: Option<String>,
    /// The name of an environment variable holding the URL, for secrets.
    url_env: Option<String>,
    schema: Option<String>,
    #[serde(default)]
    labels: Vec<String>,
}

/// 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// Reads `targets.toml`. Errors name the file and the line of the offending entry.
pub fn load_file(
    path: &Path,
    defaults: &VersionTables,
    getenv: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<FleetTarget>, FleetError> {
    let text = std::fs::read_to_string(path).map_err(|source| FleetError::ReadTargets {
        path: path.to_owned(),
        source,
    })?;
    let bad = |line: usize, message: String| FleetError::TargetsFile {
        path: path.to_owned(),
        line,
        message,
    };
    let file: TargetsFile = toml::from_str(&text).map_err(|e| {
        let line = e.span().map_or(1, |span| line_of(&text, span.start));
        // Not e.message() as it is: a type error quotes the value, maybe a URL.
        bad(line, crate::config::toml_message(&e))
    })?;
    // The line of each `[[targets]]` header, in order, to point at an entry whose values
    // are wrong (serde has no spans for values that parsed as TOML).
    let headers: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.trim_start().starts_with("[[targets]]"))
        .map(|(i, _)| i + 1)
        .collect();
    let mut seen = BTreeSet::new();
    let mut targets = Vec::with_capacity(file.targets.len());
    for (i, entry) in file.targets.into_iter().enumerate() {
        let line = headers.get(i).copied().unwrap_or(1);
        if entry.name.trim().is_empty() {
            return Err(bad(line, "the target's name is empty".into()));
        }
        if !seen.insert(entry.name.clone()) {
            return Err(bad(
                line,
                format!(
                    "a second target is named `{}`; names must be unique",
                    entry.name
                ),
            ));
        }
        let url = match (&entry.url, &entry.url_env) {
            (Some(url), None) => url.clone(),
            (None, Some(var)) => getenv(var).ok_or_else(|| {
                bad(
                    line,
                    format!(
                        "target `{}` takes its URL from ${var}, which is not set",
                        entry.name
                    ),
                )
            })?,
            _ => {
                return Err(bad(
                    line,
                    format!(
                        "target `{}` needs exactly one of url = \"...\" or url_env = \"VAR\"",
                        entry.name
                    ),
                ))
            }
        };
        // ConnectError's messages never repeat the URL, so the password stays private.
        let conn = ConnInfo::parse(Some(&url), getenv)
            .map_err(|e| bad(line, format!("target `{}`: {e}", entry.name)))?;
        if entry.schema.as_deref().is_some_and(|s| s.trim().is_empty()) {
            return Err(bad(
                line,
                format!("target `{}` has an empty schema", entry.name),
            ));
        }
        targets.push(FleetTarget::new(
            entry.name,
            conn,
            entry.schema,
            entry.labels,
            defaults,
        ));
    }
    if targets.is_empty() {
        return Err(bad(
            1,
            "no [[targets]] entries; add `[[targets]]` tables with name and url".into(),
        ));
    }
    Ok(targets)
}

/// Runs `query` on the control database: columns `name` and `url` (the first two
/// columns when not named so), and optionally `schema` (text) and `labels` (text[]).
pub async fn from_query(
    control: &ConnInfo,
    query: &str,
    defaults: &VersionTables,
    getenv: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<FleetTarget>, FleetError> {
    let client = control
        .connect("retort fleet")
        .await
        .map_err(|e| FleetError::Db(DbError::Connect(e)))?;
    let rows = client
        .query(query, &[])
        .await
        .map_err(|e| FleetError::Db(DbError::query("run --targets-query", e)))?;
    let Some(first) = rows.first() else {
        return Ok(Vec::new());
    };
    let columns = first.columns();
    let find = |name: &str| columns.iter().position(|c| c.name() == name);
    let (name_at, url_at) = match (find("name"), find("url")) {
        (Some(n), Some(u)) => (n, u),
        _ if columns.len() >= 2 => (0, 1),
        _ => {
            return Err(FleetError::Query(
                "--targets-query must return the columns name and url".into(),
            ))
        }
    };
    let (schema_at, labels_at) = (find("schema"), find("labels"));
    let mut seen = BTreeSet::new();
    let mut targets = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        let text = |at: usize| -> Result<Option<String>, FleetError> {
            row.try_get::<_, Option<String>>(at).map_err(|_| {
                FleetError::Query(format!(
                    "--targets-query: column `{}` must be text",
                    columns[at].name()
                ))
            })
        };
        let row_no = i + 1;
        let name = text(name_at)?.ok_or_else(|| {
            FleetError::Query(format!("--targets-query: row {row_no} has a null name"))
        })?;
        let url = text(url_at)?.ok_or_else(|| {
            FleetError::Query(format!(
                "--targets-query: target `{name}` (row {row_no}) has a null url"
            ))
        })?;
        if !seen.insert(name.clone()) {
            return Err(FleetError::Query(format!(
                "--targets-query: a second row is named `{name}`; names must be unique"
            )));
        }
        let conn = ConnInfo::parse(Some(&url), getenv)
            .map_err(|e| FleetError::Query(format!("--targets-query: target `{name}`: {e}")))?;
        let schema = match schema_at {
            Some(at) => text(at)?,
            None => None,
        };
        let labels = match labels_at {
            Some(at) => row
                .try_get::<_, Option<Vec<String>>>(at)
                .map_err(|_| {
                    FleetError::Query("--targets-query: column `labels` must be text[]".into())
                })?
                .unwrap_or_default(),
            None => Vec::new(),
        };
        targets.push(FleetTarget::new(name, conn, schema, labels, defaults));
    }
    Ok(targets)
}

/// Every schema of `conn`'s database whose name matches the LIKE `pattern`, one target
/// each, named after the schema.
pub async fn from_schemas(
    conn: &ConnInfo,
    pattern: &str,
    defaults: &VersionTables,
) -> Result<Vec<FleetTarget>, FleetError> {
    let client = conn
        .connect("retort fleet")
        .await
        .map_err(|e| FleetError::Db(DbError::Connect(e)))?;
    let rows = client
        .query(
            "SELECT nspname::text FROM pg_namespace WHERE nspname LIKE $1 \
             AND nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema' ORDER BY 1",
            &[&pattern],
        )
        .await
        .map_err(|e| FleetError::Db(DbError::query("list the schemas", e)))?;
    Ok(rows
        .iter()
        .map(|row| {
            let schema: String = row.get(0);
            FleetTarget::new(
                schema.clone(),
                conn.clone(),
                Some(schema),
                Vec::new(),
                defaults,
            )
        })
        .collect())
}

/// Keeps the targets named by `only` (all when empty) that carry every label in
/// `labels`. A name in `only` that matches no target is an error: a typo must not turn
/// into a run that silently does nothing.
pub fn filter(
    targets: Vec<FleetTarget>,
    only: &[String],
    labels: &[String],
) -> Result<Vec<FleetTarget>, FleetError> {
    let names: BTreeSet<&str> = targets.iter().map(|t| t.name.as_str()).collect();
    let unknown: Vec<String> = only
        .iter()
        .filter(|n| !names.contains(n.as_str()))
        .cloned()
        .collect();
    if !unknown.is_empty() {
        return Err(FleetError::UnknownTargets {
            names: unknown,
            known: targets.len(),
        });
    }
    Ok(targets
        .into_iter()
        .filter(|t| only.is_empty() || only.contains(&t.name))
        .filter(|t| labels.iter().all(|l| t.labels.contains(l)))
        .collect())
}

/// The default targets file: `targets.toml` in the current directory.
pub fn default_file() -> PathBuf {
    PathBuf::from("targets.toml")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("targets.toml");
        std::fs::write(&path, text).expect("write");
        (dir, path)
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn loads_targets_with_schema_and_labels() {
        let (_dir, path) = write(
            "[[targets]]\nname = \"a\"\nurl = \"postgres://u:secret@h:5433/a\"\nlabels = [\"eu\"]\n\n\
             [[targets]]\nname = \"b\"\nurl = \"postgres://u@h/b\"\nschema = \"tenant b\"\n",
        );
        let targets = load_file(&path, &VersionTables::default(), &no_env).expect("load");
        assert_eq!(targets.len(), 2);
        assert_eq!(targets[0].describe(), "u@h:5433/a");
        assert_eq!(targets[0].tables.schema, "public");
        assert_eq!(targets[0].labels, ["eu"]);
        assert_eq!(targets[1].tables.schema, "tenant b");
        assert_eq!(targets[1].describe(), "u@h:5432/b schema tenant b");
        assert!(!format!("{:?}", targets[0]).contains("secret"));
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let (_dir, path) = write("[[targets]]\nname = \"a\"\nurl = \"postgres://h/a\"\nport = 5\n");
        let err = load_file(&path, &VersionTables::default(), &no_env)
            .expect_err("unknown key")
            .to_string();
        assert!(err.contains("targets.toml:4:"), "{err}");

        let (_dir, path) = write(
            "[[targets]]\nname = \"a\"\nurl = \"postgres://h/a\"\n\n[[targets]]\nname = \"a\"\nurl = \"postgres://h/b\"\n",
        );
        let err = load_file(&path, &VersionTables::default(), &no_env)
            .expect_err("duplicate")
            .to_string();
        assert!(
            err.contains("targets.toml:5:") && err.contains("`a`"),
            "{err}"
        );

        let (_dir, path) = write(
            "[[targets]]\nname = \"a\"\nurl = \"postgres://u:hunter2secret@h/a?sslmode=bogus\"\n",
        );
        let err = load_file(&path, &VersionTables::default(), &no_env)
            .expect_err("bad url")
            .to_string();
        assert!(err.contains("targets.toml:1:"), "{err}");
        // A distinctive password: the temporary directory's random name is in the text.
        assert!(!err.contains("hunter2secret"), "{err}");
    }

    #[test]
    fn filters_by_name_and_label() {
        let (_dir, path) = write(
            "[[targets]]\nname = \"a\"\nurl = \"postgres://h/a\"\nlabels = [\"eu\", \"big\"]\n\
             [[targets]]\nname = \"b\"\nurl = \"postgres://h/b\"\nlabels = [\"eu\"]\n\
             [[targets]]\nname = \"c\"\nurl = \"postgres://h/c\"\n",
        );
        let all = load_file(&path, &VersionTables::default(), &no_env).expect("load");
        let names = |t: Vec<FleetTarget>| t.into_iter().map(|t| t.name).collect::<Vec<_>>();
        assert_eq!(
            names(filter(all.clone(), &[], &[]).expect("all")),
            ["a", "b", "c"]
        );
        assert_eq!(
            names(filter(all.clone(), &[], &["eu".into()]).expect("eu")),
            ["a", "b"]
        );
        assert_eq!(
            names(filter(all.clone(), &[], &["eu".into(), "big".into()]).expect("both")),
            ["a"]
        );
        assert_eq!(
            names(filter(all.clone(), &["c".into()], &[]).expect("only")),
            ["c"]
        );
        assert!(filter(all, &["nope".into()], &[]).is_err());
    }
}
