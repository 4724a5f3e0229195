//! `retort fleet ... --shard K/N` end to end: the assignment of names to shards pinned
//! against values computed outside retort, four shard processes partitioning a fleet of
//! tenant schemas exactly once, `auto/N` from JOB_COMPLETION_INDEX, the input errors,
//! and the Kubernetes example of deploy/ (the Job's fields, then its container's args
//! run once per completion index) and its Dockerfile.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};

use crate::support::table_chain as chain;
use crate::support::{repo_root, retort, Project, Run, TestDb};

/// Expected shard of each name for N = 4, computed once outside retort with Python's
/// hashlib (the first 8 bytes of SHA-256 of the UTF-8 name, big-endian, mod 4):
///
/// ```text
/// python3 -c 'import hashlib
/// for n in ["tenant_0001", ...]:
///     print(n, int.from_bytes(hashlib.sha256(n.encode("utf-8")).digest()[:8], "big") % 4)'
/// ```
///
/// and two of them checked with `printf %s tenant_0001 | sha256sum` (c416e3a3777cc3fc…,
/// db00: 44b1c44e7cab611e…). If this table ever fails, sharding changed: every running
/// Job would move tenants between shards mid-deploy.
const PINNED: [(&str, u32); 12] = [
    ("tenant_0001", 0),
    ("tenant_0002", 3),
    ("tenant_0003", 1),
    ("tenant_0042", 2),
    ("tenant_0100", 1),
    ("tenant_0999", 0),
    ("db00", 2),
    ("db01", 0),
    ("acme", 0),
    ("globex", 3),
    ("Ünïcødé_テナント", 3),
    ("a/b c", 1),
];

