//! Scratch servers in Docker containers (cargo feature `docker`): the official
//! `postgres` image of the wanted major version, through testcontainers, removed again
//! by [`DockerServer::stop`] or, failing that, `Drop`.
//!
//! A container outlives a retort killed with SIGKILL (testcontainers for Rust has no
//! reaper); it is named by its image and can be found with `docker ps`.

use std::time::Duration;

use testcontainers::core::{IntoContainerPort, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt, TestcontainersError};

use super::ScratchError;
use crate::db::ConnInfo;

/// The image tag when the work names no version.
const DEFAULT_MAJOR: u32 = 17;
const SUPERUSER: &str = "retort";
const READY: &str = "database system is ready to accept connections";
/// A first run pulls the image, which can take a while on a slow line.
const STARTUP_WITHIN: Duration = Duration::from_secs(300);

/// A running `postgres` container.
pub(super) struct DockerServer {
    /// None once removed; `Drop` removes it otherwise. Boxed for its size, like `conn`.
    container: Option<Box<ContainerAsync<GenericImage>>>,
    /// Boxed: settings are large, and mod.rs keeps a server in an enum with empty
    /// variants.
    conn: Box<ConnInfo>,
    image: String,
}

impl DockerServer {
    /// Starts `postgres:<want_major>` (default 17) and waits until the real server, not
    /// the image's temporary setup server, accepts connections.
    pub(super) async fn start(want_major: Option<u32>) -> Result<DockerServer, ScratchError> {
        let tag = want_major.unwrap_or(DEFAULT_MAJOR).to_string();
        let image = format!("postgres:{tag}");
        let password = random_password()?;
        let container = GenericImage::new("postgres".to_owned(), tag)
            .with_exposed_port(5432.tcp())
            // The image's entrypoint first runs a temporary server for its setup, whose
            // log goes to stdout, then the real one, whose log goes to stderr: as
            // testcontainers-modules' postgres does, wait for the line on stderr.
            .with_wait_for(WaitFor::message_on_stderr(READY))
            .with_wait_for(WaitFor::message_on_stdout(READY))
            .with_env_var("POSTGRES_USER", SUPERUSER)
            .with_env_var("POSTGRES_PASSWORD", password.clone())
            .with_env_var("POSTGRES_DB", "postgres")
            .with_cmd([
                "postgres",
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ])
            .with_startup_timeout(STARTUP_WITHIN)
            .start()
            .await
            .map_err(|e| unreachable_docker(&image, "start", &e))?;
        // From here on, an early return drops the container, which removes it.
        let host = container
            .get_host()
            .await
            .map_err(|e| unreachable_docker(&image, "find the host of", &e))?
            .to_string();
        // An IPv6 host comes bracketed, as for a URL; the settings want it bare.
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = container
            .get_host_port_ipv4(5432)
            .await
            .map_err(|e| unreachable_docker(&image, "find the mapped port of", &e))?;
        // Every key given, and nothing read from the environment: a user's PGSSLMODE or
        // PGPASSWORD is meant for their servers, not for this one.
        let conn = ConnInfo::parse(
            Some(&format!(
                "host={host} port={port} user={SUPERUSER} dbname=postgres password={password} \
                 sslmode=disable gssencmode=disable connect_timeout=10 target_session_attrs=any"
            )),
            &|_: &str| None,
        )
        .map_err(|source| ScratchError::Connect {
            target: format!("the {image} container on {host}:{port}"),
            source,
        })?;
        Ok(DockerServer {
            container: Some(Box::new(container)),
            conn: Box::new(conn),
            image,
        })
    }

    /// The superuser's connection to the `postgres` database.
    pub(super) fn conn(&self) -> &ConnInfo {
        &self.conn
    }

    /// The image the container runs, e.g. "postgres:15".
    pub(super) fn image(&self) -> &str {
        &self.image
    }

    /// Removes the container (and with it every database in it).
    pub(super) async fn stop(mut self) -> Result<(), ScratchError> {
        let Some(container) = self.container.take() else {
            return Ok(());
        };
        let id = container.id().to_owned();
        container.rm().await.map_err(|e| {
            ScratchError::Docker(format!(
                "cannot remove the {} container {id}: {e}; remove it with `docker rm -f {id}`",
                self.image
            ))
        })
    }
}

impl Drop for DockerServer {
    fn drop(&mut self) {
        let Some(container) = self.container.take() else {
            return;
        };
        // testcontainers removes a dropped container through the current tokio runtime
        // and panics without one; give it one when dropped outside.
        if tokio::runtime::Handle::try_current().is_ok() {
            drop(container);
        } else if let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            runtime.block_on(async move { drop(container) });
        }
    }
}

/// A Docker error, with what to do about it: usually no Docker engine to talk to.
fn unreachable_docker(image: &str, action: &str, e: &TestcontainersError) -> ScratchError {
    ScratchError::Docker(format!(
        "cannot {action} a {image} container: {e}; Docker is not reachable or refused: check \
         that the Docker engine is running and that this user may use it (`docker info` \
         works; DOCKER_HOST points at it, or /var/run/docker.sock is accessible), or use \
         `--scratch local` or `--scratch-url URL` instead"
    ))
}

fn random_password() -> Result<String, ScratchError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| ScratchError::Io {
        what: "get random bytes for the scratch container's password".into(),
        source: std::io::Error::other(e.to_string()),
    })?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}
