//! Planning a parallel restore of an archive: how many `pg_restore` jobs to use, and
//! which TOC entries must wait for a serial pass after the parallel one.
//!
//! Parallel workers write their messages to the one stderr a piece at a time, so two
//! workers failing at the same moment can interleave their lines, and a failure could be
//! matched with another's message. Role noise must therefore never happen in the
//! parallel phase. The leader restores the pre-data section alone before it starts any
//! worker, so noise there is reported in order; and with owners, privileges,
//! tablespaces and security labels left out, the only later entries that name roles are
//! row-level security policies (`CREATE POLICY … TO role`). Those, and the comments on
//! them, go to a second pass with one job. What fails in the parallel phase is then
//! always a real error, which fails the restore however its lines came out.

use std::num::NonZeroUsize;

use super::RestoreJobs;

/// Below this much archive, a dump is mostly schema: its restore is a chain of small
/// DDL statements, which one connection runs fastest. Measured on 2 cores (PostgreSQL
/// 15): 2,000 empty tables (0.6 MB) restore in 6.6 s with one job and 8.8 s with two; 8
/// tables of 600,000 rows and 24 indexes (120 MB) in 15.9 s with one job and 10.9 s with
/// two.
pub(super) const PARALLEL_FROM_BYTES: u64 = 32 << 20;

/// More workers than this only queue on the server's locks and disks.
const MAX_JOBS: usize = 8;

/// The OID of `pg_policy`, the catalog a policy's TOC entry names first; fixed since
/// PostgreSQL 9.5.
const PG_POLICY_OID: &str = "3256";

/// How many jobs a restore uses: `requested` when given; otherwise one per core (at most
/// [`MAX_JOBS`]) for an archive with enough data to gain from them. Formats that
/// pg_restore cannot restore in parallel (tar, plain SQL) always get one.
pub(super) fn choose_jobs(
    requested: RestoreJobs,
    parallel_format: bool,
    archive_bytes: u64,
    cores: usize,
) -> usize {
    if !parallel_format {
        return 1;
    }
    match requested {
        RestoreJobs::Exactly(n) => n.get(),
        RestoreJobs::Auto if archive_bytes >= PARALLEL_FROM_BYTES => cores.clamp(1, MAX_JOBS),
        RestoreJobs::Auto => 1,
    }
}

/// The number of cores, 1 when it cannot be told.
pub(super) fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, NonZeroUsize::get)
}

/// `pg_restore -l`'s list of an archive, split for a parallel restore.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct SplitList {
    /// Every entry but the policies and their comments (with the list's own comment
    /// lines), for the parallel pass.
    pub(super) parallel: String,
    /// The policies and the comments on them, in the archive's order, for the serial pass.
    pub(super) serial: String,
    /// How many entries `serial` holds.
    pub(super) serial_entries: usize,
}

/// Splits a `pg_restore -l` list (lines `ID; TABLEOID OID DESC SCHEMA NAME OWNER`) into
/// what the parallel pass restores and the policies left for the serial pass. A policy
/// is told by its catalog (`pg_policy`), never by its name; a comment cannot be, so any
/// comment whose description mentions `POLICY` goes to the serial pass: nothing depends
/// on a comment, so restoring one later than needed is harmless.
pub(super) fn split_list(list: &str) -> SplitList {
    let mut split = SplitList::default();
    for line in list.lines() {
        if is_policy_entry(line) {
            split.serial.push_str(line);
            split.serial.push('\n');
            split.serial_entries += 1;
        } else {
            split.parallel.push_str(line);
            split.parallel.push('\n');
        }
    }
    split
}

