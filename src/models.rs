//! Declarative models: `models/*.sql`, plain PostgreSQL DDL describing the schema the
//! application wants, loaded into a (scratch) database in lexical file order so the
//! catalog can read them back as a [`crate::catalog::Schema`].
//!
//! Statements run one by one (pipelined), so the first failing one is reported at its
//! file, line and column with PostgreSQL's message, as revision errors are.
//!
//! A common model is `pg_dump --schema-only` of production saved as `models/schema.sql`,
//! so a model file is read as psql would read it, and what only makes sense on the dumped
//! server is left out rather than failing the load:
//! - the meta-commands pg_dump writes: `\restrict` / `\unrestrict` and a `\connect`
//!   that stays in one database; any other meta-command is an error at its line;
//! - statements that fail only because they name roles (`OWNER TO`, `GRANT`, policies)
//!   or privileges this server lacks, judged as `restore-dump` judges them, counted in
//!   [`Loaded::skipped_roles`] (like `restore-dump`, this leaves out a policy `TO` a
//!   missing role whole: create the role on the scratch server to keep it);
//! - `CREATE SCHEMA public` where the new database has one already, a `--create`
//!   dump's statements about the database itself, and `SET`s of parameters this
//!   server does not know (a newer server's dump).

use std::fmt;
use std::path::{Path, PathBuf};

use futures_util::future::join_all;
use tokio_postgres::error::ErrorPosition;
use tokio_postgres::Client;

use crate::db::{describe_pg_error, write_caret};
use crate::dump::is_noise;
use crate::sql::split;

/// Why the models could not be read or loaded into the database.
#[derive(Debug, thiserror::Error)]
pub enum ModelsError {
    /// The models directory could not be listed.
    #[error("cannot read the models in {}: {source}", dir.display())]
    ReadDir {
        /// The models directory.
        dir: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A model file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The model file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The models directory holds no `.sql` file.
    #[error(
        "{} holds no .sql files; put the desired schema there as CREATE statements \
         (`retort init` writes an example), or point retort.toml's `models` at them",
        dir.display()
    )]
    Empty {
        /// The models directory.
        dir: PathBuf,
    },
    /// PostgreSQL rejected a model statement.
    #[error("{0}")]
    Statement(Box<ModelFailure>),
    /// A psql meta-command (or psql-fed COPY data) that a model load cannot honour.
    #[error("{0}")]
    MetaCommand(Box<MetaFailure>),
    /// A database error not tied to a statement (or a client error), described by
    /// [`describe_pg_error`].
    #[error("loading the models failed: {0}")]
    Query(String),
}

impl ModelsError {
    /// 2 for a problem in the files (a bad statement included), 3 for the database.
    pub fn exit_code(&self) -> u8 {
        match self {
            ModelsError::Query(_) => 3,
            _ => 2,
        }
    }
}

/// A model statement PostgreSQL rejected, located in its file.
#[derive(Debug)]
pub struct ModelFailure {
    /// The model file.
    pub path: PathBuf,
    /// 1-based line of the error position (the statement's start when PostgreSQL gives
    /// none).
    pub line: usize,
    /// 1-based column of that position, in characters.
    pub column: usize,
    /// That line of the file, for showing under a caret.
    pub line_text: String,
    /// The SQLSTATE (e.g. `42P01`).
    pub code: String,
    /// PostgreSQL's primary message.
    pub message: String,
    /// PostgreSQL's DETAIL, if it sent one.
    pub detail: Option<String>,
    /// PostgreSQL's HINT, if it sent one.
    pub hint: Option<String>,
}

impl fmt::Display for ModelFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}:{}:{}: this model statement failed",
            self.path.display(),
            self.line,
            self.column
        )?;
        writeln!(f, "  ERROR {}: {}", self.code, self.message)?;
        write_caret(f, self.line, &self.line_text, self.column)?;
        if let Some(detail) = &self.detail {
            write!(f, "\n  detail: {detail}")?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        write!(
            f,
            "\nmodels are loaded in file-name order: a statement may only use what earlier \
             files and statements created"
        )
    }
}

