//! The Docker scratch provider against a real Docker engine (cargo feature `docker`):
//! `test-migration --scratch docker` passes and leaves no container, Ctrl-C at several
//! moments of the start leaves none, and a container left by a retort killed with
//! SIGKILL is removed by the next run.
//!
//! Needs DOCKER_HOST (or the default socket) with a `postgres:N` image for the major in
//! TEST_DOCKER_PG_MAJOR; `make test-docker` starts an engine and builds the images
//! (scripts/docker-engine.sh, scripts/docker-image.sh). Without them these tests fail:
//! they are never counted as passed when no engine ran them. They run one at a time
//! (.config/nextest.toml): one run's clean-up of abandoned containers must not take
//! another test's deliberately abandoned one.

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::{retort, Project};
use crate::test_migration::{chain, signal, sleepy_chain};

/// The major of the image under test; the tests fail loudly without one.
fn major() -> String {
    let major = std::env::var("TEST_DOCKER_PG_MAJOR").unwrap_or_default();
    assert!(
        !major.is_empty(),
        "TEST_DOCKER_PG_MAJOR is not set: the Docker provider's tests need a Docker engine and \
         a postgres:N image (run `make test-docker`, which provides both)"
    );
    major
}

/// `docker` with the test's engine; its stdout lines.
fn docker(args: &[&str]) -> Vec<String> {
    let out = Command::new("docker")
        .args(args)
        .output()
        .expect("run the docker client");
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .filter(|l| !l.is_empty())
        .collect()
}

/// Names of the containers (running or not) that retort process `pid` made.
fn containers_of(pid: u32) -> Vec<String> {
    docker(&[
        "ps",
        "-a",
        "--filter",
        &format!("label=org.retort.owner.pid={pid}"),
        "--format",
        "{{.Names}}",
    ])
}

fn spawn_test_migration(project: &Project, extra: &[&str]) -> Child {
    retort(project.path())
        .args([
            "test-migration",
            "--scratch",
            "docker",
            "--pg-major",
            &major(),
        ])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn retort")
}

/// Exit code, and stdout and stderr together (the summary goes to one, the scratch
/// server's story to the other).
fn finish(child: Child) -> (i32, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().expect("wait for retort");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&stderr),
        String::from_utf8_lossy(&stdout)
    );
    (status.code().unwrap_or(-1), text)
}

/// Waits until `pid`'s container exists; its name.
fn wait_for_container(pid: u32) -> String {
    wait_for_container_where(pid, &[]);
    containers_of(pid)
        .into_iter()
        .next()
        .expect("the container just seen")
}

#[test]
fn docker_test_migration_passes_and_leaves_no_container() {
    let project = Project::new();
    chain(&project, false);
    let child = spawn_test_migration(&project, &["--each"]);
    let pid = child.id();
    let (code, stderr) = finish(child);
    assert_eq!(code, 0, "{stderr}");
    let major = major();
    assert!(
        stderr.contains(&format!("scratch: docker PostgreSQL {major}."))
            && stderr.contains(&format!("of postgres:{major} on retort@")),
        "{stderr}"
    );
    assert!(stderr.contains("test-migration passed"), "{stderr}");
    assert_eq!(containers_of(pid), Vec::<String>::new());
}

#[test]
fn docker_a_broken_downgrade_is_caught_and_the_container_removed() {
    let project = Project::new();
    chain(&project, true);
    let child = spawn_test_migration(&project, &["--each"]);
    let pid = child.id();
    let (code, stderr) = finish(child);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(containers_of(pid), Vec::<String>::new());
}

/// When the signal is sent during the start.
#[derive(Debug, Clone, Copy)]
enum Moment {
    /// This long after retort started: connecting, reaping, creating, starting, initdb,
    /// depending on the machine's speed.
    After(u64),
    /// As soon as the container exists: the create or start call is in flight.
    Created,
    /// As soon as the container runs: its entrypoint is initialising.
    Running,
}

