//! Scratch servers in Docker containers (cargo feature `docker`): a `postgres:<major>`
//! image, started through the Docker Engine API and removed again by
//! [`DockerServer::stop`] or, failing that, `Drop`.
//!
//! Two ways a container could outlive its run are closed here:
//! - an interrupted start: dropping a create or start request in flight does not stop
//!   dockerd from finishing it, so those two calls always run to completion and a signal
//!   that arrived meanwhile is acted on after them, by removing the container;
//! - a retort killed with SIGKILL, which runs no clean-up at all: every container carries
//!   its owner (host, boot, pid and the process's start time) in labels, and the next
//!   start removes the containers whose owner is no longer running on this host.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bollard::container::LogOutput;
use bollard::models::{ContainerCreateBody, HostConfig, PortBinding};
use bollard::query_parameters::{
    CreateImageOptionsBuilder, ListContainersOptionsBuilder, LogsOptionsBuilder,
    RemoveContainerOptionsBuilder,
};
use bollard::Docker;
use futures_util::{FutureExt, StreamExt};

use super::local::random_hex;
use super::{abandon_on, block_on_own_runtime, ScratchError};
use crate::db::ConnInfo;

/// The image tag when the work names no version.
const DEFAULT_MAJOR: u32 = 18;
const SUPERUSER: &str = "retort";
/// What the image's entrypoint prints once the database is initialised (before the real
/// server starts; the official image runs a temporary server before it).
const INITIALISED: [&str; 2] = ["init process complete", "Skipping initialization"];
const READY: &str = "database system is ready to accept connections";
/// A first start copies the image into a new container, which on vfs storage takes a
/// while; initdb follows.
const STARTUP_WITHIN: Duration = Duration::from_secs(180);
/// How much of the container's log an error quotes.
const LOG_TAIL_LINES: usize = 20;

/// Labels on every scratch container; the owner's identify the process that made it.
const LABEL_SCRATCH: &str = "org.retort.scratch";
const LABEL_HOST: &str = "org.retort.owner.host";
const LABEL_BOOT: &str = "org.retort.owner.boot";
const LABEL_PID: &str = "org.retort.owner.pid";
const LABEL_STARTED: &str = "org.retort.owner.started";

/// A running `postgres` container.
pub(super) struct DockerServer {
    /// None once removed; `Drop` removes it otherwise.
    container: Option<Container>,
    /// Boxed: settings are large, and mod.rs keeps a server in an enum with empty
    /// variants.
    conn: Box<ConnInfo>,
    image: String,
    /// Containers of earlier runs removed on the way (their owners are gone).
    reaped: Vec<String>,
}

/// A container that exists: removed by [`Container::remove`] or on drop.
struct Container {
    docker: Docker,
    id: String,
    name: String,
}