/// A psql meta-command in a model file that cannot be honoured, or a `COPY ... FROM
/// stdin` whose rows only psql could feed.
#[derive(Debug)]
pub struct MetaFailure {
    /// The model file.
    pub path: PathBuf,
    /// 1-based line of the meta-command (or statement) in it.
    pub line: usize,
    /// That line, for showing.
    pub line_text: String,
    /// What is wrong and what to do.
    pub problem: String,
}

impl fmt::Display for MetaFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {}\n  {} | {}",
            self.path.display(),
            self.line,
            self.problem,
            self.line,
            self.line_text
        )
    }
}

/// The model files of `dir`, in lexical order.
pub fn model_files(dir: &Path) -> Result<Vec<PathBuf>, ModelsError> {
    let entries = std::fs::read_dir(dir).map_err(|source| ModelsError::ReadDir {
        dir: dir.to_path_buf(),
        source,
    })?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| ModelsError::ReadDir {
            dir: dir.to_path_buf(),
            source,
        })?;
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "sql") && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(ModelsError::Empty {
            dir: dir.to_path_buf(),
        });
    }
    Ok(files)
}

/// What was loaded.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    /// Model files (or texts) loaded.
    pub files: usize,
    /// Statements sent to the server, those then skipped as role noise or unknown
    /// settings included.
    pub statements: usize,
    /// Statements that failed only because they name roles this server lacks (owners,
    /// grantees, policy roles) or hand out privileges it cannot: left out, as
    /// `restore-dump` leaves them out, because a dump of production names production's
    /// roles and the models are about the schema.
    pub skipped_roles: usize,
    /// `CREATE DATABASE` / `ALTER DATABASE` / `COMMENT ON DATABASE` of the database a
    /// `pg_dump --create` dump then `\connect`s to: the models load into a scratch
    /// database instead.
    pub skipped_database: usize,
    /// `SET`s of parameters this server does not know, from a newer server's dump.
    pub skipped_settings: usize,
}

impl Loaded {
    /// One line for the user about what was left out, when anything was.
    pub fn skipped_summary(&self) -> Option<String> {
        let mut parts = Vec::new();
        if self.skipped_roles > 0 {
            parts.push(format!(
                "skipped {} owner/privilege statement(s) naming roles this server lacks",
                self.skipped_roles
            ));
        }
        if self.skipped_database > 0 {
            parts.push(format!(
                "skipped {} statement(s) about the dumped database itself (the models load \
                 into a scratch database)",
                self.skipped_database
            ));
        }
        if self.skipped_settings > 0 {
            parts.push(format!(
                "skipped {} SET(s) of parameters this server does not know",
                self.skipped_settings
            ));
        }
        (!parts.is_empty()).then(|| format!("models: {}", parts.join("; ")))
    }
}

/// Runs every statement of the models in `dir` on `client`.
pub async fn load(dir: &Path, client: &Client) -> Result<Loaded, ModelsError> {
    let files = model_files(dir)?;
    let mut loaded = Loaded::default();
    for path in &files {
        let text = std::fs::read_to_string(path).map_err(|source| ModelsError::Read {
            path: path.clone(),
            source,
        })?;
        load_text(path, &text, client, &mut loaded).await?;
    }
    Ok(loaded)
}