/// Waits until `pid`'s container shows in `docker ps` with `filter` (e.g. running).
fn wait_for_container_where(pid: u32, filter: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let label = format!("label=org.retort.owner.pid={pid}");
    let mut args = vec!["ps", "-a", "-q", "--filter", label.as_str()];
    for f in filter {
        args.extend(["--filter", f]);
    }
    while docker(&args).is_empty() {
        assert!(
            Instant::now() < deadline,
            "no container {filter:?} of pid {pid}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn docker_ctrl_c_at_any_moment_of_the_start_leaves_no_container() {
    let project = Project::new();
    sleepy_chain(&project);
    let moments = [
        Moment::After(0),
        Moment::After(150),
        Moment::After(400),
        Moment::After(800),
        Moment::After(1500),
        Moment::Created,
        Moment::Running,
    ];
    for moment in moments {
        let child = spawn_test_migration(&project, &["--each"]);
        let pid = child.id();
        match moment {
            Moment::After(ms) => std::thread::sleep(Duration::from_millis(ms)),
            Moment::Created => wait_for_container_where(pid, &[]),
            Moment::Running => wait_for_container_where(pid, &["status=running"]),
        }
        signal(&child, "INT");
        let (code, stderr) = finish(child);
        // The chain sleeps for two minutes: every run ends by the signal, with exit 130
        // once retort handles signals. A signal sent before that (right after spawning)
        // ends the process the default way, before it could have made a container.
        let early = code == -1 && matches!(moment, Moment::After(_));
        assert!(code == 130 || early, "exit {code} at {moment:?}: {stderr}");
        assert!(
            early || stderr.contains("interrupted by Ctrl-C"),
            "{stderr}"
        );
        // dockerd carries out a request whose client went away: a create in flight
        // when retort exited would show its container only once done (about a second
        // on vfs storage), so look again after that.
        for look in [Duration::ZERO, Duration::from_secs(3)] {
            std::thread::sleep(look);
            assert_eq!(
                containers_of(pid),
                Vec::<String>::new(),
                "a container is left {look:?} after Ctrl-C at {moment:?}: {stderr}"
            );
        }
    }
}

#[test]
fn docker_sigterm_while_the_tests_run_removes_the_container() {
    let project = Project::new();
    sleepy_chain(&project);
    let mut child = spawn_test_migration(&project, &["--each"]);
    let pid = child.id();
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    // Revision 1's row is printed once it passed; revision 2 then sleeps.
    let first = lines.next().expect("a line").expect("text");
    assert!(first.starts_with("REVISION"), "{first}");
    lines.next().expect("revision 1's row").expect("text");
    assert_eq!(containers_of(pid).len(), 1);
    signal(&child, "TERM");
    let (code, stderr) = finish(child);
    assert_eq!(code, 130, "{stderr}");
    assert_eq!(containers_of(pid), Vec::<String>::new());
}

#[test]
fn docker_a_container_left_by_a_killed_run_is_removed_by_the_next() {
    let project = Project::new();
    sleepy_chain(&project);
    let mut killed = spawn_test_migration(&project, &["--each"]);
    let pid = killed.id();
    let name = wait_for_container(pid);
    killed.kill().expect("SIGKILL");
    killed.wait().expect("wait");
    // Nothing ran to clean up: the container is still there.
    assert_eq!(containers_of(pid), vec![name.clone()]);

    let next = Project::new();
    chain(&next, false);
    let child = spawn_test_migration(&next, &[]);
    let next_pid = child.id();
    let (code, stderr) = finish(child);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "removed the abandoned scratch container {name} (left by retort pid {pid}"
        )),
        "{stderr}"
    );
    assert_eq!(containers_of(pid), Vec::<String>::new());
    assert_eq!(containers_of(next_pid), Vec::<String>::new());
}

#[test]
fn docker_an_unreachable_engine_is_named_with_what_to_do() {
    let project = Project::new();
    chain(&project, false);
    let run = retort(project.path())
        .args([
            "test-migration",
            "--scratch",
            "docker",
            "--pg-major",
            &major(),
        ])
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .expect("run retort");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("Docker is not reachable") && stderr.contains("--scratch local"),
        "{stderr}"
    );
}

#[test]
fn docker_a_missing_image_says_how_to_get_one() {
    let project = Project::new();
    chain(&project, false);
    let child = retort(project.path())
        .args(["test-migration", "--scratch", "docker", "--pg-major", "99"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn retort");
    let pid = child.id();
    let (code, stderr) = finish(child);
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains("postgres:99") && stderr.contains("scripts/docker-image.sh"),
        "{stderr}"
    );
    assert_eq!(containers_of(pid), Vec::<String>::new());
}
