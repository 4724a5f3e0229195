//! Tests of connection settings, the service and password files, TLS configuration and
//! connection errors (no server needed; tests/it/connect.rs has those that need one).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustls::CertificateError;

use super::os::default_socket_dir;
use super::pgpass::pgpass_fields;
use super::tls::Verify;
use super::*;

const SECRET: &str = "Sup3r-S3cret";

/// A fake environment: the given variables, and HOME pointing at `home` so the
/// developer's own ~/.pgpass and ~/.postgresql never leak into a test.
fn env_with(home: &Path, vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let mut map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    map.entry("HOME".to_string())
        .or_insert_with(|| home.display().to_string());
    move |name| map.get(name).cloned()
}

fn parse_with(given: &str, vars: &[(&str, &str)]) -> Result<ConnInfo, ConnectError> {
    let home = tempfile::tempdir().expect("temp dir");
    ConnInfo::parse(Some(given), &env_with(home.path(), vars))
}

fn parse_ok(given: &str) -> ConnInfo {
    parse_with(given, &[]).unwrap_or_else(|e| panic!("{given}: {e}"))
}

fn parse_err(given: &str) -> String {
    match parse_with(given, &[]) {
        Ok(info) => panic!("{given}: expected an error, got {}", info.describe()),
        Err(e) => {
            assert!(e.is_settings_error(), "{e}");
            e.to_string()
        }
    }
}

fn password(info: &ConnInfo) -> Option<&str> {
    info.password.as_ref().map(|p| p.0.as_str())
}

#[test]
fn url_with_and_without_port() {
    let info = parse_ok("postgres://alice@db.example.com/shop");
    assert_eq!(info.host, Host::Tcp("db.example.com".into()));
    assert_eq!(
        (info.port, info.user.as_str(), info.dbname()),
        (5432, "alice", "shop")
    );
    assert_eq!(password(&info), None);
    assert_eq!(info.describe(), "alice@db.example.com:5432/shop");

    let info = parse_ok("postgresql://alice:pw@db.example.com:6543/shop");
    assert_eq!(info.port, 6543);
    assert_eq!(password(&info), Some("pw"));
    assert_eq!(info.describe(), "alice@db.example.com:6543/shop");
}

#[test]
fn url_ipv6_host() {
    let info = parse_ok("postgres://bob@[::1]:5433/app");
    assert_eq!(info.host, Host::Tcp("::1".into()));
    assert_eq!(info.port, 5433);
    assert_eq!(info.describe(), "bob@[::1]:5433/app");
    assert_eq!(parse_ok("postgres://bob@[::1]/app").port, 5432);
    assert!(parse_err("postgres://bob@[::1/app").contains("'['"));
}

#[test]
fn url_percent_encoded_parts() {
    let info = parse_ok("postgres://al%69ce:p%40ss@h/my%20db");
    assert_eq!(info.user, "alice");
    assert_eq!(password(&info), Some("p@ss"));
    assert_eq!(info.dbname(), "my db");
    // An unencoded '@' in the password still works: hosts never contain one.
    assert_eq!(password(&parse_ok("postgres://u:p@ss@h/db")), Some("p@ss"));
    let err = parse_err("postgres://u:p%zzss@h/db");
    assert!(err.contains("percent-encoding in the password"), "{err}");
    assert!(!err.contains("zzss"), "{err}");
}

#[test]
fn url_unix_socket_hosts() {
    let info = parse_ok("postgres://u@/db?host=/some/dir");
    assert_eq!(info.host, Host::Socket("/some/dir".into()));
    assert_eq!(info.describe(), "u@/some/dir:5432/db");
    let info = parse_ok("postgres://%2Fvar%2Frun%2Fpostgresql/db");
    assert_eq!(info.host, Host::Socket("/var/run/postgresql".into()));
    assert_eq!(info.dbname(), "db");
    assert_eq!(
        info.address_text(),
        "the Unix socket /var/run/postgresql/.s.PGSQL.5432"
    );
    // No host at all: libpq's default socket directory.
    let info = parse_ok("postgres:///db");
    assert_eq!(info.host, Host::Socket(default_socket_dir()));
}

