//! Revisions compiled into an application: what [`embed_migrations!`](crate::embed_migrations)
//! expands to, and how a [`Migrator`](crate::Migrator) is built from it.
//!
//! The macro reads the versions directory when the application is compiled and
//! refuses to build when `retort.sum` disagrees with the files, so a binary can only
//! carry revisions that `retort verify --files` would accept. The text is kept as is;
//! [`Migrator::from_embedded`](crate::Migrator::from_embedded) parses it at start-up
//! with the same parser the command line uses.

/// One revision file embedded at compile time.
#[derive(Debug, Clone, Copy)]
pub struct EmbeddedFile {
    name: &'static str,
    text: &'static str,
}

impl EmbeddedFile {
    /// A file `name` (e.g. `0001_5f2a9c1e7b3d_create_users.sql`) with its text.
    pub const fn new(name: &'static str, text: &'static str) -> EmbeddedFile {
        EmbeddedFile { name, text }
    }

    /// The file's name in the versions directory.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The file's text as it was when the application was built.
    pub fn text(&self) -> &'static str {
        self.text
    }
}

/// A versions directory embedded at compile time: its revision files and
/// `retort.sum`.
#[derive(Debug, Clone, Copy)]
pub struct EmbeddedMigrations {
    dir: &'static str,
    files: &'static [EmbeddedFile],
    sum: &'static str,
}

impl EmbeddedMigrations {
    /// What the macro builds; `dir` is the directory as named in the macro call, used
    /// to name files in errors.
    pub const fn new(
        dir: &'static str,
        files: &'static [EmbeddedFile],
        sum: &'static str,
    ) -> EmbeddedMigrations {
        EmbeddedMigrations { dir, files, sum }
    }

    /// The directory as named in the macro call (relative to the crate's Cargo.toml).
    pub fn dir(&self) -> &'static str {
        self.dir
    }

    /// The revision files, sorted by name.
    pub fn files(&self) -> &'static [EmbeddedFile] {
        self.files
    }

    /// The text of `retort.sum`.
    pub fn sum(&self) -> &'static str {
        self.sum
    }
}
