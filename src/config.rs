//! Project configuration: `retort.toml`, found in the current directory or its parents.
//!
//! Paths in the file are relative to the file's directory, so `retort` behaves the same
//! from any subdirectory of a project, as git does.

use std::path::{Path, PathBuf};

pub const FILE_NAME: &str = "retort.toml";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {message}; see the commented example written by `retort init`", path.display())]
    Parse { path: PathBuf, message: String },
    #[error("cannot determine the current directory: {0}")]
    CurrentDir(std::io::Error),
}

/// The keys of `retort.toml` this version understands; unknown keys are errors, so a
/// typo never silently falls back to a default.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    versions: Option<PathBuf>,
    models: Option<PathBuf>,
}

/// Where a project's files live.
#[derive(Debug, Clone)]
pub struct Config {
    /// The `retort.toml` in use, if any.
    pub file: Option<PathBuf>,
    pub versions_dir: PathBuf,
    pub models_dir: PathBuf,
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

    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let file: ConfigFile = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string().trim_end().replace('\n', " "),
        })?;
        let root = path.parent().unwrap_or(Path::new("."));
        Ok(Config {
            file: Some(path.to_owned()),
            versions_dir: root.join(file.versions.unwrap_or_else(|| "versions".into())),
            models_dir: root.join(file.models.unwrap_or_else(|| "models".into())),
        })
    }
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
    fn unknown_keys_are_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(FILE_NAME);
        std::fs::write(&path, "version = \"x\"\n").expect("write");
        let err = Config::load(&path).expect_err("unknown key");
        assert!(err.to_string().contains("version"), "{err}");
    }
}
