//! Connection settings and TLS against the real test server (`TEST_DATABASE_URL`).
//!
//! The TLS tests need the CA certificate of the test server in `TEST_PG_CA`
//! (`scripts/pg-local.sh ca` prints it; `make test` exports it). Without it they fail:
//! a TLS test that silently skips proves nothing.

use std::path::{Path, PathBuf};
use std::process::Command;

use retort::db::connect::{ConnInfo, ConnectError};

use crate::support::TestDb;

const SECRET: &str = "n0t-Really-S3cret";

/// The test server's CA certificate, or a failure that says how to get it.
fn test_ca() -> PathBuf {
    let ca = std::env::var_os("TEST_PG_CA").unwrap_or_else(|| {
        panic!(
            "TEST_PG_CA is not set. The TLS tests need the CA certificate of the test server: \
             run `make test`, or `export TEST_PG_CA=$(scripts/pg-local.sh ca)` after \
             `scripts/pg-local.sh start` (restart an older server with `scripts/pg-local.sh stop` \
             first so that it gets certificates)"
        )
    });
    let ca = PathBuf::from(ca);
    assert!(
        ca.is_file(),
        "TEST_PG_CA={} is not a file; re-export it: export TEST_PG_CA=$(scripts/pg-local.sh ca)",
        ca.display()
    );
    ca
}

/// Parses with an environment that has only `HOME` (so neither the developer's
/// ~/.pgpass nor ~/.postgresql/root.crt takes part) and the given variables.
fn parse_in(home: &Path, given: &str) -> Result<ConnInfo, ConnectError> {
    let home = home.display().to_string();
    ConnInfo::parse(Some(given), &move |name: &str| {
        (name == "HOME").then(|| home.clone())
    })
}

fn parse(given: &str) -> ConnInfo {
    parse_in(Path::new("/nonexistent"), given).unwrap_or_else(|e| panic!("{e}"))
}

/// `url` with `params` (`a=b&c=d`) added; URL parameters override the URL's own parts.
fn with_params(url: &str, params: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{params}")
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(future)
}

/// Connects and tells whether the session uses TLS.
fn connect_ssl(info: &ConnInfo) -> Result<bool, ConnectError> {
    block_on(async {
        let client = info.connect("retort-it").await?;
        let row = client
            .query_one(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
            )
            .await
            .expect("query pg_stat_ssl");
        Ok(row.get::<_, bool>(0))
    })
}

#[track_caller]
fn assert_tls(info: &ConnInfo, expected: bool) {
    match connect_ssl(info) {
        Ok(ssl) => assert_eq!(ssl, expected, "TLS in use for {}", info.describe()),
        Err(e) => panic!("{e}"),
    }
}

#[track_caller]
fn connect_error(info: &ConnInfo) -> String {
    match connect_ssl(info) {
        Ok(_) => panic!("expected {} to fail", info.describe()),
        Err(e) => e.to_string(),
    }
}