impl DockerServer {
    /// Starts `postgres:<want_major>` (default 18, the newest) and waits until its real server, not
    /// the image's setup, accepts connections. Resolving `interrupt` abandons the start
    /// and removes whatever was created: [`ScratchError::Interrupted`].
    pub(super) async fn start(
        want_major: Option<u32>,
        mut interrupt: Pin<&mut impl Future<Output = &'static str>>,
    ) -> Result<DockerServer, ScratchError> {
        let image = format!("postgres:{}", want_major.unwrap_or(DEFAULT_MAJOR));
        let endpoint = Endpoint::from_env();
        let owner = Owner::current();
        // Nothing exists on the engine yet: these steps may be abandoned at once.
        let (docker, reaped) = abandon_on(interrupt.as_mut(), async {
            let docker = endpoint.connect(&image).await?;
            let reaped = reap_abandoned(&docker, &owner).await?;
            ensure_image(&docker, &image).await?;
            Ok((docker, reaped))
        })
        .await?;

        // Create and start run to completion whatever arrives meanwhile: a request
        // dropped in flight is still carried out by dockerd, and its container would be
        // left behind.
        let name = format!(
            "retort-scratch-{}-{}",
            std::process::id(),
            random_hex(4, "the scratch container's name")?
        );
        let password = random_hex(16, "the scratch container's password")?;
        let created = docker
            .create_container(
                Some(
                    bollard::query_parameters::CreateContainerOptionsBuilder::default()
                        .name(&name)
                        .build(),
                ),
                container_spec(&image, &endpoint, &password, &owner),
            )
            .await;
        let container = match created {
            Ok(created) => Container {
                docker: docker.clone(),
                id: created.id,
                name,
            },
            Err(e) => {
                // A create that failed after all may still have made the container.
                remove_quietly(&docker, &name).await;
                return Err(docker_error(&image, "create", &e));
            }
        };
        match bring_up(
            &docker,
            &container.id,
            &image,
            &endpoint,
            &password,
            interrupt,
        )
        .await
        {
            Ok(conn) => Ok(DockerServer {
                container: Some(container),
                conn: Box::new(conn),
                image,
                reaped,
            }),
            // Said only when it is true: a container that could not be removed is named.
            Err(e) => match container.remove().await {
                Ok(()) => Err(e),
                Err(cleanup) => Err(ScratchError::Docker(match e {
                    ScratchError::Interrupted(signal) => {
                        format!("interrupted by {signal} while starting; {cleanup}")
                    }
                    e => format!("{e}; then: {cleanup}"),
                })),
            },
        }
    }

    /// The superuser's connection to the `postgres` database.
    pub(super) fn conn(&self) -> &ConnInfo {
        &self.conn
    }

    /// The image the container runs, e.g. "postgres:15", and the container's name.
    pub(super) fn describe(&self) -> String {
        match &self.container {
            Some(container) => format!("container {} of {}", container.name, self.image),
            None => format!("removed container of {}", self.image),
        }
    }

    /// Containers left by earlier runs that were killed, removed during the start.
    pub(super) fn reaped(&self) -> &[String] {
        &self.reaped
    }

    /// Removes the container (and with it every database in it).
    pub(super) async fn stop(mut self) -> Result<(), ScratchError> {
        match self.container.take() {
            Some(container) => container.remove().await,
            None => Ok(()),
        }
    }
}

impl Container {
    async fn remove(mut self) -> Result<(), ScratchError> {
        let id = std::mem::take(&mut self.id);
        remove(&self.docker, &id).await.map_err(|e| {
            ScratchError::Docker(format!(
                "cannot remove the scratch container {}: {e}; remove it with `docker rm -f {}`",
                self.name, self.name
            ))
        })
    }
}

impl Drop for Container {
    /// The path of an early return or a panic. The caller's runtime may be shutting
    /// down, so the removal gets a thread and a runtime of its own, and a connection of
    /// its own too (the caller's is tied to the caller's runtime).
    fn drop(&mut self) {
        if self.id.is_empty() {
            return;
        }
        let id = std::mem::take(&mut self.id);
        block_on_own_runtime(async move {
            if let Ok(docker) = Endpoint::from_env().connect("postgres").await {
                remove_quietly(&docker, &id).await;
            }
        });
    }
}

/// Where the engine is (DOCKER_HOST or the default socket) and so where the published
/// port can be reached from.
struct Endpoint {
    /// The host part of a `tcp://` DOCKER_HOST; None for a local socket.
    remote_host: Option<String>,
}

impl Endpoint {
    fn from_env() -> Endpoint {
        Endpoint {
            remote_host: remote_host(&std::env::var("DOCKER_HOST").unwrap_or_default()),
        }
    }

    /// Connects and agrees on an API version (dockerd 20.10 speaks older ones than the
    /// client's default).
    async fn connect(&self, image: &str) -> Result<Docker, ScratchError> {
        let docker =
            Docker::connect_with_defaults().map_err(|e| docker_error(image, "start", &e))?;
        docker
            .negotiate_version()
            .await
            .map_err(|e| docker_error(image, "start", &e))
    }

