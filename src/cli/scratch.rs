//! Scratch servers at the command line: the `--scratch`, `--scratch-url` and
//! `--pg-major` flags shared by test-migration, diff and check, starting and announcing
//! the server, and tearing it down whatever happens, Ctrl-C and SIGTERM included.

use clap::ValueEnum;

use super::Output;
use crate::dump::DumpInfo;
use crate::scratch::{Provider, ScratchError, ScratchOptions, ScratchServer};

/// Exit code after Ctrl-C or SIGTERM (128 + SIGINT, as shells report it).
pub(super) const EXIT_INTERRUPTED: u8 = 130;

/// The run was interrupted by a signal; everything scratch has been removed.
#[derive(Debug, thiserror::Error)]
#[error("interrupted by {0}; everything scratch (databases, cluster, container) was removed")]
pub(super) struct Interrupted(pub &'static str);

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum ScratchArg {
    Auto,
    Server,
    Local,
    Docker,
}

#[derive(Debug, Clone, clap::Args)]
pub(super) struct ScratchFlags {
    /// Where scratch databases come from
    #[arg(long, value_enum, default_value_t = ScratchArg::Auto)]
    scratch: ScratchArg,
    /// An existing server to create scratch databases on (its maintenance database URL)
    #[arg(long, value_name = "URL", env = "RETORT_SCRATCH_URL")]
    scratch_url: Option<String>,
    /// Production's PostgreSQL major version: picks matching local binaries or Docker
    /// image, and warns when the scratch server differs [default: a dump's]
    #[arg(long, value_name = "N")]
    pg_major: Option<u32>,
}

/// Resolves when SIGINT or SIGTERM arrives, with the signal's name.
pub(super) async fn interrupted() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            return std::future::pending().await;
        };
        tokio::select! {
            _ = int.recv() => "Ctrl-C (SIGINT)",
            _ = term.recv() => "SIGTERM",
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}

/// Starts a scratch server, runs `work` on it, and shuts the server down afterwards —
/// also when `work` fails or a signal arrives. `want_major` is a dump's version, used
/// when --pg-major is not given.
pub(super) async fn with_scratch<T>(
    out: &Output,
    flags: &ScratchFlags,
    want_major: Option<u32>,
    dump: Option<&DumpInfo>,
    work: impl AsyncFnOnce(&ScratchServer) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let options = ScratchOptions {
        provider: match flags.scratch {
            ScratchArg::Auto => Provider::Auto,
            ScratchArg::Server => Provider::Server,
            ScratchArg::Local => Provider::Local,
            ScratchArg::Docker => Provider::Docker,
        },
        server_url: flags.scratch_url.clone(),
        want_major: flags.pg_major.or(want_major),
    };
    if !out.quiet && !out.json {
        eprintln!("starting a scratch PostgreSQL ({})...", options.provider);
    }
    let server = match ScratchServer::start(&options, interrupted()).await {
        Ok(server) => server,
        Err(ScratchError::Interrupted(signal)) => return Err(Interrupted(signal).into()),
        Err(e) => return Err(e.into()),
    };
    announce(out, &server, flags.pg_major, dump);
    let result = tokio::select! {
        result = work(&server) => result,
        signal = interrupted() => Err(Interrupted(signal).into()),
    };
    // Always, whatever happened above: the scratch server goes away.
    let shutdown = server.shutdown().await;
    match (result, shutdown) {
        (Ok(value), Ok(())) => Ok(value),
        (Ok(_), Err(e)) => Err(e.into()),
        (Err(e), Ok(())) => Err(e),
        (Err(e), Err(cleanup)) => {
            eprintln!("warning: cleaning up the scratch server failed too: {cleanup}");
            Err(e)
        }
    }
}

fn announce(out: &Output, server: &ScratchServer, pg_major: Option<u32>, dump: Option<&DumpInfo>) {
    if out.verbose {
        for skipped in server.skipped() {
            eprintln!("scratch: skipped {skipped}");
        }
    }
    if !out.quiet && !out.json {
        for note in server.notes() {
            eprintln!("scratch: {note}");
        }
        eprintln!("scratch: {}", server.describe());
    }
    let major = server.version().major();
    let mut expected = Vec::new();
    if let Some(m) = dump.and_then(DumpInfo::server_major) {
        expected.push((m, "the dump was taken from"));
    }
    if let Some(m) = pg_major {
        expected.push((m, "--pg-major says production runs"));
    }
    for (want, what) in expected {
        if want != major && !out.quiet {
            eprintln!(
                "warning: the scratch server is PostgreSQL {major} but {what} PostgreSQL {want}; \
                 results may differ from production (install PostgreSQL {want}'s server \
                 binaries, or use --scratch-url / --scratch docker with that version)"
            );
        }
    }
}