/// A self-signed CA that did not sign the server's certificate.
fn other_ca(dir: &Path) -> PathBuf {
    let cert = dir.join("other-ca.crt");
    let output = Command::new("openssl")
        .args(["req", "-x509", "-new", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"])
        .args(["-subj", "/CN=not the test CA", "-keyout"])
        .arg(dir.join("other-ca.key"))
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap_or_else(|e| panic!("cannot run openssl (scripts/pg-local.sh installs it): {e}"));
    assert!(
        output.status.success(),
        "openssl failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    cert
}

#[test]
fn connects_with_the_url() {
    let db = TestDb::new("connect_url");
    let info = parse(&db.url);
    assert_eq!(info.dbname(), db.name);
    assert!(info.describe().ends_with(&format!("/{}", db.name)));
    let (database, app) = block_on(async {
        let client = info
            .connect("retort-it")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let row = client
            .query_one(
                "SELECT current_database()::text, current_setting('application_name')",
                &[],
            )
            .await
            .expect("query");
        (row.get::<_, String>(0), row.get::<_, String>(1))
    });
    assert_eq!(database, db.name);
    assert_eq!(app, "retort-it");
}

#[test]
fn application_name_in_the_settings_wins() {
    let db = TestDb::new("connect_app");
    let info = parse(&with_params(&db.url, "application_name=from-url"));
    let app = block_on(async {
        let client = info
            .connect("retort-it")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let row = client
            .query_one("SELECT current_setting('application_name')", &[])
            .await
            .expect("query");
        row.get::<_, String>(0)
    });
    assert_eq!(app, "from-url");
}

#[test]
fn a_password_in_the_url_never_shows() {
    let db = TestDb::new("connect_secret");
    // The test server trusts everyone, so the password is accepted and ignored.
    let url = with_params(&db.url, &format!("password={SECRET}"));
    let info = parse(&url);
    assert!(!info.describe().contains(SECRET), "{}", info.describe());
    assert!(!format!("{info:?}").contains(SECRET));
    assert_tls(&info, true);

    // A failing connection with the same settings: the error must not show it either.
    let missing = format!("{}_missing", db.name);
    let text = connect_error(&info.with_dbname(&missing));
    assert!(!text.contains(SECRET), "{text}");
    assert!(
        text.contains(&format!("database \"{missing}\" does not exist")),
        "{text}"
    );
}

#[test]
fn a_missing_database_is_named_with_what_to_do() {
    let db = TestDb::new("connect_missing");
    let missing = format!("{}_nope", db.name);
    let info = parse(&db.url).with_dbname(&missing);
    let err = block_on(info.connect("retort-it")).expect_err("database does not exist");
    assert_eq!(err.sqlstate(), Some("3D000"), "{err}");
    let text = err.to_string();
    assert!(text.contains(&info.describe()), "{text}");
    assert!(
        text.contains(&format!("database \"{missing}\" does not exist")),
        "{text}"
    );
    assert!(text.contains("createdb"), "{text}");
}

#[test]
fn tls_require_prefer_and_disable() {
    let db = TestDb::new("connect_tls_modes");
    assert_tls(&parse(&with_params(&db.url, "sslmode=require")), true);
    assert_tls(&parse(&with_params(&db.url, "sslmode=disable")), false);
    // The default is prefer, which uses TLS when the server offers it.
    assert_tls(&parse(&db.url), true);
    assert_tls(&parse(&with_params(&db.url, "sslmode=allow")), false);
}

#[test]
fn tls_verify_full_by_name_and_by_ip() {
    let ca = test_ca();
    let db = TestDb::new("connect_verify_full");
    for host in ["localhost", "127.0.0.1"] {
        let params = format!(
            "host={host}&sslmode=verify-full&sslrootcert={}",
            ca.display()
        );
        assert_tls(&parse(&with_params(&db.url, &params)), true);
    }
}

#[test]
fn tls_verify_full_with_the_wrong_root_fails() {
    test_ca();
    let db = TestDb::new("connect_wrong_root");
    let dir = tempfile::tempdir().expect("temp dir");
    let wrong = other_ca(dir.path());
    let params = format!(
        "host=localhost&sslmode=verify-full&sslrootcert={}",
        wrong.display()
    );
    let text = connect_error(&parse(&with_params(&db.url, &params)));
    assert!(text.contains("certificate"), "{text}");
    assert!(text.contains("not signed by a trusted root"), "{text}");
    assert!(text.contains(&wrong.display().to_string()), "{text}");

    // The system store does not know the throwaway CA either.
    let params = "host=localhost&sslrootcert=system";
    let text = connect_error(&parse(&with_params(&db.url, params)));
    assert!(text.contains("certificate"), "{text}");
}

#[test]
fn tls_verify_ca_ignores_the_host_name() {
    let ca = test_ca();
    let db = TestDb::new("connect_verify_ca");
    // hostaddr connects to the loopback server while the certificate is checked
    // against a name it does not contain.
    let params = |mode: &str| {
        format!(
            "host=not-in-the-cert.invalid&hostaddr=127.0.0.1&sslmode={mode}&sslrootcert={}",
            ca.display()
        )
    };
    assert_tls(&parse(&with_params(&db.url, &params("verify-ca"))), true);
    let text = connect_error(&parse(&with_params(&db.url, &params("verify-full"))));
    assert!(
        text.contains("not valid for the host name \"not-in-the-cert.invalid\""),
        "{text}"
    );
    assert!(text.contains("verify-ca"), "{text}");
}

#[test]
fn tls_require_verifies_against_the_default_root_certificate() {
    let ca = test_ca();
    let db = TestDb::new("connect_root_crt");
    let home = tempfile::tempdir().expect("temp dir");
    let dot = home.path().join(".postgresql");
    std::fs::create_dir(&dot).expect("mkdir");
    let url = with_params(&db.url, "host=localhost&sslmode=require");

    // libpq: with ~/.postgresql/root.crt present, `require` checks the chain.
    std::fs::copy(other_ca(home.path()), dot.join("root.crt")).expect("copy");
    let info = parse_in(home.path(), &url).unwrap_or_else(|e| panic!("{e}"));
    let text = connect_error(&info);
    assert!(text.contains("not signed by a trusted root"), "{text}");
    assert!(text.contains("root.crt because that file exists"), "{text}");

    std::fs::copy(&ca, dot.join("root.crt")).expect("copy");
    let info = parse_in(home.path(), &url).unwrap_or_else(|e| panic!("{e}"));
    assert_tls(&info, true);
}

/// `url` with its `host:port` replaced by `hosts` (`h1:p1,h2:p2`).
fn with_hosts(url: &str, hosts: &str) -> String {
    let at = url.rfind('@').expect("a user in the test URL") + 1;
    let end = at + url[at..].find('/').expect("a database in the test URL");
    format!("{}{hosts}{}", &url[..at], &url[end..])
}

#[test]
fn several_hosts_are_tried_in_order_until_one_accepts() {
    let db = TestDb::new("connect_hosts");
    let real = parse(&db.url);
    let port = real.port();
    // Port 1 refuses at once: the second host is the server.
    let info = parse(&with_hosts(
        &db.url,
        &format!("127.0.0.1:1,127.0.0.1:{port}"),
    ));
    assert_eq!(
        info.describe(),
        format!("{}@127.0.0.1:1,127.0.0.1:{port}/{}", real.user(), db.name)
    );
    assert_tls(&info, true);

    // No host accepts: each host's own error, in order, and still no password.
    let url = with_params(
        &with_hosts(&db.url, "127.0.0.1:1,127.0.0.1:2"),
        &format!("password={SECRET}"),
    );
    let text = connect_error(&parse(&url));
    assert!(text.starts_with("cannot connect to any host of "), "{text}");
    let first = text.find("127.0.0.1:1/").expect("the first host");
    let second = text.rfind("127.0.0.1:2/").expect("the second host");
    assert!(first < second, "{text}");
    assert!(text.contains("; then cannot connect to"), "{text}");
    assert!(!text.contains(SECRET), "{text}");
}

#[test]
fn a_read_only_server_is_refused_with_read_write_and_says_why() {
    let db = TestDb::new("connect_read_only");
    // A read-only session stands in for a standby: what read-write checks is the same.
    let url = with_params(
        &db.url,
        "options=-c%20default_transaction_read_only%3Don&target_session_attrs=read-write",
    );
    let text = connect_error(&parse(&url));
    assert!(text.contains("does not allow writes"), "{text}");
    assert!(
        text.contains("this server is read-only (a standby?)"),
        "{text}"
    );
    // Without the requirement, the same server is used.
    let url = with_params(&db.url, "options=-c%20default_transaction_read_only%3Don");
    assert_tls(&parse(&url), true);
}