/// The names in a `fleet upgrade --json` report, in its order.
fn report_names(run: &Run) -> Vec<String> {
    run.json()["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .map(|t| t["name"].as_str().expect("name").to_owned())
        .collect()
}

fn as_strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// Creates `count` schemas `tenant_0001`... (and `other`, which no pattern takes).
fn tenant_schemas(db: &TestDb, count: usize) -> Vec<String> {
    let names: Vec<String> = (1..=count).map(|i| format!("tenant_{i:04}")).collect();
    let mut sql: String = names
        .iter()
        .map(|n| format!("CREATE SCHEMA {n};\n"))
        .collect();
    sql.push_str("CREATE SCHEMA other;\n");
    db.execute(&sql).expect("schemas");
    names
}

fn version_in(db: &TestDb, schema: &str) -> Vec<String> {
    db.texts(&format!(
        "SELECT revision FROM \"{schema}\".retort_version ORDER BY 1"
    ))
}

fn history_len(db: &TestDb, schema: &str) -> String {
    db.texts(&format!(
        "SELECT count(*)::text FROM \"{schema}\".retort_history"
    ))[0]
        .clone()
}

/// Asserts that `shards` (shard index → names) holds every name of `all` exactly once.
#[track_caller]
fn assert_partition(shards: &BTreeMap<u32, Vec<String>>, all: &[String]) {
    let mut seen: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
    for (k, names) in shards {
        for name in names {
            seen.entry(name).or_default().push(*k);
        }
    }
    let twice: Vec<_> = seen.iter().filter(|(_, ks)| ks.len() > 1).collect();
    assert!(twice.is_empty(), "in more than one shard: {twice:?}");
    let seen: BTreeSet<&str> = seen.keys().copied().collect();
    let all: BTreeSet<&str> = all.iter().map(String::as_str).collect();
    assert_eq!(seen, all, "the shards together are not the fleet");
}

#[test]
fn pinned_assignment_of_names_to_four_shards() {
    for (name, shard) in PINNED {
        assert_eq!(
            retort::fleet::shard::shard_of(name, 4),
            shard,
            "library: {name}"
        );
    }
    // The same through the command line: a targets file of the pinned names (all on one
    // database: a dry run only reads), one dry run per shard.
    let project = Project::new();
    chain(&project, 1, "");
    let db = TestDb::new("fleet_shard_pin");
    let mut text = String::new();
    for (name, _) in PINNED {
        text.push_str(&format!(
            "[[targets]]\nname = \"{name}\"\nurl = \"{}\"\n\n",
            db.url
        ));
    }
    std::fs::write(project.path().join("targets.toml"), text).expect("targets.toml");
    for k in 0..4u32 {
        let shard = format!("{k}/4");
        let run = project
            .run(&["fleet", "upgrade", "--dry-run", "--json", "--shard", &shard])
            .ok();
        let expected: Vec<String> = PINNED
            .iter()
            .filter(|(_, s)| *s == k)
            .map(|(n, _)| n.to_string())
            .collect();
        assert_eq!(report_names(&run), expected, "shard {shard}");
        let said = format!("shard {shard}: {} of 12 target(s)", expected.len());
        assert!(run.stderr.contains(&said), "{}", run.stderr);
    }
}

#[test]
fn four_shard_processes_upgrade_every_tenant_exactly_once() {
    let project = Project::new();
    let ids = chain(&project, 3, "");
    let db = TestDb::new("fleet_shard_split");
    let names = tenant_schemas(&db, 40);
    let args = |extra: &[&str]| -> Vec<String> {
        ["--database-url", &db.url, "fleet", "upgrade"]
            .iter()
            .chain(["--schemas", "tenant\\_%"].iter())
            .chain(extra)
            .map(|s| s.to_string())
            .collect()
    };

    // The plan: stable from run to run, and a partition.
    let mut planned: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    for k in 0..4u32 {
        let shard = format!("{k}/4");
        let plan = |json: bool| {
            let mut a = args(&["--dry-run", "--shard", &shard]);
            if json {
                a.push("--json".into());
            }
            project.run(&as_strs(&a)).ok()
        };
        let (first, second) = (plan(false), plan(false));
        assert_eq!(
            first.stdout, second.stdout,
            "shard {shard}: plan not stable"
        );
        let report = plan(true);
        let held = report_names(&report);
        assert!(
            first
                .stderr
                .contains(&format!("shard {shard}: {} of 40 target(s)", held.len())),
            "{}",
            first.stderr
        );
        // The text plan lists exactly the shard's targets.
        let listed: Vec<&str> = first
            .stdout
            .lines()
            .map(|l| l.split(':').next().unwrap_or(""))
            .collect();
        assert_eq!(listed, as_strs(&held), "{}", first.stdout);
        planned.insert(k, held);
    }
    assert_partition(&planned, &names);

    // Four processes at once, as the pods of a Job.
    let children: Vec<_> = (0..4u32)
        .map(|k| {
            let a = args(&["--shard", &format!("{k}/4"), "--json"]);
            retort(project.path())
                .args(&a)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn retort")
        })
        .collect();
    let mut upgraded: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    for (k, child) in children.into_iter().enumerate() {
        let run = Run::from(child.wait_with_output().expect("wait")).ok();
        let report = run.json();
        for t in report["targets"].as_array().expect("targets") {
            assert_eq!(t["state"], "done", "{t}");
            assert_eq!(t["revisions"], serde_json::json!(ids), "{t}");
            assert_eq!(t["heads"], serde_json::json!([ids[2]]), "{t}");
        }
        upgraded.insert(k as u32, report_names(&run));
    }
    assert_eq!(upgraded, planned, "each shard upgraded what it planned");
    assert_partition(&upgraded, &names);
    for name in &names {
        assert_eq!(version_in(&db, name), [ids[2].clone()], "{name}");
        // Each revision ran once on each tenant: no two shards took the same one.
        assert_eq!(history_len(&db, name), "3", "{name}");
    }
    assert_eq!(
        db.texts("SELECT (to_regclass('other.retort_version') IS NULL)::text"),
        ["true"]
    );

    // A rerun of one shard touches only its own targets, and they are done already.
    let rerun = project
        .run(&as_strs(&args(&["--shard", "2/4", "--json"])))
        .ok();
    assert_eq!(report_names(&rerun), planned[&2]);
    for t in rerun.json()["targets"].as_array().expect("targets") {
        assert_eq!(t["revisions"], serde_json::json!([]), "{t}");
    }
}

#[test]
fn auto_takes_the_shard_from_job_completion_index() {
    let project = Project::new();
    chain(&project, 1, "");
    let db = TestDb::new("fleet_shard_auto");
    tenant_schemas(&db, 12);
    let dry = |shard: &str, index: Option<&str>| -> Run {
        let mut cmd = retort(project.path());
        cmd.args([
            "--database-url",
            &db.url,
            "fleet",
            "upgrade",
            "--schemas",
            "tenant\\_%",
            "--dry-run",
            "--json",
            "--shard",
            shard,
        ]);
        match index {
            Some(i) => cmd.env("JOB_COMPLETION_INDEX", i),
            None => cmd.env_remove("JOB_COMPLETION_INDEX"),
        };
        Run::from(cmd.output().expect("run retort"))
    };
    for k in 0..3 {
        let auto = dry("auto/3", Some(&k.to_string())).ok();
        let explicit = dry(&format!("{k}/3"), None).ok();
        assert_eq!(report_names(&auto), report_names(&explicit), "index {k}");
        assert!(
            auto.stderr.contains(&format!("shard {k}/3: ")),
            "{}",
            auto.stderr
        );
    }
    // An explicit K wins over the variable.
    assert_eq!(
        report_names(&dry("1/3", Some("0")).ok()),
        report_names(&dry("1/3", None).ok())
    );
}

#[test]
fn bad_shards_exit_2_saying_what_to_give() {
    // No targets file and no database: the shard is checked before either is read.
    let project = Project::new();
    chain(&project, 1, "");
    let run = |args: &[&str], index: Option<&str>| -> Run {
        let mut cmd = retort(project.path());
        cmd.args(args);
        match index {
            Some(i) => cmd.env("JOB_COMPLETION_INDEX", i),
            None => cmd.env_remove("JOB_COMPLETION_INDEX"),
        };
        Run::from(cmd.output().expect("run retort"))
    };
    let cases: [(&[&str], Option<&str>, &str); 8] = [
        (
            &["fleet", "upgrade", "--shard", "auto/4"],
            None,
            "--shard auto/4 needs JOB_COMPLETION_INDEX (set by a Kubernetes Indexed Job",
        ),
        (
            &["fleet", "upgrade", "--shard", "4/4"],
            None,
            "--shard 4/4: shards are numbered 0 to 3 (as JOB_COMPLETION_INDEX); give K/N with K < N",
        ),
        (
            &["fleet", "upgrade", "--shard", "auto/4"],
            Some("4"),
            "JOB_COMPLETION_INDEX is 4, but shards are numbered 0 to 3; N in auto/N must equal the Job's completions",
        ),
        (
            &["fleet", "upgrade", "--shard", "auto/4"],
            Some("two"),
            "JOB_COMPLETION_INDEX is `two`",
        ),
        (
            &["fleet", "upgrade", "--shard", "1-4"],
            None,
            "--shard 1-4: expected K/N (e.g. 0/4) or auto/N, with shards numbered 0 to N-1",
        ),
        (
            &["fleet", "upgrade", "--shard", "0/0"],
            None,
            "--shard 0/0: the number of shards must be at least 1",
        ),
        (
            &["fleet", "status", "--shard", "2/2"],
            None,
            "shards are numbered 0 to 1",
        ),
        (
            &["fleet", "stamp", "head", "--all", "--shard", "x/2"],
            None,
            "--shard x/2: expected K/N",
        ),
    ];
    for (args, index, message) in cases {
        let result = run(args, index).fails_with(2);
        assert!(
            result.stderr.contains(message),
            "{args:?}: {}",
            result.stderr
        );
    }
}

#[test]
fn a_shard_holding_no_target_succeeds() {
    let project = Project::new();
    let ids = chain(&project, 1, "");
    let db = TestDb::new("fleet_shard_empty");
    tenant_schemas(&db, 1);
    let mut did = Vec::new();
    for k in 0..8 {
        let shard = format!("{k}/8");
        let run = project
            .run_on(
                &db,
                &[
                    "fleet",
                    "upgrade",
                    "--schemas",
                    "tenant\\_%",
                    "--shard",
                    &shard,
                ],
            )
            .ok();
        if run
            .stderr
            .contains(&format!("shard {shard} holds none of the 1 target(s)"))
        {
            assert!(run.stdout.contains("0 target(s)"), "{}", run.stdout);
        } else {
            did.push(k);
        }
    }
    assert_eq!(
        did.len(),
        1,
        "exactly one of 8 shards holds the tenant: {did:?}"
    );
    assert_eq!(version_in(&db, "tenant_0001"), [ids[0].clone()]);
}

// ---------------------------------------------------------------------------------------
// deploy/: the Kubernetes Job and the Dockerfile.

/// The venv python of scripts/python-tools.sh, which has the pinned PyYAML. Unset fails
/// the test: a test that skips itself proves nothing.
fn test_python() -> String {
    match std::env::var("RETORT_TEST_PYTHON") {
        Ok(python) if !python.trim().is_empty() => python,
        _ => panic!(
            "RETORT_TEST_PYTHON is not set. The deploy/ tests read the Kubernetes manifest \
             with PyYAML: run scripts/python-tools.sh and set RETORT_TEST_PYTHON to the \
             python it prints (`make test` does both): \
             export RETORT_TEST_PYTHON=$(scripts/python-tools.sh)"
        ),
    }
}

/// The YAML documents of `path`, as JSON, read by PyYAML's safe loader.
fn yaml_documents(path: &Path) -> Vec<serde_json::Value> {
    let python = test_python();
    let script = "import json, sys, yaml\n\
                  with open(sys.argv[1], encoding='utf-8') as f:\n    \
                  docs = [d for d in yaml.safe_load_all(f) if d is not None]\n\
                  json.dump(docs, sys.stdout)\n";
    let out = Command::new(&python)
        .args(["-c", script])
        .arg(path)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python} (RETORT_TEST_PYTHON): {e}"));
    assert!(
        out.status.success(),
        "{python} could not read {} as YAML (is PyYAML installed? rerun scripts/python-tools.sh):\n{}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    match serde_json::from_slice(&out.stdout).expect("PyYAML's JSON") {
        serde_json::Value::Array(docs) => docs,
        other => panic!("expected a list of documents, got {other}"),
    }
}