#[test]
fn url_query_parameters() {
    let info = parse_ok(
        "postgres://u@h/db?sslmode=verify-full&sslrootcert=/ca.pem&application_name=my%20app\
         &connect_timeout=10&options=-c%20search_path%3Dx&port=7777",
    );
    assert_eq!(info.ssl_mode(), SslMode::VerifyFull);
    assert_eq!(
        info.sslrootcert,
        RootCert::File {
            path: "/ca.pem".into(),
            default: false
        }
    );
    assert_eq!(info.application_name.as_deref(), Some("my app"));
    assert_eq!(info.connect_timeout, Some(Duration::from_secs(10)));
    assert_eq!(info.options.as_deref(), Some("-c search_path=x"));
    assert_eq!(info.port, 7777);
    // libpq: below 2 seconds counts as 2, 0 means no limit.
    assert_eq!(
        parse_ok("postgres://h?connect_timeout=1").connect_timeout,
        Some(Duration::from_secs(2))
    );
    assert_eq!(
        parse_ok("postgres://h?connect_timeout=0").connect_timeout,
        None
    );
    assert_eq!(
        parse_ok("postgres://h?ssl=true").ssl_mode(),
        SslMode::Require
    );
    let err = parse_err("postgres://h/db?sslmod=require");
    assert!(
        err.contains("\"sslmod\"") && err.contains("did you mean \"sslmode\""),
        "{err}"
    );
    let err = parse_err("postgres://h/db?sslcrl=/x");
    assert!(err.contains("not supported"), "{err}");
}

#[test]
fn url_errors_never_repeat_the_password() {
    // An unencoded '/' in the password makes "cr3t@host" the path and "s3" the port.
    let err = parse_err("postgres://user:s3/cr3t@host/db");
    assert!(err.contains("invalid port in the URL"), "{err}");
    assert!(!err.contains("s3") && !err.contains("cr3t"), "{err}");
    let err = parse_err("mysql://user:Sup3r-S3cret@host/db");
    assert!(err.contains("\"mysql\"") && !err.contains(SECRET), "{err}");
    let err = parse_err("postgres://user:s3cr3t@h1:abc,h2/db");
    assert!(err.contains("invalid port in the URL"), "{err}");
    assert!(!err.contains("s3cr3t") && !err.contains("abc"), "{err}");
}

#[test]
fn conninfo_with_quoted_values() {
    let info = parse_ok(
        r"host=db.internal port = 5433 dbname='my db' user=carol password='it\'s a \\ secret' application_name=x\ y",
    );
    assert_eq!(info.host, Host::Tcp("db.internal".into()));
    assert_eq!(info.port, 5433);
    assert_eq!(info.dbname(), "my db");
    assert_eq!(info.user, "carol");
    assert_eq!(password(&info), Some(r"it's a \ secret"));
    assert_eq!(info.application_name.as_deref(), Some("x y"));
    let info = parse_ok("host=/run/pg user=u dbname=''");
    assert_eq!(info.host, Host::Socket("/run/pg".into()));
    assert_eq!(info.dbname(), "u", "empty dbname means the default");
    let info = parse_ok("hostaddr=127.0.0.1 user=u");
    assert_eq!(info.host, Host::Tcp("127.0.0.1".into()));
    let info = parse_ok("host=db.example.com hostaddr=10.0.0.5 user=u");
    assert_eq!(info.hostaddr, Some("10.0.0.5".parse().expect("ip")));
    assert!(info.address_text().contains("hostaddr 10.0.0.5"));
}

