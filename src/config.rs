//! Project configuration: `retort.toml`, found in the current directory or its parents.
//!
//! Paths in the file are relative to the file's directory, so `retort` behaves the same
//! from any subdirectory of a project, as git does.

use std::path::{Path, PathBuf};

/// The configuration file's name, searched for from the current directory upwards.
pub const FILE_NAME: &str = "retort.toml";

/// Why the configuration could not be loaded, or a database could not be chosen from it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// `retort.toml` exists but could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The configuration file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// `retort.toml` is not valid TOML, or has an unknown key or a value of the wrong type.
    #[error("{}: {message}; see the commented example written by `retort init`", path.display())]
    Parse {
        /// The configuration file.
        path: PathBuf,
        /// The TOML parser's message, on one line.
        message: String,
    },
    /// The current directory could not be determined (e.g. it was deleted).
    #[error("cannot determine the current directory: {0}")]
    CurrentDir(std::io::Error),
    /// `--env`/`RETORT_ENV` names an environment with no `[env.NAME]` table.
    #[error("environment `{name}` is not defined{}; define it as [env.{name}] in retort.toml", match file { Some(f) => format!(" in {}", f.display()), None => " (there is no retort.toml)".to_owned() })]
    UnknownEnv {
        /// The environment name asked for.
        name: String,
        /// The `retort.toml` searched; `None` when there is none.
        file: Option<PathBuf>,
    },
    /// An environment's `database_url_env` names a variable that is not set.
    #[error("environment `{env}` takes its URL from ${var}, which is not set; export it (or put it in .env)")]
    MissingUrlVar {
        /// The environment (`(top level)` for the file's top-level settings).
        env: String,
        /// The unset variable's name.
        var: String,
    },
    /// A timeout setting is not a PostgreSQL duration (see [`parse_duration`]).
    #[error("{key} = {value:?} is not a PostgreSQL duration; use e.g. \"500ms\", \"5s\", \"2min\", \"1h\"")]
    BadDuration {
        /// The setting (`lock_timeout`, `sql_lock_timeout`, `lock_retry_timeout` or
        /// `statement_timeout`).
        key: String,
        /// The value as written.
        value: String,
    },
}

/// Database settings; every key may also appear under `[env.NAME]`, where it wins.
#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// The URL itself (keep passwords out of it: PGPASSWORD or ~/.pgpass work).
    pub database_url: Option<String>,
    /// The name of an environment variable holding the URL (for secrets).
    pub database_url_env: Option<String>,
    /// Schema of the version tables [default: public].
    pub version_schema: Option<String>,
    /// [default: retort_version]
    pub version_table: Option<String>,
    /// [default: retort_history]
    pub history_table: Option<String>,
    /// How long a run waits for another run's lock [default: 60s].
    pub lock_timeout: Option<String>,
    /// `SET LOCAL lock_timeout` inside each revision [default: 2s; `0` waits forever].
    pub sql_lock_timeout: Option<String>,
    /// How long a revision whose locks were not granted within `sql_lock_timeout` is
    /// rolled back and tried again [default: 5min; `0` tries once].
    pub lock_retry_timeout: Option<String>,
    /// `SET LOCAL statement_timeout` inside each revision.
    pub statement_timeout: Option<String>,
}

impl DatabaseSettings {
    /// The version tables these settings name, retort's defaults for what they leave
    /// out.
    pub fn version_tables(&self) -> crate::db::VersionTables {
        let defaults = crate::db::VersionTables::default();
        crate::db::VersionTables {
            schema: self.version_schema.clone().unwrap_or(defaults.schema),
            version: self.version_table.clone().unwrap_or(defaults.version),
            history: self.history_table.clone().unwrap_or(defaults.history),
        }
    }

    /// `self` with `over`'s keys taking precedence.
    fn overlaid(&self, over: &DatabaseSettings) -> DatabaseSettings {
        fn pick(a: &Option<String>, b: &Option<String>) -> Option<String> {
            b.clone().or_else(|| a.clone())
        }
        DatabaseSettings {
            database_url: pick(&self.database_url, &over.database_url),
            database_url_env: pick(&self.database_url_env, &over.database_url_env),
            version_schema: pick(&self.version_schema, &over.version_schema),
            version_table: pick(&self.version_table, &over.version_table),
            history_table: pick(&self.history_table, &over.history_table),
            lock_timeout: pick(&self.lock_timeout, &over.lock_timeout),
            sql_lock_timeout: pick(&self.sql_lock_timeout, &over.sql_lock_timeout),
            lock_retry_timeout: pick(&self.lock_retry_timeout, &over.lock_retry_timeout),
            statement_timeout: pick(&self.statement_timeout, &over.statement_timeout),
        }
    }
}