fn text_of(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The Job of deploy/kubernetes/fleet-upgrade-job.yaml, checked field by field; returns
/// N of `--shard auto/N` with its container.
fn checked_job() -> (u32, serde_json::Value) {
    let path = repo_root().join("deploy/kubernetes/fleet-upgrade-job.yaml");
    let docs = yaml_documents(&path);
    let jobs: Vec<&serde_json::Value> = docs.iter().filter(|d| d["kind"] == "Job").collect();
    assert_eq!(jobs.len(), 1, "one Job in {}", path.display());
    let job = jobs[0];
    assert_eq!(job["apiVersion"], "batch/v1");
    let spec = &job["spec"];
    assert_eq!(spec["completionMode"], "Indexed");
    assert!(
        spec["backoffLimitPerIndex"].is_u64() || spec["backoffLimit"].is_u64(),
        "a retry limit: {spec}"
    );
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Never");
    let containers = pod["containers"].as_array().expect("containers");
    assert_eq!(containers.len(), 1);
    let container = containers[0].clone();
    // The image's ENTRYPOINT is retort: no command of its own (or retort itself), and
    // the args start with a retort subcommand.
    match &container["command"] {
        serde_json::Value::Null => {}
        command => assert_eq!(command, &serde_json::json!(["retort"])),
    }
    let args: Vec<String> = container["args"]
        .as_array()
        .expect("args")
        .iter()
        .map(text_of)
        .collect();
    assert_eq!(args[..2], ["fleet", "upgrade"], "{args:?}");
    let at = args
        .iter()
        .position(|a| a == "--shard")
        .expect("--shard in the args");
    let n: u32 = args[at + 1]
        .strip_prefix("auto/")
        .unwrap_or_else(|| panic!("--shard {} is not auto/N", args[at + 1]))
        .parse()
        .expect("N");
    assert_eq!(
        spec["completions"], n,
        "completions must equal N of auto/{n}"
    );
    assert_eq!(spec["parallelism"], n, "parallelism: every shard at once");
    // The URL comes from a Secret through the variable retort reads.
    let env = container["env"].as_array().expect("env");
    let url = env
        .iter()
        .find(|e| e["name"] == "DATABASE_URL")
        .expect("DATABASE_URL in env");
    assert!(url["valueFrom"]["secretKeyRef"]["key"].is_string(), "{url}");
    assert!(!args.iter().any(|a| a.starts_with("--database-url")));
    (n, container)
}

#[test]
fn the_kubernetes_job_partitions_the_fleet_over_its_indexes() {
    let (n, container) = checked_job();
    let project = Project::new();
    let ids = chain(&project, 2, "");
    let db = TestDb::new("fleet_shard_job");
    // The manifest's --schemas pattern is tenant\_%: these match it, `other` does not.
    let names = tenant_schemas(&db, 30);
    let args: Vec<String> = container["args"]
        .as_array()
        .expect("args")
        .iter()
        .map(text_of)
        .collect();
    // Every pod at once, each with its index, the env of the manifest (the Secret's URL
    // and the versions path replaced by the test's).
    let children: Vec<_> = (0..n)
        .map(|index| {
            let mut cmd = retort(project.path());
            for var in container["env"].as_array().expect("env") {
                let name = var["name"].as_str().expect("env name");
                let value = match name {
                    "DATABASE_URL" => db.url.clone(),
                    "RETORT_VERSIONS" => project.versions().display().to_string(),
                    _ => text_of(&var["value"]),
                };
                cmd.env(name, value);
            }
            cmd.env("JOB_COMPLETION_INDEX", index.to_string())
                .args(&args)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn retort")
        })
        .collect();
    let mut done: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    for (index, child) in (0..n).zip(children) {
        let run = Run::from(child.wait_with_output().expect("wait")).ok();
        // --events /dev/stdout: the JSON lines among the summary.
        let events: Vec<serde_json::Value> = run
            .stdout
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        assert!(
            events.iter().any(|e| e["event"] == "run_finish"),
            "{}",
            run.stdout
        );
        let mut held: Vec<String> = events
            .iter()
            .filter(|e| e["event"] == "target_done")
            .map(|e| e["target"].as_str().expect("target").to_owned())
            .collect();
        held.sort();
        assert!(
            run.stderr.contains(&format!(
                "shard {index}/{n}: {} of 30 target(s)",
                held.len()
            )),
            "{}",
            run.stderr
        );
        done.insert(index, held);
    }
    assert_partition(&done, &names);
    for name in &names {
        assert_eq!(version_in(&db, name), [ids[1].clone()], "{name}");
        assert_eq!(history_len(&db, name), "2", "{name}");
    }
}

/// The Dockerfile's instructions, continuation lines joined, comments dropped.
fn dockerfile_instructions(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(part) => {
                current.push_str(part);
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                out.push(std::mem::take(&mut current));
            }
        }
    }
    out
}