#[test]
fn conninfo_errors() {
    let err = parse_err("host='unterminated");
    assert!(
        err.contains("unterminated quoted value for \"host\""),
        "{err}"
    );
    let err = parse_err("mydb");
    assert!(
        err.contains("dbname=NAME") && !err.contains("mydb"),
        "{err}"
    );
    // An unquoted password with a space: the rest must not be echoed.
    let err = parse_err("user=u password=Sup3r S3cret");
    assert!(
        err.contains("follows the password") && !err.contains("S3cret"),
        "{err}"
    );
    let err = parse_err("user=u password=Sup3r S3cret=x");
    assert!(!err.contains("S3cret"), "{err}");
    let err = parse_err("hots=h");
    assert!(err.contains("did you mean \"host\""), "{err}");
    let err = parse_err("port=abc");
    assert!(
        err.contains("invalid port \"abc\" in the connection string"),
        "{err}"
    );
}

#[test]
fn environment_fills_what_is_missing() {
    let vars = [
        ("PGHOST", "envhost"),
        ("PGPORT", "6000"),
        ("PGUSER", "envuser"),
        ("PGDATABASE", "envdb"),
        ("PGPASSWORD", "envpw"),
        ("PGSSLMODE", "require"),
        ("PGAPPNAME", "envapp"),
        ("PGCONNECT_TIMEOUT", "7"),
        ("PGOPTIONS", "-c work_mem=1MB"),
    ];
    let info = parse_with("", &vars).expect("parse");
    assert_eq!(info.describe(), "envuser@envhost:6000/envdb");
    assert_eq!(password(&info), Some("envpw"));
    assert_eq!(info.password_from, Some(PasswordFrom::Env));
    assert_eq!(info.ssl_mode(), SslMode::Require);
    assert_eq!(info.application_name.as_deref(), Some("envapp"));
    assert_eq!(info.connect_timeout, Some(Duration::from_secs(7)));
    assert_eq!(info.options.as_deref(), Some("-c work_mem=1MB"));

    // What the URL gives wins over the environment; the rest still comes from it.
    let info =
        parse_with("postgres://urluser@urlhost/urldb?sslmode=disable", &vars).expect("parse");
    assert_eq!(info.describe(), "urluser@urlhost:6000/urldb");
    assert_eq!(info.ssl_mode(), SslMode::Disable);
    assert_eq!(password(&info), Some("envpw"));

    // Empty variables count as unset, as in libpq.
    let info = parse_with("", &[("PGHOST", ""), ("PGUSER", "u")]).expect("parse");
    assert_eq!(info.host, Host::Socket(default_socket_dir()));

    let err = parse_with("", &[("PGPORT", "x1")]).expect_err("bad port");
    assert!(
        err.to_string().contains("invalid port \"x1\" from PGPORT"),
        "{err}"
    );
}

#[test]
fn defaults_are_libpq_defaults() {
    let home = tempfile::tempdir().expect("temp dir");
    let info = ConnInfo::parse(None, &env_with(home.path(), &[])).expect("parse");
    assert_eq!(info.host, Host::Socket(default_socket_dir()));
    assert_eq!(info.port, 5432);
    assert!(!info.user.is_empty(), "user defaults to the OS user");
    assert_eq!(info.dbname(), info.user);
    assert_eq!(info.ssl_mode(), SslMode::Prefer);
    assert_eq!(info.sslrootcert, RootCert::Unset);
    assert_eq!(info.password_from, None);

    // A default ~/.postgresql/root.crt is picked up (and makes `require` verify).
    std::fs::create_dir(home.path().join(".postgresql")).expect("mkdir");
    std::fs::write(home.path().join(".postgresql/root.crt"), "x").expect("write");
    let info = ConnInfo::parse(Some("host=h sslmode=require"), &env_with(home.path(), &[]))
        .expect("parse");
    assert!(matches!(
        info.sslrootcert,
        RootCert::File { default: true, .. }
    ));
    assert!(matches!(
        info.verification(SslMode::Require),
        Some(Verify::Chain)
    ));
    assert!(info.verification(SslMode::Prefer).is_none());
}

fn write_pgpass(dir: &Path, mode: u32, text: &str) -> PathBuf {
    let path = dir.join(".pgpass");
    std::fs::write(&path, text).expect("write pgpass");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }
    path
}

