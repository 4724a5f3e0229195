//! The order of the SQL-file tools' versions, shared by reading their files and reading
//! their version tables: numbers of any length (timestamps overflow nothing), Flyway's
//! dotted versions part by part with trailing zeros ignored (`1` is `1.0`).

use std::cmp::Ordering;

use super::Tool;

/// A version's place in a tool's order: numeric parts, then (for dbmate, whose versions
/// are strings) the spelling.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct VersionKey {
    parts: Vec<Number>,
    spelling: String,
}

impl VersionKey {
    /// A single-number version where `007` and `7` are the same (they are the same
    /// integer in golang-migrate's, goose's and sqlx's version tables).
    pub fn number(digits: &str) -> VersionKey {
        VersionKey {
            parts: vec![Number::new(digits)],
            spelling: String::new(),
        }
    }

    /// A dbmate version: ordered as a number, but `001` and `1` are different versions
    /// (dbmate stores the digit string).
    pub fn spelled(digits: &str) -> VersionKey {
        VersionKey {
            parts: vec![Number::new(digits)],
            spelling: digits.to_owned(),
        }
    }

    /// A Flyway version: `1.2.10` or `1_2_10`, compared part by part.
    pub fn dotted(version: &str) -> VersionKey {
        let mut parts: Vec<Number> = version.split(['.', '_']).map(Number::new).collect();
        while parts.len() > 1 && parts.last().is_some_and(Number::is_zero) {
            parts.pop();
        }
        VersionKey {
            parts,
            spelling: String::new(),
        }
    }

    /// The key of `text` as `tool` records a version in its table, or `None` when it is
    /// not one of the tool's versions (and for Alembic, whose ids have no order).
    pub fn parse(tool: Tool, text: &str) -> Option<VersionKey> {
        let text = text.trim();
        match tool {
            Tool::Alembic => None,
            Tool::Flyway => is_dotted(text).then(|| VersionKey::dotted(text)),
            // In the table as in the file names: compared as numbers.
            Tool::Dbmate | Tool::GolangMigrate | Tool::Goose | Tool::Sqlx => {
                is_digits(text).then(|| VersionKey::number(text))
            }
        }
    }
}

/// Whether `text` is a version number: one or more ASCII digits.
pub fn is_digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

/// Whether `text` is a Flyway version: digits in parts separated by `.` or `_` (`1`,
/// `1.2.10`, `2024_01_05`).
pub fn is_dotted(text: &str) -> bool {
    text.split(['.', '_']).all(is_digits)
}

/// A non-negative integer of any length, as its digits without leading zeros.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Number(String);

impl Number {
    fn new(digits: &str) -> Number {
        Number(strip_zeros(digits))
    }

    fn is_zero(&self) -> bool {
        self.0 == "0"
    }
}

impl Ord for Number {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0
            .len()
            .cmp(&other.0.len())
            .then_with(|| self.0.cmp(&other.0))
    }
}

impl PartialOrd for Number {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// `0042` → `42`, `000` → `0`: a version number as the tools' integer columns hold it.
pub fn strip_zeros(digits: &str) -> String {
    let stripped = digits.trim_start_matches('0');
    if stripped.is_empty() {
        "0".to_owned()
    } else {
        stripped.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_as_numbers_of_any_length() {
        let key = |t| VersionKey::parse(Tool::Flyway, t);
        assert!(key("1.10") > key("1.9"));
        assert_eq!(key("1.0"), key("1"));
        assert_eq!(key("1_2"), key("1.2"));
        assert_eq!(key("1.x"), None);
        let number = |t| VersionKey::parse(Tool::Goose, t);
        assert_eq!(number("0003"), number("3"));
        assert!(number("99999999999999999999999999999999999999999") > number("10"));
        assert_eq!(number("1.2"), None);
        assert_eq!(VersionKey::parse(Tool::Sqlx, ""), None);
        assert_eq!(VersionKey::parse(Tool::Alembic, "1"), None);
        assert_ne!(VersionKey::spelled("001"), VersionKey::spelled("1"));
        assert_eq!(strip_zeros("000"), "0");
    }
}