/// Checks a PostgreSQL duration (`500ms`, `5s`, `2min`, `1h`, `1d`, or bare milliseconds)
/// and returns it in milliseconds.
pub fn parse_duration(key: &str, value: &str) -> Result<u64, ConfigError> {
    let bad = || ConfigError::BadDuration {
        key: key.to_owned(),
        value: value.to_owned(),
    };
    let text = value.trim();
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    let number: u64 = number.parse().map_err(|_| bad())?;
    let factor = match unit.trim() {
        "" | "ms" => 1,
        "s" => 1_000,
        "min" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(bad()),
    };
    number.checked_mul(factor).ok_or_else(bad)
}

/// The keys of `retort.toml` this version understands; unknown keys are errors, so a
/// typo never silently falls back to a default.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    versions: Option<PathBuf>,
    models: Option<PathBuf>,
    // Spelled out rather than `#[serde(flatten)]`: flatten disables deny_unknown_fields.
    database_url: Option<String>,
    database_url_env: Option<String>,
    version_schema: Option<String>,
    version_table: Option<String>,
    history_table: Option<String>,
    lock_timeout: Option<String>,
    sql_lock_timeout: Option<String>,
    lock_retry_timeout: Option<String>,
    statement_timeout: Option<String>,
    #[serde(default)]
    env: std::collections::BTreeMap<String, DatabaseSettings>,
    #[serde(default)]
    lint: LintSettings,
}

/// `[lint]`: which rules run and how loud they are.
#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LintSettings {
    /// Rule ids that do not run.
    #[serde(default)]
    pub disable: Vec<String>,
    /// `rule-id = "error" | "warning" | "info"`.
    #[serde(default)]
    pub severity: std::collections::BTreeMap<String, String>,
    /// Major version of the servers the revisions run on (rules depending on it assume
    /// a current server when unset).
    pub server_version: Option<u32>,
}

/// Where a project's files live.
#[derive(Debug, Clone)]
pub struct Config {
    /// The `retort.toml` in use, if any.
    pub file: Option<PathBuf>,
    /// The revision files' directory: `versions` in `retort.toml`, relative to the file's
    /// directory [default: `versions`].
    pub versions_dir: PathBuf,
    /// The model schema's directory: `models` in `retort.toml`, relative to the file's
    /// directory [default: `models`].
    pub models_dir: PathBuf,
    /// Top-level database settings.
    pub database: DatabaseSettings,
    /// Named environments (`[env.prod]`).
    pub envs: std::collections::BTreeMap<String, DatabaseSettings>,
    /// The `[lint]` table.
    pub lint: LintSettings,
}

/// Where the database URL came from (said in verbose output; never the URL itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlSource {
    /// `--database-url` on the command line.
    Flag,
    /// The `[env.NAME]` table chosen by `--env` or `RETORT_ENV` (its `database_url` or
    /// `database_url_env`); holds NAME.
    Env(String),
    /// The `DATABASE_URL` environment variable.
    DatabaseUrlVar,
    /// The top-level `database_url` or `database_url_env` of `retort.toml`.
    ConfigFile,
    /// Nothing given: libpq's PG* variables and defaults decide.
    Libpq,
}

impl Config {
    /// Finds and reads `retort.toml` from `start` upwards; defaults apply without one.
    pub fn discover(start: &Path) -> Result<Config, ConfigError> {
        let found = start
            .ancestors()
            .map(|dir| dir.join(FILE_NAME))
            .find(|candidate| candidate.is_file());
        match found {
            Some(path) => Config::load(&path),
            None => Ok(Config {
                file: None,
                versions_dir: start.join("versions"),
                models_dir: start.join("models"),
                database: DatabaseSettings::default(),
                envs: Default::default(),
                lint: LintSettings::default(),
            }),
        }
    }

    /// Finds the configuration for the process's current directory.
    pub fn discover_from_current_dir() -> Result<Config, ConfigError> {
        let cwd = std::env::current_dir().map_err(ConfigError::CurrentDir)?;
        let mut config = Config::discover(&cwd)?;
        // Paths below the current directory print as `versions/...`, like git's.
        for dir in [&mut config.versions_dir, &mut config.models_dir] {
            if let Ok(relative) = dir.strip_prefix(&cwd) {
                *dir = relative.to_owned();
            }
        }
        Ok(config)
    }

