//! The malformed-revision corpus: every directory under tests/fixtures/malformed holds a
//! `versions/` that must be refused with exit 2 and the messages in `expected.txt`.

use crate::support::{repo_root, retort, Run};

#[test]
fn every_malformed_directory_fails_with_its_own_error() {
    let corpus = repo_root().join("tests/fixtures/malformed");
    let mut cases: Vec<_> = std::fs::read_dir(&corpus)
        .expect("fixture corpus")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 25,
        "the corpus shrank to {} cases",
        cases.len()
    );
    let mut failures = Vec::new();
    for case in &cases {
        let expected = std::fs::read_to_string(case.join("expected.txt")).expect("expected.txt");
        let versions = case.join("versions");
        let before = snapshot(&versions);
        for command in [
            &["history"][..],
            &["new-migration", "-m", "more"],
            &["rehash"],
        ] {
            let mut args = vec!["--versions", versions.to_str().expect("utf-8 path")];
            args.extend_from_slice(command);
            let output = retort(case).args(&args).output().expect("run retort");
            let run = Run {
                code: output.status.code().unwrap_or(-1),
                stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            };
            let name = case.file_name().expect("name").to_string_lossy();
            if run.code != 2 {
                failures.push(format!(
                    "{name} {command:?}: exit {} (want 2): {}",
                    run.code, run.stderr
                ));
            }
            for line in expected.lines().filter(|l| !l.is_empty()) {
                if !run.stderr.contains(line) {
                    failures.push(format!(
                        "{name} {command:?}: stderr lacks `{line}`:\n{}",
                        run.stderr
                    ));
                }
            }
        }
        assert_eq!(
            before,
            snapshot(&versions),
            "{} was modified",
            case.display()
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Names and contents of a directory, to prove a refused command wrote nothing.
fn snapshot(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| {
            let path = e.expect("entry").path();
            (
                path.display().to_string(),
                std::fs::read(&path).expect("read"),
            )
        })
        .collect();
    files.sort();
    files
}
