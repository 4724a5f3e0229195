//! retort.sum in git: two branches that each add a revision conflict on merge, and
//! the documented resolution (rehash, then merge) leaves one head and a clean sum.

use crate::support::{run_in, Project};

fn git(project: &Project, args: &[&str]) -> crate::support::Run {
    let mut full = vec![
        "-c",
        "user.name=retort",
        "-c",
        "user.email=retort@example.com",
        "-c",
        "init.defaultBranch=main",
        "-c",
        "commit.gpgsign=false",
    ];
    full.extend_from_slice(args);
    run_in(project.path(), "git", &full)
}

#[test]
fn branches_adding_revisions_conflict_in_the_sum_file() {
    let project = Project::new();
    project.new_migration("create users", &[]);
    git(&project, &["init", "-q"]).ok();
    git(&project, &["add", "-A"]).ok();
    git(&project, &["commit", "-qm", "base"]).ok();

    git(&project, &["checkout", "-qb", "feature-a"]).ok();
    project.new_migration("add email", &[]);
    git(&project, &["add", "-A"]).ok();
    git(&project, &["commit", "-qm", "a"]).ok();

    git(&project, &["checkout", "-q", "main"]).ok();
    git(&project, &["checkout", "-qb", "feature-b"]).ok();
    project.new_migration("add phone", &[]);
    git(&project, &["add", "-A"]).ok();
    git(&project, &["commit", "-qm", "b"]).ok();

    let merge = git(&project, &["merge", "feature-a"]);
    assert_ne!(
        merge.code, 0,
        "the merge must conflict:\n{}{}",
        merge.stdout, merge.stderr
    );
    let conflicted = git(&project, &["diff", "--name-only", "--diff-filter=U"]).ok();
    assert_eq!(conflicted.stdout.trim(), "versions/retort.sum");

    // The conflict is reported as such, not as a parse error somewhere else.
    let verify = project.run(&["verify", "--files"]).fails_with(2);
    assert!(
        verify.stderr.contains("retort.sum:") && verify.stderr.contains("conflict"),
        "{}",
        verify.stderr
    );
    let refused = project.run(&["new-migration", "-m", "more"]).fails_with(2);
    assert!(refused.stderr.contains("2 heads"), "{}", refused.stderr);

    // The documented resolution.
    project.run(&["rehash"]).ok();
    let heads = project.run(&["heads", "--json"]).ok().json();
    assert_eq!(heads.as_array().expect("list").len(), 2);
    let merged = project.run(&["merge", "-m", "merge feature branches"]).ok();
    assert!(merged.stdout.contains("0003_"), "{}", merged.stdout);
    let heads = project.run(&["heads", "--json"]).ok().json();
    assert_eq!(heads.as_array().expect("list").len(), 1);
    project.run(&["verify", "--files"]).ok();
}