/// Runs the statements of one model text on `client`, adding to `loaded`; `path` names
/// it in errors. The text may be a plain `pg_dump` (the module documentation says what
/// is skipped).
pub async fn load_text(
    path: &Path,
    text: &str,
    client: &Client,
    loaded: &mut Loaded,
) -> Result<(), ModelsError> {
    let pieces = split::split_psql(text);
    refuse_copy_data(path, text, &pieces)?;
    let connected = connected_database(path, text, &pieces)?;
    let mut statements = Vec::new();
    for piece in pieces {
        if let split::Piece::Sql(statement) = piece {
            if connected
                .as_deref()
                .is_some_and(|db| is_about_database(statement.sql, db))
            {
                loaded.skipped_database += 1;
            } else {
                statements.push(statement);
            }
        }
    }
    // Pipelined: sent together, executed in order, one round trip per file instead of
    // per statement (11,000 statements for a 5,000-table model). Statements after a
    // failing one still run, so role noise anywhere costs nothing; only the first real
    // failure is reported, and the database is a scratch one.
    let results = join_all(statements.iter().map(|s| client.batch_execute(s.sql))).await;
    for (statement, result) in statements.iter().zip(results) {
        let Err(error) = result else { continue };
        match error.as_db_error() {
            Some(db) if is_noise(db.message(), statement.sql) => loaded.skipped_roles += 1,
            // pg_dump writes it for a public schema that was dropped and created again;
            // every new database has one already.
            Some(db) if db.code().code() == "42P06" && creates_public(statement.sql) => {}
            // A newer pg_dump sets what an older server lacks (PostgreSQL 17's
            // transaction_timeout); such a session setting does not shape the schema.
            Some(db)
                if db.code().code() == "42704" && leading_words(statement.sql, 1) == ["set"] =>
            {
                loaded.skipped_settings += 1;
            }
            _ => return Err(locate(path, text, statement, error)),
        }
    }
    // A dump's settings are for the dump: its empty search_path would make the next
    // model file's unqualified CREATE TABLE fail ("no schema has been selected").
    if is_pg_dump(text) {
        client
            .batch_execute("RESET ALL")
            .await
            .map_err(|e| ModelsError::Query(describe_pg_error(&e)))?;
    }
    loaded.statements += statements.len();
    loaded.files += 1;
    Ok(())
}

/// Whether `text` was written by pg_dump, which says so in its header.
fn is_pg_dump(text: &str) -> bool {
    text.lines()
        .take(64)
        .any(|line| line.starts_with("-- Dumped by pg_dump version "))
}