#[test]
fn several_hosts_become_alternates_tried_in_order() {
    let info = parse_ok("postgres://u@db1.internal:5432,db2.internal:5433,[::1]/app");
    assert_eq!(
        info.describe(),
        "u@db1.internal:5432,db2.internal:5433,[::1]:5432/app"
    );
    assert_eq!(info.alternates.len(), 2);
    assert_eq!(info.alternates[0].host, Host::Tcp("db2.internal".into()));
    assert_eq!(info.alternates[0].port, 5433);
    assert_eq!(info.alternates[1].host, Host::Tcp("::1".into()));
    assert!(!info.is_local(), "db1 is not on this machine");
    let env: BTreeMap<&str, String> = info.libpq_env().into_iter().collect();
    assert_eq!(env["PGHOST"], "db1.internal,db2.internal,::1");
    assert_eq!(env["PGPORT"], "5432,5433,5432");

    // One port for every host; a database change reaches every host.
    let info = parse_ok("host=localhost,127.0.0.1 port=6000 user=u dbname=a");
    assert_eq!(info.describe(), "u@localhost:6000,127.0.0.1:6000/a");
    assert!(info.is_local());
    assert_eq!(
        info.with_dbname("b").describe(),
        "u@localhost:6000,127.0.0.1:6000/b"
    );
    assert_eq!(info.with_dbname("b").alternates[0].dbname, "b");
    // An empty entry is that setting's default for its host.
    let info = parse_ok("host=db1,db2 port=,6001 user=u");
    assert_eq!(info.describe(), "u@db1:5432,db2:6001/u");

    let error = parse_err("host=a,b,c port=1,2 user=u");
    assert!(
        error.contains("2 ports in the connection string for 3 host(s)"),
        "{error}"
    );
    let error = parse_err("host=a,b hostaddr=10.0.0.1 user=u");
    assert!(error.contains("give one hostaddr per host"), "{error}");
    // A single host still parses as before: no alternates.
    assert!(parse_ok("postgres://u@db1/app").alternates.is_empty());
}

#[test]
fn each_host_gets_its_own_password_from_the_password_file() {
    let home = tempfile::tempdir().expect("temp dir");
    write_pgpass(home.path(), 0o600, PGPASS);
    let env = env_with(home.path(), &[]);
    let info = ConnInfo::parse(
        Some("postgres://alice@other.host,db.example.com/shop"),
        &env,
    )
    .expect("parse");
    assert_eq!(password(&info), Some("wrong-host"));
    assert_eq!(password(&info.alternates[0]), Some("shop-pw"));
    // Different passwords cannot travel as one PGPASSWORD: the file goes instead.
    let vars: BTreeMap<&str, String> = info.libpq_env().into_iter().collect();
    assert!(!vars.contains_key("PGPASSWORD"));
    assert!(vars["PGPASSFILE"].ends_with(".pgpass"), "{vars:?}");
}

const SERVICES: &str = "\
# the team's services
[warehouse]
host = wh.example.com
port=6543
dbname=dw
user=loader

[warehouse]
host=ignored.example.com

[broken]
host
";