fn is_policy_entry(line: &str) -> bool {
    let Some((id, rest)) = line.split_once(';') else {
        return false;
    };
    if id.trim().is_empty() || !id.trim().bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let mut fields = rest.trim_start().splitn(3, ' ');
    let (Some(tableoid), Some(_oid), Some(description)) =
        (fields.next(), fields.next(), fields.next())
    else {
        return false;
    };
    tableoid == PG_POLICY_OID
        || (description.starts_with("COMMENT ") && description.contains(" POLICY "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jobs(n: usize) -> RestoreJobs {
        RestoreJobs::Exactly(NonZeroUsize::new(n).expect("non-zero"))
    }

    #[test]
    fn jobs_follow_the_archive_size_unless_given() {
        let big = PARALLEL_FROM_BYTES;
        assert_eq!(choose_jobs(RestoreJobs::Auto, true, big - 1, 4), 1);
        assert_eq!(choose_jobs(RestoreJobs::Auto, true, big, 4), 4);
        assert_eq!(choose_jobs(RestoreJobs::Auto, true, big, 1), 1);
        assert_eq!(choose_jobs(RestoreJobs::Auto, true, big, 64), MAX_JOBS);
        assert_eq!(choose_jobs(jobs(3), true, 0, 2), 3);
        assert_eq!(choose_jobs(jobs(1), true, big, 8), 1);
        // Tar archives and plain SQL have no parallel restore.
        assert_eq!(choose_jobs(jobs(4), false, big, 8), 1);
        assert_eq!(choose_jobs(RestoreJobs::Auto, false, big, 8), 1);
    }

    /// A list as pg_restore 15 prints it, with names chosen to mislead: a table called
    /// "t POLICY x" in a schema "a b", and a comment on a table.
    const LIST: &str = "\
;
; Archive created at 2026-12-07 12:48:16 UTC
;     Format: CUSTOM
;
6; 2615 170688 SCHEMA - a b postgres
215; 1259 170689 TABLE a b t POLICY x postgres
216; 1259 170695 TABLE public u postgres
3356; 0 0 COMMENT public TABLE u postgres
3348; 0 170689 TABLE DATA a b t POLICY x postgres
3202; 2606 170693 CONSTRAINT a b t POLICY x t POLICY x_pkey postgres
3346; 3256 170694 POLICY a b t POLICY x p 1 postgres
3357; 0 0 COMMENT a b POLICY \"p 1\" ON \"t POLICY x\" postgres
3345; 0 170689 ROW SECURITY a b t POLICY x postgres
3347; 3256 170698 POLICY public u q postgres
";

    #[test]
    fn policies_and_their_comments_go_to_the_serial_pass() {
        let split = split_list(LIST);
        assert_eq!(
            split.serial,
            "3346; 3256 170694 POLICY a b t POLICY x p 1 postgres\n\
             3357; 0 0 COMMENT a b POLICY \"p 1\" ON \"t POLICY x\" postgres\n\
             3347; 3256 170698 POLICY public u q postgres\n"
        );
        assert_eq!(split.serial_entries, 3);
        // Everything else stays, in order, with the list's own comment lines.
        let kept: Vec<&str> = split.parallel.lines().collect();
        assert_eq!(kept.len(), LIST.lines().count() - 3);
        assert!(kept.contains(&"215; 1259 170689 TABLE a b t POLICY x postgres"));
        assert!(kept.contains(&"3345; 0 170689 ROW SECURITY a b t POLICY x postgres"));
        assert!(kept.contains(&"3356; 0 0 COMMENT public TABLE u postgres"));
        assert_eq!(kept[0], ";");
    }

    #[test]
    fn a_list_without_policies_is_all_parallel() {
        let list = "; header\n6; 2615 1 SCHEMA - s o\n7; 1259 2 TABLE s t o\n";
        let split = split_list(list);
        assert_eq!(split.parallel, list);
        assert_eq!(split.serial_entries, 0);
        assert!(split.serial.is_empty());
        // Lines that are not entries are never moved.
        assert!(!is_policy_entry("; 3256 1 POLICY"));
        assert!(!is_policy_entry("x; 3256 1 POLICY s t p o"));
        assert!(!is_policy_entry("12; 3256"));
    }
}