/// Checks the psql meta-commands of a model text and returns the database its
/// `\connect`s name, if any. `\restrict` / `\unrestrict` (pg_dump since its August 2025
/// minor releases) keep psql from running meta-commands that a malicious dumped server
/// could have smuggled into the dump; nothing here runs any, so they can be ignored. A
/// `\connect` is harmless as long as the text stays in one database. Anything else
/// would need psql itself, and is refused.
fn connected_database(
    path: &Path,
    text: &str,
    pieces: &[split::Piece<'_>],
) -> Result<Option<String>, ModelsError> {
    let mut connected: Option<String> = None;
    for piece in pieces {
        let split::Piece::Meta(meta) = piece else {
            continue;
        };
        let refuse = |problem: String| refuse_at(path, text, meta.offset, problem);
        if meta.in_statement {
            return Err(refuse(format!(
                "the psql meta-command \\{} comes in the middle of a statement; end the \
                 statement with `;` first, or remove the meta-command",
                meta.name
            )));
        }
        match meta.name {
            "restrict" | "unrestrict" => {}
            "connect" | "c" => {
                let Some(target) = connect_target(meta.args) else {
                    continue;
                };
                match &connected {
                    Some(earlier) if *earlier != target => {
                        return Err(refuse(format!(
                            "\\{} switches to database {target:?} after {earlier:?}: the models \
                             describe one database and load into one scratch database; \
                             keep one database's statements in the models (pg_dump one \
                             database)",
                            meta.name
                        )));
                    }
                    _ => connected = Some(target),
                }
            }
            other => {
                return Err(refuse(format!(
                    "the psql meta-command \\{other} cannot run here: models are sent to the \
                     server statement by statement, without psql; remove the line (or run the \
                     file with psql into a database and use `pg_dump --schema-only` of that \
                     as the model)"
                )));
            }
        }
    }
    Ok(connected)
}

/// The error for what psql would do at byte `offset` of `text` but a model load cannot.
fn refuse_at(path: &Path, text: &str, offset: usize, problem: String) -> ModelsError {
    let line = split::line_column(text, offset).0;
    ModelsError::MetaCommand(Box::new(MetaFailure {
        path: path.to_path_buf(),
        line,
        line_text: text
            .split('\n')
            .nth(line - 1)
            .unwrap_or("")
            .trim_end()
            .to_owned(),
        problem,
    }))
}

/// A dump with data has `COPY ... FROM stdin` followed by rows that psql feeds to the
/// server; sent as statements, the rows would fail one by one with baffling messages.
fn refuse_copy_data(
    path: &Path,
    text: &str,
    pieces: &[split::Piece<'_>],
) -> Result<(), ModelsError> {
    for piece in pieces {
        let split::Piece::Sql(statement) = piece else {
            continue;
        };
        let upper = statement.sql.to_ascii_uppercase();
        if leading_words(statement.sql, 1) == ["copy"] && upper.contains(" FROM STDIN") {
            return Err(refuse_at(
                path,
                text,
                statement.offset,
                "COPY ... FROM stdin: the file holds data as well as the schema, which only \
                 psql can feed to the server; models hold the schema alone: make the dump \
                 with `pg_dump --schema-only`"
                    .to_owned(),
            ));
        }
    }
    Ok(())
}

/// The database a `\connect` (or `\c`) switches to, normalized as psql does (an
/// unquoted name is folded to lower case), or `None` when it keeps the current one.
/// pg_dump writes `\connect NAME` for a plain name and
/// `\connect -reuse-previous=on "dbname='NAME'"` for any other.
fn connect_target(args: &str) -> Option<String> {
    let first = psql_words(args)
        .into_iter()
        .find(|(word, quoted)| *quoted || !word.starts_with("-reuse-previous"))?;
    let (word, quoted) = first;
    if !quoted && word == "-" {
        return None;
    }
    if word.contains('=') {
        return conninfo_dbname(&word);
    }
    Some(if quoted { word } else { word.to_lowercase() })
}

/// psql's arguments of a meta-command: words split at whitespace, `"..."` keeping
/// spaces (and `""` a quote), `'...'` too; each with whether any part was quoted.
fn psql_words(args: &str) -> Vec<(String, bool)> {
    let mut words = Vec::new();
    let mut chars = args.chars().peekable();
    loop {
        while chars.next_if(char::is_ascii_whitespace).is_some() {}
        if chars.peek().is_none() {
            return words;
        }
        let (mut word, mut quoted) = (String::new(), false);
        while let Some(c) = chars.next_if(|c| !c.is_ascii_whitespace()) {
            if c == '"' || c == '\'' {
                quoted = true;
                while let Some(inner) = chars.next() {
                    if inner == c && chars.next_if_eq(&c).is_none() {
                        break;
                    }
                    word.push(inner);
                }
            } else {
                word.push(c);
            }
        }
        words.push((word, quoted));
    }
}

/// The `dbname` of a libpq conninfo string (`dbname='a b' host=h`).
fn conninfo_dbname(conninfo: &str) -> Option<String> {
    let at = conninfo.find("dbname")?;
    let rest = conninfo[at + "dbname".len()..].trim_start();
    let rest = rest.strip_prefix('=')?.trim_start();
    let mut value = String::new();
    if let Some(quoted) = rest.strip_prefix('\'') {
        let mut chars = quoted.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => value.extend(chars.next()),
                '\'' => break,
                c => value.push(c),
            }
        }
    } else {
        value.extend(rest.chars().take_while(|c| !c.is_ascii_whitespace()));
    }
    Some(value)
}