    /// Reads the `retort.toml` at `path`; relative paths in it are resolved from its
    /// directory.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let file: ConfigFile = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: parse_message(&text, &e),
        })?;
        let root = path.parent().unwrap_or(Path::new("."));
        Ok(Config {
            file: Some(path.to_owned()),
            versions_dir: root.join(file.versions.unwrap_or_else(|| "versions".into())),
            models_dir: root.join(file.models.unwrap_or_else(|| "models".into())),
            database: DatabaseSettings {
                database_url: file.database_url,
                database_url_env: file.database_url_env,
                version_schema: file.version_schema,
                version_table: file.version_table,
                history_table: file.history_table,
                lock_timeout: file.lock_timeout,
                sql_lock_timeout: file.sql_lock_timeout,
                lock_retry_timeout: file.lock_retry_timeout,
                statement_timeout: file.statement_timeout,
            },
            envs: file.env,
            lint: file.lint,
        })
    }

    /// The database settings for a run, and the URL with where it came from.
    ///
    /// Order: `--database-url`; then an environment chosen explicitly (`--env` or
    /// RETORT_ENV), because naming `prod` must never silently reach whatever
    /// DATABASE_URL a `.env` file left behind; then DATABASE_URL; then retort.toml;
    /// else nothing, and libpq's PG* variables decide.
    pub fn database(
        &self,
        flag_url: Option<&str>,
        env_name: Option<&str>,
        getenv: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(DatabaseSettings, Option<String>, UrlSource), ConfigError> {
        let settings = match env_name {
            Some(name) => {
                let env = self.envs.get(name).ok_or_else(|| ConfigError::UnknownEnv {
                    name: name.to_owned(),
                    file: self.file.clone(),
                })?;
                self.database.overlaid(env)
            }
            None => self.database.clone(),
        };
        for (key, value) in [
            ("lock_timeout", &settings.lock_timeout),
            ("sql_lock_timeout", &settings.sql_lock_timeout),
            ("lock_retry_timeout", &settings.lock_retry_timeout),
            ("statement_timeout", &settings.statement_timeout),
        ] {
            if let Some(value) = value {
                parse_duration(key, value)?;
            }
        }
        if let Some(url) = flag_url {
            return Ok((settings, Some(url.to_owned()), UrlSource::Flag));
        }
        let from_settings =
            |s: &DatabaseSettings, env: &str| -> Result<Option<String>, ConfigError> {
                if let Some(var) = &s.database_url_env {
                    return getenv(var)
                        .map(Some)
                        .ok_or_else(|| ConfigError::MissingUrlVar {
                            env: env.to_owned(),
                            var: var.clone(),
                        });
                }
                Ok(s.database_url.clone())
            };
        if let Some(name) = env_name {
            if let Some(env) = self.envs.get(name) {
                if let Some(url) = from_settings(env, name)? {
                    return Ok((settings, Some(url), UrlSource::Env(name.to_owned())));
                }
            }
        }
        if let Some(url) = getenv("DATABASE_URL").filter(|u| !u.is_empty()) {
            return Ok((settings, Some(url), UrlSource::DatabaseUrlVar));
        }
        if let Some(url) = from_settings(&self.database, "(top level)")? {
            return Ok((settings, Some(url), UrlSource::ConfigFile));
        }
        Ok((settings, None, UrlSource::Libpq))
    }
}

/// The TOML parser's message with where it applies, on one line. Not the parser's own
/// `Display`: that quotes the offending line, which may be a `database_url` holding a
/// password.
fn parse_message(text: &str, error: &toml::de::Error) -> String {
    let message = toml_message(error);
    match error.span() {
        Some(span) => {
            let before = text.get(..span.start).unwrap_or(text);
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
            format!("line {line}, column {column}: {message}")
        }
        None => message,
    }
}