#[test]
fn a_service_fills_what_is_not_given_before_the_environment() {
    let home = tempfile::tempdir().expect("temp dir");
    let file = home.path().join("services.conf");
    std::fs::write(&file, SERVICES).expect("write services");
    let file = file.display().to_string();
    let vars = [
        ("PGSERVICEFILE", file.as_str()),
        ("PGPORT", "7000"),
        ("PGSSLMODE", "disable"),
    ];
    let env = env_with(home.path(), &vars);
    let parse = |given: &str| ConnInfo::parse(Some(given), &env);

    // The first [warehouse] section counts; the service wins over PGPORT, and the
    // environment still fills what neither gives.
    let info = parse("service=warehouse").expect("parse");
    assert_eq!(info.describe(), "loader@wh.example.com:6543/dw");
    assert_eq!(info.ssl_mode(), SslMode::Disable);
    // What is given wins over the service, in a conninfo and in a URL.
    let info = parse("service=warehouse dbname=staging").expect("parse");
    assert_eq!(info.describe(), "loader@wh.example.com:6543/staging");
    let info = parse("postgres://other@/?service=warehouse").expect("parse");
    assert_eq!(info.describe(), "other@wh.example.com:6543/dw");
    // PGSERVICE names the service when nothing else does.
    let with_var = [("PGSERVICE", "warehouse"), ("PGSERVICEFILE", file.as_str())];
    let info = ConnInfo::parse(None, &env_with(home.path(), &with_var)).expect("parse");
    assert_eq!(info.describe(), "loader@wh.example.com:6543/dw");

    let error = parse("service=broken")
        .expect_err("a line without =")
        .to_string();
    assert!(
        error.contains("services.conf:12: syntax error in service \"broken\""),
        "{error}"
    );
    let error = parse("service=nowhere")
        .expect_err("no such service")
        .to_string();
    assert!(
        error.contains("no definition of service \"nowhere\" in"),
        "{error}"
    );
    assert!(error.contains("services.conf or "), "{error}");
}

#[test]
fn a_service_with_an_unknown_or_nested_setting_is_refused_with_its_line() {
    let home = tempfile::tempdir().expect("temp dir");
    let file = home.path().join(".pg_service.conf");
    std::fs::write(&file, "[a]\nhost=h\nprot=1\n[b]\nservice=a\n").expect("write");
    // ~/.pg_service.conf is read when PGSERVICEFILE is unset.
    let env = env_with(home.path(), &[]);
    let error = ConnInfo::parse(Some("service=a"), &env)
        .expect_err("typo")
        .to_string();
    assert!(
        error.contains(".pg_service.conf:3: unknown connection setting \"prot\""),
        "{error}"
    );
    let error = ConnInfo::parse(Some("service=b"), &env)
        .expect_err("nested")
        .to_string();
    assert!(
        error.contains(".pg_service.conf:5: service \"b\" names another service"),
        "{error}"
    );
}

const PGPASS: &str = "\
# comment:line:ignored:x:nope
other.host:5432:*:alice:wrong-host
db.example.com:5432:shop:alice:shop-pw
db.example.com:*:*:alice:any-db-pw
we\\:ird:5432:*:bob:escaped-host-pw
localhost:5432:*:carol:socket-pw
*:*:*:dave:pa\\:ss\\\\word
";

#[test]
fn pgpass_matching() {
    let home = tempfile::tempdir().expect("temp dir");
    write_pgpass(home.path(), 0o600, PGPASS);
    let env = env_with(home.path(), &[]);
    let parse = |given: &str| ConnInfo::parse(Some(given), &env).expect("parse");

    let info = parse("postgres://alice@db.example.com/shop");
    assert_eq!(password(&info), Some("shop-pw"));
    assert_eq!(info.password_from, Some(PasswordFrom::PassFile));
    // Another database: the lookup runs again.
    assert_eq!(password(&info.with_dbname("crm")), Some("any-db-pw"));
    assert_eq!(
        password(&parse("postgres://alice@db.example.com:9999/crm")),
        Some("any-db-pw")
    );
    assert_eq!(
        password(&parse("host=we:ird user=bob")),
        Some("escaped-host-pw")
    );
    // A socket in the default directory matches "localhost", as in libpq.
    assert_eq!(password(&parse("user=carol")), Some("socket-pw"));
    assert_eq!(password(&parse("host=/elsewhere user=carol")), None);
    assert_eq!(password(&parse("host=x user=dave")), Some(r"pa:ss\word"));
    assert_eq!(password(&parse("host=nowhere user=erin")), None);

    // A given password wins; PGPASSWORD too.
    assert_eq!(
        password(&parse("postgres://alice:given@db.example.com/shop")),
        Some("given")
    );
    let env = env_with(home.path(), &[("PGPASSWORD", "envpw")]);
    let info = ConnInfo::parse(Some("postgres://alice@db.example.com/shop"), &env).expect("parse");
    assert_eq!(password(&info), Some("envpw"));
    assert_eq!(password(&info.with_dbname("crm")), Some("envpw"));
}

