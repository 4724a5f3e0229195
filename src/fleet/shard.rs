//! Static shards of a fleet: `--shard K/N` splits the selected targets into N disjoint
//! parts so that N processes (typically the pods of a Kubernetes Indexed Job) each
//! upgrade one part and together cover every target exactly once.
//!
//! A target belongs to shard `stable_hash(name) % N`. The hash must give the same answer
//! in every process of a Job, on every machine and architecture, and after retort is
//! rebuilt with another Rust: a shard that reruns after a failure must pick the very
//! targets it had, or a target could be skipped by every shard. Hence SHA-256 of the
//! name's UTF-8 bytes (its first 8 bytes, big-endian), never `std::hash`, whose output is
//! allowed to change between Rust releases and is seeded per process by `RandomState`.
//!
//! Assignment depends only on a target's name and N, not on the other targets: adding a
//! tenant moves no existing one to another shard.
//!
//! Shards are numbered from 0 to N-1, as Kubernetes numbers `JOB_COMPLETION_INDEX`, so
//! `auto/N` reads K from that variable unchanged. Pure: the environment is read through
//! the closure the caller passes.

use sha2::{Digest, Sha256};

use super::FleetTarget;

/// The environment variable `auto/N` takes K from: Kubernetes sets it in each pod of an
/// Indexed Job to the pod's completion index, 0 to `completions - 1`.
pub const INDEX_VAR: &str = "JOB_COMPLETION_INDEX";

/// One part of a fleet: the targets whose [`stable_hash`] is `index` modulo `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This shard's number, 0 to `count - 1`.
    pub index: u32,
    /// How many shards the fleet is split into (at least 1).
    pub count: u32,
}

/// Why a `--shard` value is unusable. Every message names the value and says what to
/// give instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    /// Not of the form `K/N` or `auto/N`, or K or N is not a number.
    #[error("--shard {text}: expected K/N (e.g. 0/4) or auto/N, with shards numbered 0 to N-1 (as JOB_COMPLETION_INDEX)")]
    Syntax {
        /// The value as given.
        text: String,
    },
    /// N is 0.
    #[error("--shard {text}: the number of shards must be at least 1; give K/N with N >= 1")]
    NoShards {
        /// The value as given.
        text: String,
    },
    /// K given on the command line is not below N.
    #[error("--shard {text}: shards are numbered 0 to {last} (as JOB_COMPLETION_INDEX); give K/N with K < N")]
    IndexTooLarge {
        /// The value as given.
        text: String,
        /// N - 1, the largest valid K.
        last: u32,
    },
    /// `auto/N` without `JOB_COMPLETION_INDEX` in the environment.
    #[error("--shard {text} needs {INDEX_VAR} (set by a Kubernetes Indexed Job, 0 to N-1); it is not set: run inside an Indexed Job, set {INDEX_VAR}, or give the shard as K/N")]
    MissingIndex {
        /// The value as given.
        text: String,
    },
    /// `JOB_COMPLETION_INDEX` is not a number.
    #[error("--shard {text}: {INDEX_VAR} is `{value}`, not a shard number (0 to N-1); unset it and give the shard as K/N")]
    BadIndex {
        /// The value as given.
        text: String,
        /// The variable's value.
        value: String,
    },
    /// `JOB_COMPLETION_INDEX` is not below N: the Job's `completions` differs from N.
    #[error("--shard {text}: {INDEX_VAR} is {index}, but shards are numbered 0 to {last}; N in auto/N must equal the Job's completions")]
    IndexFromEnvTooLarge {
        /// The value as given.
        text: String,
        /// The variable's value.
        index: u32,
        /// N - 1, the largest valid index.
        last: u32,
    },
}

/// A number as `--shard` takes it: ASCII digits only (no sign, no spaces).
fn number(text: &str) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