/// A TOML error's message on one line, without the string value a type error quotes
/// (`invalid type: string "postgres://u:secret@h/db", expected a map`): it may be a URL
/// holding a password. Also for the fleet's targets file.
pub(crate) fn toml_message(error: &toml::de::Error) -> String {
    const STRING: &str = "string \"";
    let message = error.message().trim_end().replace('\n', " ");
    let mut out = String::with_capacity(message.len());
    let mut rest = message.as_str();
    while let Some(at) = rest.find(STRING) {
        out.push_str(&rest[..at + STRING.len() - 2]);
        // The value is written escaped (Debug): it ends at the first unescaped quote.
        let value = &rest[at + STRING.len()..];
        let mut escaped = false;
        let end = value.char_indices().find_map(|(i, c)| {
            let close = c == '"' && !escaped;
            escaped = c == '\\' && !escaped;
            close.then_some(i + 1)
        });
        rest = end.map_or("", |end| &value[end..]);
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_file_in_a_parent_and_resolves_paths_from_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(FILE_NAME), "versions = \"db/versions\"\n").expect("write");
        let nested = dir.path().join("a/b");
        std::fs::create_dir_all(&nested).expect("mkdir");
        let config = Config::discover(&nested).expect("config");
        assert_eq!(config.versions_dir, dir.path().join("db/versions"));
        assert_eq!(config.models_dir, dir.path().join("models"));
    }

    #[test]
    fn environments_choose_the_url_and_override_settings() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(FILE_NAME);
        std::fs::write(
            &path,
            "database_url = \"postgres://localhost/dev\"\nlock_timeout = \"5s\"\n\
             [env.prod]\ndatabase_url_env = \"PROD_URL\"\nlock_timeout = \"1min\"\n",
        )
        .expect("write");
        let config = Config::load(&path).expect("config");
        let vars = |k: &str| match k {
            "PROD_URL" => Some("postgres://prod/app".to_owned()),
            "DATABASE_URL" => Some("postgres://from-dotenv/x".to_owned()),
            _ => None,
        };
        let (settings, url, source) = config.database(None, Some("prod"), &vars).expect("prod");
        assert_eq!(url.as_deref(), Some("postgres://prod/app"));
        assert_eq!(source, UrlSource::Env("prod".into()));
        assert_eq!(settings.lock_timeout.as_deref(), Some("1min"));
        let (_, url, source) = config.database(None, None, &vars).expect("default");
        assert_eq!(url.as_deref(), Some("postgres://from-dotenv/x"));
        assert_eq!(source, UrlSource::DatabaseUrlVar);
        let (_, url, _) = config.database(None, None, &|_| None).expect("file");
        assert_eq!(url.as_deref(), Some("postgres://localhost/dev"));
        let (_, url, source) = config
            .database(Some("postgres://flag/db"), Some("prod"), &vars)
            .expect("flag");
        assert_eq!(
            (url.as_deref(), source),
            (Some("postgres://flag/db"), UrlSource::Flag)
        );
        let err = config
            .database(None, Some("staging"), &vars)
            .expect_err("unknown env");
        assert!(err.to_string().contains("[env.staging]"), "{err}");
        let err = config
            .database(None, Some("prod"), &|_| None)
            .expect_err("unset var");
        assert!(err.to_string().contains("PROD_URL"), "{err}");
    }

    #[test]
    fn durations_are_checked() {
        assert_eq!(parse_duration("k", "5s").expect("5s"), 5_000);
        assert_eq!(parse_duration("k", "250").expect("ms"), 250);
        assert_eq!(parse_duration("k", "2min").expect("min"), 120_000);
        assert!(parse_duration("k", "5 sec").is_err());
        assert!(parse_duration("k", "-1s").is_err());
    }

    #[test]
    fn unknown_keys_are_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(FILE_NAME);
        std::fs::write(&path, "version = \"x\"\n").expect("write");
        let err = Config::load(&path).expect_err("unknown key");
        assert!(err.to_string().contains("version"), "{err}");
    }

    #[test]
    fn parse_errors_name_the_place_but_never_quote_the_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(FILE_NAME);
        std::fs::write(
            &path,
            "versions = \"v\"\ndatabase_url = \"postgres://u:hunter2secret@h/db\" x\n",
        )
        .expect("write");
        let err = Config::load(&path).expect_err("bad toml").to_string();
        assert!(err.contains("line 2, column 50"), "{err}");
        assert!(!err.contains("hunter2secret"), "{err}");
    }

    #[test]
    fn type_errors_leave_the_string_value_out() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(FILE_NAME);
        std::fs::write(
            &path,
            "[env]\nprod = \"postgres://u:hunter2\\\"secret@h/db\"\nversions = \"v\"\n",
        )
        .expect("write");
        let err = Config::load(&path).expect_err("bad type").to_string();
        assert!(
            err.contains("line 2, column 8: invalid type: string, expected"),
            "{err}"
        );
        assert!(!err.contains("hunter2") && !err.contains("secret"), "{err}");
    }
}