#[test]
fn pgpass_from_pgpassfile_and_passfile() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = write_pgpass(dir.path(), 0o600, "h:5432:*:u:from-file\n");
    let home = tempfile::tempdir().expect("temp dir");
    let env = env_with(home.path(), &[("PGPASSFILE", &path.display().to_string())]);
    let info = ConnInfo::parse(Some("host=h user=u"), &env).expect("parse");
    assert_eq!(password(&info), Some("from-file"));
    let given = format!("postgres://u@h/db?passfile={}", path.display());
    assert_eq!(password(&parse_ok(&given)), Some("from-file"));
}

#[cfg(unix)]
#[test]
fn pgpass_with_loose_permissions_is_ignored() {
    let home = tempfile::tempdir().expect("temp dir");
    write_pgpass(home.path(), 0o644, PGPASS);
    let info = ConnInfo::parse(
        Some("postgres://alice@db.example.com/shop"),
        &env_with(home.path(), &[]),
    )
    .expect("parse");
    assert_eq!(password(&info), None);
    assert_eq!(info.warnings().len(), 1);
    assert!(info.warnings()[0].contains("0644"), "{:?}", info.warnings());
    assert!(info.password_sources().contains("chmod 0600"));
}

#[test]
fn pgpass_field_splitting() {
    assert_eq!(
        pgpass_fields(r"a\:b:*:\*:u:p\\w"),
        vec![
            ("a:b".to_string(), false),
            ("*".to_string(), true),
            ("*".to_string(), false),
            ("u".to_string(), false),
            (r"p\w".to_string(), false),
        ]
    );
}

#[test]
fn sslmode_values() {
    for (text, mode) in [
        ("disable", SslMode::Disable),
        ("allow", SslMode::Allow),
        ("prefer", SslMode::Prefer),
        ("require", SslMode::Require),
        ("verify-ca", SslMode::VerifyCa),
        ("verify-full", SslMode::VerifyFull),
    ] {
        let info = parse_ok(&format!("host=h sslmode={text}"));
        assert_eq!(info.ssl_mode(), mode);
        assert_eq!(mode.to_string(), text);
    }
    let err = parse_err("host=h sslmode=verify_full");
    assert!(
        err.contains("invalid sslmode \"verify_full\"")
            && err.contains("disable, allow, prefer, require, verify-ca, verify-full"),
        "{err}"
    );
    // libpq: sslrootcert=system means verify-full, and refuses weaker modes.
    assert_eq!(
        parse_ok("host=h sslrootcert=system").ssl_mode(),
        SslMode::VerifyFull
    );
    let err = parse_err("host=h sslrootcert=system sslmode=require");
    assert!(err.contains("verify-full"), "{err}");
    let err = parse_err("host=h sslmode=prefer sslnegotiation=direct");
    assert!(err.contains("sslnegotiation=direct"), "{err}");
}

#[test]
fn tls_configs_build_with_the_ring_provider() {
    let home = tempfile::tempdir().expect("temp dir");
    let env = env_with(home.path(), &[]);
    for mode in ["disable", "prefer", "require"] {
        let info = ConnInfo::parse(Some(&format!("host=h sslmode={mode}")), &env).expect("parse");
        info.tls_config(info.ssl_mode()).expect("tls config");
    }
    // A root file that does not exist: a clear error, not a fallback.
    let info = ConnInfo::parse(
        Some("host=h sslmode=verify-full sslrootcert=/nonexistent/ca.pem"),
        &env,
    )
    .expect("parse");
    let err = info
        .tls_config(SslMode::VerifyFull)
        .expect_err("missing root");
    assert!(
        err.to_string()
            .contains("/nonexistent/ca.pem does not exist"),
        "{err}"
    );
    let bad = home.path().join("bad.pem");
    std::fs::write(&bad, "not a certificate\n").expect("write");
    let info = ConnInfo::parse(
        Some(&format!(
            "host=h sslmode=verify-ca sslrootcert={}",
            bad.display()
        )),
        &env,
    )
    .expect("parse");
    let err = info.tls_config(SslMode::VerifyCa).expect_err("bad root");
    assert!(err.to_string().contains("no PEM certificate"), "{err}");
}

