//! What the `retort` library and its `embed_migrations!` macro must agree on, byte
//! for byte: which files of a versions directory are revisions, the shape of a
//! revision id, how a revision file is hashed, and the line format of `retort.sum`.
//!
//! It is a crate of its own because a procedural macro cannot depend on the crate
//! that re-exports it; keeping these rules in one place means a build that embeds
//! revisions checks them exactly as `retort verify --files` does.

use std::borrow::Cow;
use std::fmt;

use sha2::{Digest, Sha256};

/// The name of the sum file inside a versions directory.
pub const SUM_FILE_NAME: &str = "retort.sum";

/// sha256 of a revision file with line endings normalized to `\n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Checksum([u8; 32]);

impl Checksum {
    /// Hashes `text` (line endings already `\n`, see [`normalize_line_endings`]) with
    /// trailing whitespace on each line and blank lines at the end ignored: an editor
    /// or a checkout on another OS that changes only those must not look like an edit
    /// of an applied revision.
    pub fn of(normalized: &str) -> Checksum {
        let mut hasher = Sha256::new();
        for line in normalized.trim_end().split('\n') {
            hasher.update(line.trim_end().as_bytes());
            hasher.update(b"\n");
        }
        Checksum(hasher.finalize().into())
    }

    /// Hashes a file's text as read from disk (any line endings).
    pub fn of_file_text(text: &str) -> Checksum {
        Checksum::of(&normalize_line_endings(text))
    }

    /// Parses the `sha256:<64 hex>` form written by `Display`.
    pub fn parse(text: &str) -> Option<Checksum> {
        let hex = text.strip_prefix("sha256:")?;
        if hex.len() != 64 {
            return None;
        }
        let mut bytes = [0u8; 32];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(Checksum(bytes))
    }
}

impl fmt::Display for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("sha256:")?;
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

/// Converts `\r\n` and lone `\r` to `\n`, so a checkout on Windows has the same checksum,
/// and drops a leading byte-order mark (which some Windows editors write), so the file
/// parses and hashes as the same text.
pub fn normalize_line_endings(text: &str) -> Cow<'_, str> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.contains('\r') {
        Cow::Owned(text.replace("\r\n", "\n").replace('\r', "\n"))
    } else {
        Cow::Borrowed(text)
    }
}

/// Whether a file of a versions directory is a revision file: `*.sql`, not hidden.
pub fn is_revision_file_name(name: &str) -> bool {
    name.ends_with(".sql") && !name.starts_with('.')
}

/// Checks the `NNNN_hex12` shape of a revision id: at least four digits, an
/// underscore, 12 lowercase hex digits.
pub fn is_revision_id(text: &str) -> bool {
    let Some((number, hex)) = text.split_once('_') else {
        return false;
    };
    number.len() >= 4
        && number.bytes().all(|b| b.is_ascii_digit())
        && hex.len() == 12
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The revision id a revision file's name begins with
/// (`0003_a1b2c3d4e5f6_add_email.sql` → `0003_a1b2c3d4e5f6`).
pub fn revision_id_of_file_name(name: &str) -> Option<&str> {
    let (number, rest) = name.split_once('_')?;
    let id = name.get(..number.len() + 1 + rest.get(..12)?.len())?;
    is_revision_id(id).then_some(id)
}

/// One line of `retort.sum`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SumLine<'a> {
    /// Blank or a `#` comment.
    Blank,
    /// A git conflict marker (`<<<<<<<`, `=======`, `>>>>>>>`, `|||||||`): two branches
    /// added revisions.
    ConflictMarker,
    /// `heads: <ids>`.
    Heads(Vec<&'a str>),
    /// `<id> sha256:<hex>`.
    Entry {
        /// The revision id.
        id: &'a str,
        /// Its file's checksum.
        checksum: Checksum,
    },
    /// Anything else.
    Malformed,
}

impl<'a> SumLine<'a> {
    /// Classifies one line of the file.
    pub fn parse(line: &'a str) -> SumLine<'a> {
        let trimmed = line.trim();
        if ["<<<<<<<", "=======", ">>>>>>>", "|||||||"]
            .iter()
            .any(|marker| trimmed.starts_with(marker))
        {
            return SumLine::ConflictMarker;
        }
        if trimmed.is_empty() || trimmed.starts_with('#') {
            return SumLine::Blank;
        }
        if let Some(heads) = trimmed.strip_prefix("heads:") {
            let ids: Vec<&str> = heads.split_whitespace().collect();
            return if ids.iter().all(|id| is_revision_id(id)) {
                SumLine::Heads(ids)
            } else {
                SumLine::Malformed
            };
        }
        let Some((id, checksum)) = trimmed.split_once(' ') else {
            return SumLine::Malformed;
        };
        match Checksum::parse(checksum.trim()) {
            Some(checksum) if is_revision_id(id) => SumLine::Entry { id, checksum },
            _ => SumLine::Malformed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_ignores_line_endings_and_trailing_space() {
        let a = Checksum::of_file_text("-- revision: x\nSELECT 1;\n");
        assert_eq!(
            a,
            Checksum::of_file_text("-- revision: x\r\nSELECT 1;  \r\n\r\n")
        );
        assert_ne!(a, Checksum::of_file_text("-- revision: x\nSELECT 2;\n"));
        assert_eq!(Checksum::parse(&a.to_string()), Some(a));
        assert_eq!(Checksum::parse("sha256:00"), None);
    }

    #[test]
    fn ids_and_file_names() {
        assert!(is_revision_id("0001_abcdef012345"));
        assert!(is_revision_id("12345_abcdef012345"));
        assert!(!is_revision_id("001_abcdef012345"));
        assert!(!is_revision_id("0001_ABCDEF012345"));
        assert_eq!(
            revision_id_of_file_name("0003_a1b2c3d4e5f6_add_email.sql"),
            Some("0003_a1b2c3d4e5f6")
        );
        assert_eq!(revision_id_of_file_name("0003_a1b2c3.sql"), None);
        assert_eq!(revision_id_of_file_name("notes.sql"), None);
        assert!(is_revision_file_name("0001_abcdef012345_x.sql"));
        assert!(!is_revision_file_name(".0001_abcdef012345_x.sql"));
        assert!(!is_revision_file_name("retort.sum"));
    }

    #[test]
    fn sum_lines() {
        let hex = "a".repeat(64);
        assert_eq!(SumLine::parse("# comment"), SumLine::Blank);
        assert_eq!(SumLine::parse("<<<<<<< HEAD"), SumLine::ConflictMarker);
        assert_eq!(
            SumLine::parse("heads: 0001_abcdef012345 0002_abcdef012345"),
            SumLine::Heads(vec!["0001_abcdef012345", "0002_abcdef012345"])
        );
        assert_eq!(SumLine::parse("heads: nope"), SumLine::Malformed);
        assert!(matches!(
            SumLine::parse(&format!("0001_abcdef012345 sha256:{hex}")),
            SumLine::Entry {
                id: "0001_abcdef012345",
                ..
            }
        ));
        assert_eq!(
            SumLine::parse("0001_abcdef012345 md5:00"),
            SumLine::Malformed
        );
    }
}