impl Shard {
    /// Parses `K/N` or `auto/N`; `auto` reads K from [`INDEX_VAR`] through `getenv`.
    pub fn parse(text: &str, getenv: &dyn Fn(&str) -> Option<String>) -> Result<Shard, ShardError> {
        let syntax = || ShardError::Syntax {
            text: text.to_owned(),
        };
        let (k, n) = text.split_once('/').ok_or_else(syntax)?;
        let count = number(n).ok_or_else(syntax)?;
        if k != "auto" && number(k).is_none() {
            return Err(syntax());
        }
        if count == 0 {
            return Err(ShardError::NoShards {
                text: text.to_owned(),
            });
        }
        let last = count - 1;
        let index = if k == "auto" {
            let value = getenv(INDEX_VAR).ok_or_else(|| ShardError::MissingIndex {
                text: text.to_owned(),
            })?;
            let index = number(value.trim()).ok_or_else(|| ShardError::BadIndex {
                text: text.to_owned(),
                value: value.clone(),
            })?;
            if index >= count {
                return Err(ShardError::IndexFromEnvTooLarge {
                    text: text.to_owned(),
                    index,
                    last,
                });
            }
            index
        } else {
            let index = number(k).ok_or_else(syntax)?;
            if index >= count {
                return Err(ShardError::IndexTooLarge {
                    text: text.to_owned(),
                    last,
                });
            }
            index
        };
        Ok(Shard { index, count })
    }

    /// Whether the target named `name` belongs to this shard.
    pub fn holds(&self, name: &str) -> bool {
        shard_of(name, self.count) == self.index
    }