#[test]
fn connection_refused_says_where_and_what_to_do() {
    // A port nobody listens on: bind, note the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind")
        .port();
    let info = parse_ok(&format!(
        "postgres://u:{SECRET}@127.0.0.1:{port}/db?sslmode=disable"
    ));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let err = runtime
        .block_on(info.connect("retort-test"))
        .expect_err("nothing listens there");
    let text = err.to_string();
    assert!(matches!(err, ConnectError::Unreachable { .. }), "{text}");
    assert!(text.contains(&format!("u@127.0.0.1:{port}/db")), "{text}");
    assert!(text.contains("server is running"), "{text}");
    assert!(!text.contains(SECRET), "{text}");
}

#[test]
fn the_password_never_shows() {
    let url = format!("postgres://alice:{SECRET}@db.example.com:5433/shop?sslmode=verify-full");
    let info = parse_ok(&url);
    assert_eq!(password(&info), Some(SECRET));
    let shown = [
        info.describe(),
        format!("{info:?}"),
        format!("{:?}", info.with_dbname("other")),
        format!(
            "{:?}",
            info.pg_config("app", tokio_postgres::config::SslMode::Require)
        ),
    ];
    for text in &shown {
        assert!(!text.contains(SECRET), "{text}");
    }
    assert!(shown[1].contains("<redacted>"), "{}", shown[1]);

    let mut errors = vec![
        info.tls_error("reason", "hint"),
        info.tls_failure(&rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer,
        )),
        info.tls_failure(&rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName,
        )),
        info.tls_failure(&rustls::Error::InvalidCertificate(
            CertificateError::Expired,
        )),
        info.tls_failure(&rustls::Error::General("x".into())),
        ConnectError::Timeout {
            target: info.describe(),
            seconds: 3,
        },
        ConnectError::Rejected {
            target: info.describe(),
            code: "28P01".into(),
            message: "password authentication failed for user \"alice\"".into(),
            hint: info.password_sources(),
        },
        ConnectError::Unreachable {
            target: info.describe(),
            reason: "refused".into(),
            hint: info.running_hint(),
        },
        ConnectError::PasswordNeeded {
            target: info.describe(),
            hint: info.password_sources(),
        },
    ];
    // Settings errors from inputs that carry the password in various places.
    for bad in [
        format!("postgres://alice:{SECRET}@h:notaport/db"),
        format!("postgres://alice:{SECRET}@h/db?sslmode=bogus"),
        format!("postgres://alice:{SECRET}@h/db?nosuchkey=1"),
        format!("postgres://alice:{SECRET}@h1,h2,h3/db?port=1,2"),
        format!("postgres://alice:{SECRET}%zz@h/db"),
        format!("host=h password={SECRET} sslmode=bogus"),
        format!("host=h password='{SECRET}"),
        format!("host=h password={SECRET} {SECRET}"),
        format!("ftp://alice:{SECRET}@h/db"),
        format!("alice:{SECRET}@h/db"),
    ] {
        errors.push(parse_with(&bad, &[]).expect_err(&bad));
    }
    for err in &errors {
        let text = err.to_string();
        assert!(!text.contains(SECRET), "{text}");
        assert!(!format!("{err:?}").contains(SECRET), "{err:?}");
        assert!(!text.contains("alice:"), "{text}");
    }
    assert!(errors[1].to_string().contains("certificate"));
    assert!(errors[2].to_string().contains("verify-ca"));
}
