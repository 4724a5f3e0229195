//! A service that migrates its own database at start-up, with the revisions compiled
//! into its binary: `retort::embed_migrations!` embeds `examples/embedded/versions`
//! (the build fails if `retort.sum` disagrees with the files), and the migrator runs
//! them on the application's own connection under retort's advisory lock, so several
//! instances starting at once apply each revision exactly once.
//!
//! ```text
//! DATABASE_URL=postgres://app@localhost/app cargo run --example embedded
//! ```
//!
//! A library user only needs `retort = { version = "0.1", default-features = false }`:
//! no command line, no SQL linter, no libclang to build.

use retort::db::{Session, VersionTables};
use retort::migrator::{RunEvent, RunOptions};
use retort::{EmbeddedMigrations, Migrator};

static MIGRATIONS: EmbeddedMigrations = retort::embed_migrations!("examples/embedded/versions");

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("DATABASE_URL")
        .map_err(|_| "set DATABASE_URL to the database to migrate (postgres://...)")?;
    // The application's connection (a pool's would do as well: a pooled object
    // dereferences to a tokio_postgres::Client).
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            eprintln!("embedded: connection lost: {e}");
        }
    });

    let migrator = Migrator::from_embedded(&MIGRATIONS)?;
    let session = Session::from_client(&client, VersionTables::default()).await?;
    let applied = migrator
        .upgrade(
            &session,
            "head",
            &RunOptions::default(),
            |holder| eprintln!("embedded: another instance is migrating ({holder}); waiting"),
            &mut |event| match event {
                RunEvent::Step(step) => {
                    println!("embedded: applied {} ({})", step.revision, step.message)
                }
                // A lock the revision needs is held (a long query on its table): it was
                // rolled back and is retried shortly, never queueing the application.
                RunEvent::LockWait(wait) => eprintln!("embedded: {wait}"),
                // Batch progress, and whatever later versions report.
                _ => {}
            },
        )
        .await?;
    println!(
        "embedded: {} revision(s) applied; the database is at head",
        applied.len()
    );

    // The migrator has given the advisory lock back: the connection is the
    // application's again.
    let accounts: i64 = client
        .query_one("SELECT count(*) FROM accounts", &[])
        .await?
        .get(0);
    println!("embedded: {accounts} account(s)");
    Ok(())
}