    /// A local engine publishes on the loopback only: a scratch superuser's port is
    /// nobody else's business. A remote one must publish where this machine can reach.
    fn publish_ip(&self) -> &'static str {
        if self.remote_host.is_some() {
            "0.0.0.0"
        } else {
            "127.0.0.1"
        }
    }

    fn client_host(&self) -> String {
        self.remote_host
            .clone()
            .unwrap_or_else(|| "127.0.0.1".to_owned())
    }
}

/// The host of a network DOCKER_HOST (`tcp://host:2376`), None for a socket.
fn remote_host(docker_host: &str) -> Option<String> {
    let rest = ["tcp://", "http://", "https://"]
        .iter()
        .find_map(|scheme| docker_host.strip_prefix(scheme))?;
    let authority = rest.split('/').next().unwrap_or(rest);
    let host = match authority.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => authority,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    (!host.is_empty()).then(|| host.to_owned())
}

/// Who started a container: enough to tell later whether that process still runs.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Owner {
    host: String,
    boot: String,
    pid: u32,
    /// The process's start time in clock ticks after boot (`/proc/<pid>/stat`), so that
    /// a pid used again by another process is not taken for the owner.
    started: u64,
}

impl Owner {
    fn current() -> Owner {
        let pid = std::process::id();
        Owner {
            host: read_trimmed("/proc/sys/kernel/hostname"),
            boot: read_trimmed("/proc/sys/kernel/random/boot_id"),
            pid,
            started: process_started(pid).unwrap_or(0),
        }
    }

    fn labels(&self) -> HashMap<String, String> {
        HashMap::from([
            (LABEL_SCRATCH.to_owned(), "1".to_owned()),
            (LABEL_HOST.to_owned(), self.host.clone()),
            (LABEL_BOOT.to_owned(), self.boot.clone()),
            (LABEL_PID.to_owned(), self.pid.to_string()),
            (LABEL_STARTED.to_owned(), self.started.to_string()),
        ])
    }
}

/// Whether the container with these labels was left by a process of this host that no
/// longer runs. Containers of other hosts (a shared engine) and containers without
/// readable owner labels are never judged abandoned.
fn abandoned(
    labels: &HashMap<String, String>,
    me: &Owner,
    started_of: impl Fn(u32) -> Option<u64>,
) -> bool {
    let label = |key: &str| labels.get(key).map(String::as_str);
    if label(LABEL_SCRATCH) != Some("1") || label(LABEL_HOST) != Some(me.host.as_str()) {
        return false;
    }
    let (Some(pid), Some(started)) = (
        label(LABEL_PID).and_then(|p| p.parse::<u32>().ok()),
        label(LABEL_STARTED).and_then(|s| s.parse::<u64>().ok()),
    ) else {
        return false;
    };
    if label(LABEL_BOOT) != Some(me.boot.as_str()) {
        // The host booted since: no process of before runs.
        return true;
    }
    if pid == me.pid && started == me.started {
        return false;
    }
    started_of(pid) != Some(started)
}

/// Removes the scratch containers whose owner is gone; returns what it removed, for the
/// user to be told.
async fn reap_abandoned(docker: &Docker, me: &Owner) -> Result<Vec<String>, ScratchError> {
    let filters = HashMap::from([("label", vec![format!("{LABEL_SCRATCH}=1")])]);
    let containers = docker
        .list_containers(Some(
            ListContainersOptionsBuilder::default()
                .all(true)
                .filters(&filters)
                .build(),
        ))
        .await
        .map_err(|e| docker_error("postgres", "list the scratch containers of", &e))?;
    let mut reaped = Vec::new();
    for container in containers {
        let labels = container.labels.unwrap_or_default();
        let Some(id) = container.id else { continue };
        if !abandoned(&labels, me, process_started) {
            continue;
        }
        let name = container
            .names
            .and_then(|names| names.into_iter().next())
            .map(|n| n.trim_start_matches('/').to_owned())
            .unwrap_or_else(|| id.clone());
        let pid = labels.get(LABEL_PID).cloned().unwrap_or_default();
        // Another run may be removing it at the same moment: gone is as good as removed.
        match remove(docker, &id).await {
            Ok(()) => reaped.push(format!(
                "{name} (left by retort pid {pid}, which no longer runs)"
            )),
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(docker_error("postgres", "remove an abandoned", &e)),
        }
    }
    Ok(reaped)
}

