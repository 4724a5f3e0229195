//! A fresh PostgreSQL database per test, on the server named by `TEST_DATABASE_URL`
//! (`make test` starts one with scripts/pg-local.sh). Without that variable the tests
//! fail loudly: a database test that silently skips proves nothing.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

use tokio::runtime::Runtime;
use tokio_postgres::{Client, NoTls};

/// The test server's superuser URL (its maintenance database).
pub fn admin_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| {
            panic!(
                "TEST_DATABASE_URL is not set. Database tests need a real PostgreSQL: run `make test` \
                 (it starts one), or `export TEST_DATABASE_URL=$(scripts/pg-local.sh start)`"
            )
        })
    })
}

fn runtime() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("tokio runtime")
    })
}

/// Replaces the database name (the URL's path) of a `postgres://` URL.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[after_scheme..]
        .find('/')
        .map_or(base.len(), |i| after_scheme + i);
    format!("{}/{database}{query}", &base[..host_end])
}

/// A client on `url`, its connection driven by a spawned task.
pub async fn connect(url: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the test server: {e}"));
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

/// Runs a query on the test server's maintenance database; rows are one text column.
pub fn admin_texts(sql: &str) -> Vec<String> {
    runtime().block_on(async {
        connect(admin_url())
            .await
            .query(sql, &[])
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .iter()
            .map(|row| row.get::<_, String>(0))
            .collect()
    })
}

/// A database created for one test and dropped when the test ends.
pub struct TestDb {
    pub name: String,
    pub url: String,
    client: Client,
}

impl TestDb {
    pub fn new(label: &str) -> TestDb {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "retort_test_{label}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let url = with_database(admin_url(), &name);
        let client = runtime().block_on(async {
            let admin = connect(admin_url()).await;
            admin
                .batch_execute(&format!("CREATE DATABASE \"{name}\""))
                .await
                .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
            connect(&url).await
        });
        TestDb { name, url, client }
    }

    pub fn execute(&self, sql: &str) -> Result<(), tokio_postgres::Error> {
        runtime().block_on(self.client.batch_execute(sql))
    }

    /// Runs a query whose rows are one text column each.
    pub fn texts(&self, sql: &str) -> Vec<String> {
        runtime().block_on(async {
            self.client
                .query(sql, &[])
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"))
                .iter()
                .map(|row| row.get::<_, String>(0))
                .collect()
        })
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        runtime().block_on(async {
            let admin = connect(admin_url()).await;
            let _ = admin
                .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .await;
        });
    }
}

#[test]
fn with_database_replaces_the_path() {
    assert_eq!(
        with_database("postgres://u@h:5/postgres", "x"),
        "postgres://u@h:5/x"
    );
    assert_eq!(with_database("postgres://u@h:5", "x"), "postgres://u@h:5/x");
    assert_eq!(
        with_database("postgres://u@h/db?sslmode=disable", "x"),
        "postgres://u@h/x?sslmode=disable"
    );
}

/// The schema of the database `client` is connected to.
pub async fn inspect(client: &Client) -> retort::catalog::Schema {
    retort::catalog::inspect(client, &retort::catalog::InspectOptions::default())
        .await
        .unwrap_or_else(|e| panic!("inspect: {e}"))
}

/// The dump with each table's columns sorted by name: a migration can only add
/// columns at the end, so column order is not something a diff can reproduce.
pub fn dump_sorted(schema: &retort::catalog::Schema) -> String {
    schema.to_text_with_sorted_columns()
}