    /// Keeps the targets of this shard, in their order.
    pub fn filter(&self, targets: Vec<FleetTarget>) -> Vec<FleetTarget> {
        targets
            .into_iter()
            .filter(|t| self.holds(&t.name))
            .collect()
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The first 8 bytes of SHA-256 of `name`'s UTF-8 bytes, as a big-endian integer: the
/// same on every machine and in every build, unlike `std::hash`.
pub fn stable_hash(name: &str) -> u64 {
    let digest = Sha256::digest(name.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

/// The shard (0 to `count - 1`) that the target named `name` belongs to when the fleet
/// is split into `count` shards; 0 when `count` is 0.
pub fn shard_of(name: &str, count: u32) -> u32 {
    match u64::from(count) {
        0 => 0,
        n => u32::try_from(stable_hash(name) % n).unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn parse_with(text: &str, index: &str) -> Result<Shard, ShardError> {
        let index = index.to_owned();
        Shard::parse(text, &move |k: &str| {
            (k == INDEX_VAR).then(|| index.clone())
        })
    }

    #[test]
    fn parses_explicit_shards() {
        assert_eq!(
            Shard::parse("0/4", &no_env),
            Ok(Shard { index: 0, count: 4 })
        );
        assert_eq!(
            Shard::parse("3/4", &no_env),
            Ok(Shard { index: 3, count: 4 })
        );
        assert_eq!(
            Shard::parse("0/1", &no_env),
            Ok(Shard { index: 0, count: 1 })
        );
        assert_eq!(
            Shard::parse("3/4", &no_env).map(|s| s.to_string()),
            Ok("3/4".to_owned())
        );
        // An explicit K ignores the variable.
        assert_eq!(parse_with("1/4", "3"), Ok(Shard { index: 1, count: 4 }));
    }

    #[test]
    fn auto_reads_the_completion_index() {
        assert_eq!(parse_with("auto/4", "2"), Ok(Shard { index: 2, count: 4 }));
        assert_eq!(parse_with("auto/4", "0"), Ok(Shard { index: 0, count: 4 }));
        let missing = Shard::parse("auto/4", &no_env).expect_err("no env");
        assert!(matches!(missing, ShardError::MissingIndex { .. }));
        let text = missing.to_string();
        assert!(
            text.contains("JOB_COMPLETION_INDEX") && text.contains("Indexed Job"),
            "{text}"
        );
        let high = parse_with("auto/4", "4").expect_err("too large");
        assert_eq!(
            high,
            ShardError::IndexFromEnvTooLarge {
                text: "auto/4".into(),
                index: 4,
                last: 3
            }
        );
        assert!(high.to_string().contains("completions"), "{high}");
        for bad in ["", "x", "-1", "1.0", "+1"] {
            assert!(
                matches!(parse_with("auto/4", bad), Err(ShardError::BadIndex { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn rejects_bad_values_with_what_to_do() {
        let too_large = Shard::parse("4/4", &no_env).expect_err("4/4");
        assert_eq!(
            too_large.to_string(),
            "--shard 4/4: shards are numbered 0 to 3 (as JOB_COMPLETION_INDEX); give K/N with K < N"
        );
        assert!(matches!(
            Shard::parse("0/0", &no_env),
            Err(ShardError::NoShards { .. })
        ));
        assert!(matches!(
            Shard::parse("auto/0", &no_env),
            Err(ShardError::NoShards { .. })
        ));
        for bad in [
            "",
            "4",
            "/4",
            "1/",
            "a/4",
            "1/b",
            "1/4/2",
            " 1/4",
            "1 /4",
            "-1/4",
            "+1/4",
            "1/-4",
            "AUTO/4",
            "auto",
            "1/99999999999",
            "1.5/4",
        ] {
            assert!(
                matches!(Shard::parse(bad, &no_env), Err(ShardError::Syntax { .. })),
                "{bad:?}: {:?}",
                Shard::parse(bad, &no_env)
            );
        }
        let text = Shard::parse("x", &no_env).expect_err("x").to_string();
        assert!(text.contains("0 to N-1") && text.contains("K/N"), "{text}");
    }

    #[test]
    fn the_hash_is_sha256s_first_eight_bytes() {
        // SHA-256("") = e3b0c44298fc1c14..., a published constant.
        assert_eq!(stable_hash(""), 0xe3b0_c442_98fc_1c14);
        // SHA-256("abc") = ba7816bf8f01cfea... (FIPS 180-2's example).
        assert_eq!(stable_hash("abc"), 0xba78_16bf_8f01_cfea);
        assert_eq!(shard_of("abc", 0), 0);
    }

    /// Every name lands in exactly one of the N shards, for several N, and the shards
    /// are not wildly uneven.
    #[test]
    fn shards_partition_the_names_exactly_once() {
        let names: Vec<String> = (0..1000)
            .map(|i| format!("tenant_{i:04}"))
            .chain(["db00", "ünïcode", "", "a/b", "名前"].map(String::from))
            .collect();
        for count in [1u32, 2, 3, 4, 7, 16, 50] {
            let shards: Vec<Shard> = (0..count).map(|index| Shard { index, count }).collect();
            let mut sizes = vec![0usize; count as usize];
            for name in &names {
                let holders: Vec<u32> = shards
                    .iter()
                    .filter(|s| s.holds(name))
                    .map(|s| s.index)
                    .collect();
                assert_eq!(holders, [shard_of(name, count)], "{name} with N={count}");
                sizes[holders[0] as usize] += 1;
            }
            assert_eq!(sizes.iter().sum::<usize>(), names.len());
            // Roughly even: within half and twice the mean, checked where the mean is
            // large enough (60+) for that to be several standard deviations.
            let mean = names.len() / count as usize;
            if mean >= 60 {
                for size in sizes {
                    assert!(
                        size > mean / 2 && size < mean * 2,
                        "N={count}: {size} vs {mean}"
                    );
                }
            }
        }
    }

    #[test]
    fn filter_keeps_the_shards_targets_in_order() {
        let conn = crate::db::ConnInfo::parse(Some("postgres://h/db"), &no_env).expect("conn");
        let defaults = crate::db::VersionTables::default();
        let targets: Vec<FleetTarget> = (0..40)
            .map(|i| {
                let name = format!("tenant_{i:02}");
                FleetTarget::new(
                    name.clone(),
                    conn.clone(),
                    Some(name),
                    Vec::new(),
                    &defaults,
                )
            })
            .collect();
        let mut seen: Vec<String> = Vec::new();
        for index in 0..4 {
            let shard = Shard { index, count: 4 };
            let kept: Vec<String> = shard
                .filter(targets.clone())
                .into_iter()
                .map(|t| t.name)
                .collect();
            let mut sorted = kept.clone();
            sorted.sort();
            assert_eq!(kept, sorted, "order kept");
            assert!(kept.iter().all(|n| shard.holds(n)));
            seen.extend(kept);
        }
        seen.sort();
        let all: Vec<String> = targets.into_iter().map(|t| t.name).collect();
        assert_eq!(seen, all);
    }
}