/// Pulls the image when the engine does not have it.
async fn ensure_image(docker: &Docker, image: &str) -> Result<(), ScratchError> {
    match docker.inspect_image(image).await {
        Ok(_) => return Ok(()),
        Err(e) if is_not_found(&e) => {}
        Err(e) => return Err(docker_error(image, "inspect the image of", &e)),
    }
    let (repo, tag) = image.split_once(':').unwrap_or((image, "latest"));
    let mut pull = docker.create_image(
        Some(
            CreateImageOptionsBuilder::default()
                .from_image(repo)
                .tag(tag)
                .build(),
        ),
        None,
        None,
    );
    while let Some(step) = pull.next().await {
        step.map_err(|e| {
            ScratchError::Docker(format!(
                "the image {image} is not on the Docker engine and pulling it failed: {e}; \
                 pull or build it (retort's repository builds one from local binaries: \
                 scripts/docker-image.sh), or use `--scratch local`"
            ))
        })?;
    }
    Ok(())
}

fn container_spec(
    image: &str,
    endpoint: &Endpoint,
    password: &str,
    owner: &Owner,
) -> ContainerCreateBody {
    let settings = [
        "fsync=off",
        "synchronous_commit=off",
        "full_page_writes=off",
    ];
    let mut cmd = vec!["postgres".to_owned()];
    for setting in settings {
        cmd.push("-c".to_owned());
        cmd.push(setting.to_owned());
    }
    ContainerCreateBody {
        image: Some(image.to_owned()),
        env: Some(vec![
            format!("POSTGRES_USER={SUPERUSER}"),
            format!("POSTGRES_PASSWORD={password}"),
            "POSTGRES_DB=postgres".to_owned(),
        ]),
        cmd: Some(cmd),
        labels: Some(owner.labels()),
        exposed_ports: Some(vec!["5432/tcp".to_owned()]),
        host_config: Some(HostConfig {
            port_bindings: Some(HashMap::from([(
                "5432/tcp".to_owned(),
                Some(vec![PortBinding {
                    host_ip: Some(endpoint.publish_ip().to_owned()),
                    host_port: Some(String::new()),
                }]),
            )])),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Starts the created container and waits for its server; the connection settings.
async fn bring_up(
    docker: &Docker,
    id: &str,
    image: &str,
    endpoint: &Endpoint,
    password: &str,
    mut interrupt: Pin<&mut impl Future<Output = &'static str>>,
) -> Result<ConnInfo, ScratchError> {
    let started = docker.start_container(id, None).await;
    if let Some(signal) = interrupt.as_mut().now_or_never() {
        return Err(ScratchError::Interrupted(signal));
    }
    if let Err(e) = started {
        let log = log_tail(docker, id).await;
        return Err(ScratchError::Docker(format!(
            "cannot start a {image} container: {e}{log}"
        )));
    }
    // Waiting has no side effect of its own: a signal ends it at once.
    tokio::select! {
        waited = wait_until_ready(docker, id, image) => waited?,
        signal = interrupt => return Err(ScratchError::Interrupted(signal)),
    }
    let port = mapped_port(docker, id)
        .await
        .map_err(|e| docker_error(image, "find the mapped port of", &e))?;
    connection(&endpoint.client_host(), port, password, image)
}

/// Follows the container's log until the server that stays up says it is ready.
async fn wait_until_ready(docker: &Docker, id: &str, image: &str) -> Result<(), ScratchError> {
    let mut log = docker.logs(
        id,
        Some(
            LogsOptionsBuilder::default()
                .follow(true)
                .stdout(true)
                .stderr(true)
                .build(),
        ),
    );
    let mut seen = String::new();
    let mut initialised = false;
    let outcome = tokio::time::timeout(STARTUP_WITHIN, async {
        while let Some(chunk) = log.next().await {
            let chunk = match chunk {
                Ok(LogOutput::StdOut { message } | LogOutput::StdErr { message }) => message,
                Ok(_) => continue,
                Err(e) => return Err(docker_error(image, "read the log of", &e)),
            };
            seen.push_str(&String::from_utf8_lossy(&chunk));
            for line in seen.lines() {
                if INITIALISED.iter().any(|m| line.contains(m)) {
                    initialised = true;
                } else if initialised && line.contains(READY) {
                    return Ok(true);
                }
            }
            // Keep only an unfinished last line for the next round.
            if let Some(end) = seen.rfind('\n') {
                seen.drain(..=end);
            }
        }
        Ok(false)
    })
    .await;
    match outcome {
        Ok(Ok(true)) => Ok(()),
        Ok(Err(e)) => Err(e),
        Ok(Ok(false)) => Err(ScratchError::Docker(format!(
            "the {image} container stopped before its server was ready{}",
            log_tail(docker, id).await
        ))),
        Err(_) => Err(ScratchError::Docker(format!(
            "the {image} container's server was not ready within {} s{}",
            STARTUP_WITHIN.as_secs(),
            log_tail(docker, id).await
        ))),
    }
}

/// The last lines of a container's log, for an error message ("" when unreadable).
async fn log_tail(docker: &Docker, id: &str) -> String {
    let mut log = docker.logs(
        id,
        Some(
            LogsOptionsBuilder::default()
                .stdout(true)
                .stderr(true)
                .tail(&LOG_TAIL_LINES.to_string())
                .build(),
        ),
    );
    let mut text = String::new();
    while let Some(Ok(chunk)) = log.next().await {
        text.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
    }
    let text = text.trim_end();
    if text.is_empty() {
        String::new()
    } else {
        format!("; its log ends:\n{text}")
    }
}

async fn mapped_port(docker: &Docker, id: &str) -> Result<u16, bollard::errors::Error> {
    let inspected = docker.inspect_container(id, None).await?;
    let port = inspected
        .network_settings
        .and_then(|n| n.ports)
        .and_then(|ports| ports.get("5432/tcp").cloned().flatten())
        .and_then(|bindings| bindings.into_iter().find_map(|b| b.host_port))
        .and_then(|p| p.parse().ok());
    port.ok_or_else(|| bollard::errors::Error::DockerResponseServerError {
        status_code: 500,
        message: "port 5432/tcp is not published".into(),
    })
}

fn connection(
    host: &str,
    port: u16,
    password: &str,
    image: &str,
) -> Result<ConnInfo, ScratchError> {
    // Every key given, and nothing read from the environment: a user's PGSSLMODE or
    // PGPASSWORD is meant for their servers, not for this one.
    ConnInfo::parse(
        Some(&format!(
            "host={host} port={port} user={SUPERUSER} dbname=postgres password={password} \
             sslmode=disable gssencmode=disable connect_timeout=10 target_session_attrs=any"
        )),
        &|_: &str| None,
    )
    .map_err(|source| ScratchError::Connect {
        target: format!("the {image} container on {host}:{port}"),
        source,
    })
}

/// Force-removes a container with its anonymous volumes (the official image declares
/// one for its data).
async fn remove(docker: &Docker, id: &str) -> Result<(), bollard::errors::Error> {
    docker
        .remove_container(
            id,
            Some(
                RemoveContainerOptionsBuilder::default()
                    .force(true)
                    .v(true)
                    .build(),
            ),
        )
        .await
}

async fn remove_quietly(docker: &Docker, id: &str) {
    let _ = remove(docker, id).await;
}

fn is_not_found(e: &bollard::errors::Error) -> bool {
    matches!(
        e,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

/// A Docker error, with what to do about it: usually no Docker engine to talk to.
fn docker_error(image: &str, action: &str, e: &bollard::errors::Error) -> ScratchError {
    if matches!(e, bollard::errors::Error::DockerResponseServerError { .. }) {
        return ScratchError::Docker(format!("cannot {action} a {image} container: {e}"));
    }
    ScratchError::Docker(format!(
        "cannot {action} a {image} container: {e}; Docker is not reachable or refused: check \
         that the Docker engine is running and that this user may use it (`docker info` \
         works; DOCKER_HOST points at it, or /var/run/docker.sock is accessible), or use \
         `--scratch local` or `--scratch-url URL` instead"
    ))
}

/// When the process `pid` started (field 22 of `/proc/<pid>/stat`), None if it does
/// not run.
fn process_started(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold anything, spaces and
    // parentheses included: count the fields after its last ')'.
    let (_, after) = stat.rsplit_once(')')?;
    after.split_whitespace().nth(19)?.parse().ok()
}

fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me() -> Owner {
        Owner {
            host: "ci-1".into(),
            boot: "b-1".into(),
            pid: 100,
            started: 5000,
        }
    }

    fn labels_of(owner: &Owner) -> HashMap<String, String> {
        owner.labels()
    }

    #[test]
    fn a_container_whose_owner_runs_is_kept() {
        let other = Owner {
            pid: 200,
            started: 7000,
            ..me()
        };
        assert!(!abandoned(&labels_of(&other), &me(), |pid| (pid == 200)
            .then_some(7000)));
        // Our own, too.
        assert!(!abandoned(&labels_of(&me()), &me(), |_| None));
    }

    #[test]
    fn a_container_whose_owner_is_gone_or_replaced_is_abandoned() {
        let other = Owner {
            pid: 200,
            started: 7000,
            ..me()
        };
        assert!(abandoned(&labels_of(&other), &me(), |_| None));
        // The pid runs again, but it is another process.
        assert!(abandoned(&labels_of(&other), &me(), |_| Some(9000)));
        // The host rebooted since.
        let before = Owner {
            boot: "b-0".into(),
            ..other
        };
        assert!(abandoned(&labels_of(&before), &me(), |_| Some(7000)));
    }

    #[test]
    fn containers_of_other_hosts_or_without_owner_are_never_abandoned() {
        let elsewhere = Owner {
            host: "ci-2".into(),
            pid: 200,
            ..me()
        };
        assert!(!abandoned(&labels_of(&elsewhere), &me(), |_| None));
        let mut unlabelled = labels_of(&Owner { pid: 200, ..me() });
        unlabelled.remove(LABEL_STARTED);
        assert!(!abandoned(&unlabelled, &me(), |_| None));
        let mut foreign = labels_of(&Owner { pid: 200, ..me() });
        foreign.insert(LABEL_SCRATCH.into(), "yes".into());
        assert!(!abandoned(&foreign, &me(), |_| None));
    }

    #[test]
    fn the_start_time_of_this_process_is_readable() {
        let started = process_started(std::process::id());
        assert!(started.is_some_and(|t| t > 0), "{started:?}");
        assert_eq!(process_started(u32::MAX), None);
    }

    #[test]
    fn a_network_engine_is_reached_at_its_host() {
        assert_eq!(
            remote_host("tcp://10.0.0.5:2375").as_deref(),
            Some("10.0.0.5")
        );
        assert_eq!(
            remote_host("tcp://[fd00::5]:2376").as_deref(),
            Some("fd00::5")
        );
        assert_eq!(
            remote_host("http://docker.internal").as_deref(),
            Some("docker.internal")
        );
        assert_eq!(remote_host("unix:///run/retort-docker/docker.sock"), None);
        assert_eq!(remote_host(""), None);
    }
}