/// The leading words of a statement, each an unquoted word folded to lower case or a
/// quoted identifier as written: enough to tell what a statement is about.
fn leading_words(sql: &str, count: usize) -> Vec<String> {
    let mut words = Vec::new();
    let mut chars = sql.chars().peekable();
    while words.len() < count {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        match chars.peek() {
            None => break,
            Some('"') => {
                chars.next();
                let mut word = String::new();
                while let Some(c) = chars.next() {
                    if c == '"' && chars.next_if_eq(&'"').is_none() {
                        break;
                    }
                    word.push(c);
                }
                words.push(word);
            }
            Some(_) => {
                let mut word = String::new();
                while let Some(c) = chars.next_if(|c| c.is_alphanumeric() || *c == '_') {
                    word.extend(c.to_lowercase());
                }
                if word.is_empty() {
                    break;
                }
                words.push(word);
            }
        }
    }
    words
}

/// `CREATE DATABASE db`, `ALTER DATABASE db ...`, `COMMENT ON DATABASE db ...`.
fn is_about_database(sql: &str, database: &str) -> bool {
    let words = leading_words(sql, 4);
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    matches!(
        words.as_slice(),
        ["create" | "alter", "database", name, ..] | ["comment", "on", "database", name]
            if *name == database
    )
}

/// `CREATE SCHEMA public` (also with `AUTHORIZATION role`).
fn creates_public(sql: &str) -> bool {
    let words = leading_words(sql, 4);
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    matches!(
        words.as_slice(),
        ["create", "schema", "public"] | ["create", "schema", "public", "authorization"]
    )
}

fn locate(
    path: &Path,
    text: &str,
    statement: &split::Statement<'_>,
    error: tokio_postgres::Error,
) -> ModelsError {
    let Some(db) = error.as_db_error() else {
        return ModelsError::Query(describe_pg_error(&error));
    };
    let within = match db.position() {
        Some(ErrorPosition::Original(position)) => {
            split::char_position_to_byte(statement.sql, *position)
        }
        _ => 0,
    };
    let (line, column) = split::line_column(text, statement.offset + within);
    ModelsError::Statement(Box::new(ModelFailure {
        path: path.to_path_buf(),
        line,
        column,
        line_text: text.split('\n').nth(line - 1).unwrap_or("").to_owned(),
        code: db.code().code().to_owned(),
        message: db.message().to_owned(),
        detail: db.detail().map(str::to_owned),
        hint: db.hint().map(str::to_owned),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_targets_are_read_as_psql_reads_them() {
        assert_eq!(connect_target("prod").as_deref(), Some("prod"));
        assert_eq!(connect_target("Prod").as_deref(), Some("prod"));
        assert_eq!(connect_target("\"Prod\"").as_deref(), Some("Prod"));
        assert_eq!(
            connect_target("-reuse-previous=on \"dbname='My Db'\"").as_deref(),
            Some("My Db")
        );
        assert_eq!(
            connect_target("-reuse-previous=on \"dbname='it\\'s'\"").as_deref(),
            Some("it's")
        );
        assert_eq!(connect_target(""), None);
        assert_eq!(connect_target("- other_user"), None);
    }

    #[test]
    fn statements_about_the_database_and_public_are_recognized() {
        assert!(is_about_database(
            "CREATE DATABASE prod WITH TEMPLATE = template0",
            "prod"
        ));
        assert!(is_about_database(
            "ALTER DATABASE \"My Db\" OWNER TO x",
            "My Db"
        ));
        assert!(is_about_database("COMMENT ON DATABASE prod IS 'p'", "prod"));
        assert!(!is_about_database("CREATE DATABASE other", "prod"));
        assert!(!is_about_database(
            "CREATE TABLE database (prod int)",
            "prod"
        ));
        assert!(creates_public("CREATE SCHEMA public"));
        assert!(creates_public(
            "create schema \"public\" AUTHORIZATION pg_database_owner"
        ));
        assert!(!creates_public("CREATE SCHEMA public_two"));
        assert!(!creates_public("CREATE SCHEMA \"Public\""));
    }
}