#[test]
fn the_dockerfile_builds_locked_and_runs_retort_as_a_non_root_user() {
    let path = repo_root().join("deploy/Dockerfile");
    let text = std::fs::read_to_string(&path).expect("deploy/Dockerfile");
    // Stages: (FROM line, its instructions).
    let mut stages: Vec<(String, Vec<String>)> = Vec::new();
    for instruction in dockerfile_instructions(&text) {
        let upper = instruction.to_ascii_uppercase();
        if upper.starts_with("FROM ") {
            stages.push((instruction, Vec::new()));
        } else if let Some((_, body)) = stages.last_mut() {
            body.push(instruction);
        }
    }
    assert!(stages.len() >= 2, "a multi-stage build: {stages:?}");
    let builder = stages
        .iter()
        .find(|(from, _)| from.to_ascii_lowercase().ends_with(" as builder"))
        .expect("a stage named builder");
    assert!(builder.0.contains("rust:"), "{}", builder.0);
    assert!(
        builder
            .1
            .iter()
            .any(|i| i.starts_with("RUN ") && i.contains("cargo build --release --locked")),
        "{:?}",
        builder.1
    );
    let (from, last) = stages.last().expect("final stage");
    assert!(from.contains("debian:") && from.contains("slim"), "{from}");
    assert!(
        last.iter()
            .any(|i| i.starts_with("COPY --from=builder ") && i.contains("target/release/retort")),
        "{last:?}"
    );
    assert!(
        last.iter()
            .any(|i| i.starts_with("RUN ") && i.contains("ca-certificates")),
        "{last:?}"
    );
    let user = last
        .iter()
        .rev()
        .find_map(|i| i.strip_prefix("USER "))
        .expect("USER in the final stage");
    let name = user.split(':').next().unwrap_or("").trim();
    assert!(!["root", "0", ""].contains(&name), "USER {user}");
    let entrypoint = last
        .iter()
        .rev()
        .find_map(|i| i.strip_prefix("ENTRYPOINT "))
        .expect("ENTRYPOINT in the final stage");
    let entrypoint: serde_json::Value =
        serde_json::from_str(entrypoint).expect("ENTRYPOINT in exec (JSON) form");
    assert_eq!(entrypoint, serde_json::json!(["retort"]));
}
