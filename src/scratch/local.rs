//! A private PostgreSQL cluster from the local binaries: `initdb` into a fresh temporary
//! directory, `postgres` on a free TCP port of 127.0.0.1, and everything removed again
//! when retort is done with it — however retort ends.
//!
//! The cluster is run by one small shell watchdog in a process group of its own (so a
//! terminal's Ctrl-C reaches only retort, which then shuts down in order). The watchdog
//! holds the read end of a pipe whose only write end is in retort: when retort closes it,
//! exits, crashes or is killed with SIGKILL, the kernel closes it, the watchdog sees end
//! of file, stops the server (fast shutdown) and removes the directory. Signals do not
//! move the watchdog; only the pipe does. If it does not finish in time, retort kills
//! its process group and removes the directory itself.
//!
//! PostgreSQL refuses to run as root, so when retort is root the watchdog (and so the
//! server) runs as `postgres`, or `nobody` when there is no such user.
//!
//! The superuser `retort` has a random password, which exists only in retort's memory,
//! in a file readable by the server's user until initdb has read it, and in the
//! connection settings: never on a command line, in a log or in an error message.

use std::fs::{DirBuilder, OpenOptions, Permissions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use super::binaries::server_bin_dir;
use super::ScratchError;
use crate::db::{ConnInfo, ConnectError};

/// The cluster's superuser (the one retort connects as).
const SUPERUSER: &str = "retort";
/// How long initdb plus the server's startup may take, on a slow CI machine too.
const READY_WITHIN: Duration = Duration::from_secs(60);
const POLL_EVERY: Duration = Duration::from_millis(25);
/// How long a fast shutdown and the removal of the directory may take before the
/// watchdog's process group is killed.
const STOP_WITHIN: Duration = Duration::from_secs(30);
/// Another program can take the free port between our look and the server's bind.
const PORT_RETRIES: usize = 3;
/// Lines of a log kept for an error message.
const LOG_TAIL: usize = 30;

/// The watchdog. Arguments: the bin directory, the root directory, the port, the
/// host authentication method. Its standard input is the pipe from retort.
///
/// The stdin pipe is moved to fd 3, because an asynchronous list in a non-interactive
/// shell reads /dev/null, and only the background `read` may hold it. SIGPIPE is ignored
/// so that a message to retort's closed stderr cannot stop the teardown.
///
/// A background job of `sh` starts with SIGINT ignored, and nothing in the job can undo
/// that: the server ignores SIGINT until it has set up its own handlers, and retort may
/// close the pipe (or die) before then. So SIGINT is repeated until the server is gone,
/// and the script waits for the repeating loop, which leaves no `sleep` behind.
const WATCHDOG: &str = r#"
trap '' INT TERM HUP PIPE
bin=$1 root=$2 port=$3 auth=$4
exec 3<&0 </dev/null
if ! "$bin/initdb" -D "$root/data" -U retort --pwfile="$root/pwfile" \
    --auth-local=trust --auth-host="$auth" --encoding=UTF8 --no-locale -N \
    >"$root/initdb.log" 2>&1 3<&-
then
    echo "initdb failed:" >&2
    tail -n 30 "$root/initdb.log" >&2
    rm -rf "$root"
    exit 1
fi
rm -f "$root/pwfile"
"$bin/postgres" -D "$root/data" -p "$port" -k "$root" \
    -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
    -c full_page_writes=off -c max_connections=50 \
    >"$root/server.log" 2>&1 3<&- &
pg=$!
(
    read -r _ <&3
    : >"$root/stopping"
    while kill -INT "$pg" 2>/dev/null; do
        sleep 0.1 2>/dev/null || sleep 1
    done
) &
reader=$!
exec 3<&-
wait "$pg"
status=$?
if [ -e "$root/stopping" ]; then
    wait "$reader"
    rm -rf "$root"
    exit 0
fi
kill -KILL "$reader" 2>/dev/null
echo "postgres exited with status $status:" >&2
tail -n 30 "$root/server.log" >&2
rm -rf "$root"
exit 1
"#;

/// A running private cluster. Stopped by [`LocalCluster::stop`] or, failing that, `Drop`.
pub(super) struct LocalCluster {
    /// Boxed: settings are large, and mod.rs keeps a cluster in an enum with empty
    /// variants.
    conn: Box<ConnInfo>,
    bin_dir: PathBuf,
    port: u16,
    watchdog: Watchdog,
}

/// What one start attempt came to, short of an error that ends the whole start.
enum Attempt {
    Ready(LocalCluster),
    /// Someone else took the port first: worth another try on another port.
    PortTaken(ScratchError),
}

impl LocalCluster {
    /// Creates and starts a cluster from the binaries of `want_major` when installed,
    /// else the newest, and waits until it accepts connections.
    pub(super) async fn start(want_major: Option<u32>) -> Result<LocalCluster, ScratchError> {
        let (bin_dir, major) = server_bin_dir(want_major)?;
        let owner = server_user()?;
        let mut tries = 0;
        loop {
            let port = free_port()?;
            match Self::start_once(&bin_dir, major, owner.as_ref(), port).await? {
                Attempt::Ready(cluster) => return Ok(cluster),
                Attempt::PortTaken(_) if tries < PORT_RETRIES => tries += 1,
                Attempt::PortTaken(e) => return Err(e),
            }
        }
    }

    async fn start_once(
        bin_dir: &Path,
        major: u32,
        owner: Option<&ServerUser>,
        port: u16,
    ) -> Result<Attempt, ScratchError> {
        let password = random_hex(16, "a password for the scratch cluster")?;
        // Every key given, and nothing read from the environment: a user's PGSSLMODE,
        // PGPASSWORD or PGOPTIONS is meant for their servers, not for this one.
        let conn = ConnInfo::parse(
            Some(&format!(
                "host=127.0.0.1 port={port} user={SUPERUSER} dbname=postgres \
                 password={password} sslmode=disable gssencmode=disable connect_timeout=10 \
                 target_session_attrs=any"
            )),
            &|_: &str| None,
        )
        .map_err(|source| ScratchError::Connect {
            target: format!("the scratch cluster on 127.0.0.1:{port}"),
            source,
        })?;
        let root = make_root(owner)?;
        let mut watchdog = match write_pwfile(&root, &password, owner)
            .and_then(|()| Watchdog::spawn(bin_dir, &root, port, major, owner))
        {
            Ok(watchdog) => watchdog,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&root);
                return Err(e);
            }
        };
        // On an error the watchdog is dropped, which tears down what was started.
        match wait_ready(&mut watchdog, &conn, bin_dir, port).await? {
            Some(port_taken) => Ok(Attempt::PortTaken(port_taken)),
            None => Ok(Attempt::Ready(LocalCluster {
                conn: Box::new(conn),
                bin_dir: bin_dir.to_path_buf(),
                port,
                watchdog,
            })),
        }
    }

    /// The superuser's connection to the `postgres` database.
    pub(super) fn conn(&self) -> &ConnInfo {
        &self.conn
    }

    /// Where `initdb` and `postgres` came from (the client programs of the same
    /// version are usually there too).
    pub(super) fn bin_dir(&self) -> &Path {
        &self.bin_dir
    }

    /// The temporary directory holding the data directory, the socket and the logs.
    pub(super) fn root(&self) -> &Path {
        &self.watchdog.root
    }

    pub(super) fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server and removes its directory; reports what could not be removed.
    pub(super) fn stop(mut self) -> Result<(), ScratchError> {
        self.watchdog.teardown()
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        let _ = self.watchdog.teardown();
    }
}

/// Waits until the server accepts connections. `Ok(Some(error))` when the server could
/// not bind its port (try another), `Ok(None)` when ready.
async fn wait_ready(
    watchdog: &mut Watchdog,
    conn: &ConnInfo,
    bin_dir: &Path,
    port: u16,
) -> Result<Option<ScratchError>, ScratchError> {
    let started = Instant::now();
    let mut last_error = String::from("none yet");
    loop {
        if let Some(status) = watchdog.exited() {
            let output = watchdog.stderr_text();
            let error = ScratchError::Start {
                what: format!(
                    "the watchdog running {}/initdb and postgres in {}{} stopped ({status})",
                    bin_dir.display(),
                    watchdog.root.display(),
                    watchdog.runs_as
                ),
                log: if output.trim().is_empty() {
                    "(it printed nothing)".to_owned()
                } else {
                    tail(&output, LOG_TAIL)
                },
            };
            return if is_bind_failure(&output) {
                Ok(Some(error))
            } else {
                Err(error)
            };
        }
        if started.elapsed() >= READY_WITHIN {
            return Err(ScratchError::Start {
                what: format!(
                    "no connection to 127.0.0.1:{port} within {}s (last error: {last_error}); \
                     the log of the server from {} follows",
                    READY_WITHIN.as_secs(),
                    bin_dir.display()
                ),
                log: watchdog.log_tail(),
            });
        }
        // Something else on the port may take the connection and never answer: keep an
        // eye on the watchdog (and the clock) while the attempt runs.
        let attempt = conn.connect("retort scratch");
        tokio::pin!(attempt);
        let outcome = loop {
            tokio::select! {
                result = &mut attempt => break Some(result),
                () = tokio::time::sleep(POLL_EVERY) => {
                    if watchdog.exited().is_some() || started.elapsed() >= READY_WITHIN {
                        break None;
                    }
                }
            }
        };
        match outcome {
            Some(Ok(_client)) => return Ok(None),
            Some(Err(e)) if gives_up(&e) => {
                // A server refusing us may be someone else's that took the port while
                // initdb ran; ours then fails to bind and the watchdog ends at once.
                if watchdog.exits_within(Duration::from_secs(2)).await {
                    continue;
                }
                return Err(ScratchError::Connect {
                    target: conn.describe(),
                    source: e,
                });
            }
            Some(Err(e)) => last_error = e.to_string(),
            // The loop's checks above say what happened.
            None => continue,
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// Whether a failed connection attempt means the cluster will never be usable, rather
/// than "not listening yet" or "still starting up" (57P03).
fn gives_up(e: &ConnectError) -> bool {
    match e {
        ConnectError::Settings { .. } | ConnectError::PasswordNeeded { .. } => true,
        ConnectError::Rejected { code, .. } => code != "57P03",
        _ => false,
    }
}

fn is_bind_failure(output: &str) -> bool {
    output.contains("could not bind") || output.contains("could not create any TCP/IP sockets")
}

/// The last `lines` lines of `text` (where a server log or a traceback says what failed).
pub(crate) fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.trim_end().lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The shell process that owns the cluster, and retort's end of its stdin pipe.
struct Watchdog {
    child: Child,
    /// Dropping it is the signal to stop.
    stdin: Option<ChildStdin>,
    /// The watchdog's stderr, read to the end by a thread (it ends when the watchdog does).
    stderr: Option<Receiver<String>>,
    root: PathBuf,
    /// " as user NAME" when retort is root, for messages.
    runs_as: String,
    torn_down: bool,
}

impl Watchdog {
    fn spawn(
        bin_dir: &Path,
        root: &Path,
        port: u16,
        major: u32,
        owner: Option<&ServerUser>,
    ) -> Result<Watchdog, ScratchError> {
        // scram-sha-256 exists from PostgreSQL 10 on.
        let auth = if major >= 10 { "scram-sha-256" } else { "md5" };
        let mut command = Command::new("/bin/sh");
        command
            .arg("-c")
            .arg(WATCHDOG)
            .arg("sh")
            .arg(bin_dir)
            .arg(root)
            .arg(port.to_string())
            .arg(auth)
            .current_dir(root)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            // Out of the terminal's foreground group: Ctrl-C goes to retort alone, which
            // then stops the cluster in order.
            .process_group(0)
            // English messages (the bind-failure check reads them), and the system's
            // own tail, rm and sleep before anything a user's PATH may shadow them with.
            .env("LC_ALL", "C")
            .env("LANG", "C")
            .env("PATH", script_path());
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("PG") {
                command.env_remove(name);
            }
        }
        if let Some(user) = owner {
            // std drops the supplementary groups too when it changes the uid as root.
            command.uid(user.uid).gid(user.gid);
        }
        let mut child = command.spawn().map_err(|source| ScratchError::Io {
            what: "start /bin/sh to run the scratch cluster (is /bin/sh installed?)".into(),
            source,
        })?;
        let stdin = child.stdin.take();
        let stderr = child.stderr.take().map(|mut pipe| {
            let (send, receive) = mpsc::channel();
            std::thread::spawn(move || {
                let mut bytes = Vec::new();
                let _ = pipe.read_to_end(&mut bytes);
                let _ = send.send(String::from_utf8_lossy(&bytes).into_owned());
            });
            receive
        });
        Ok(Watchdog {
            child,
            stdin,
            stderr,
            root: root.to_path_buf(),
            runs_as: owner.map_or_else(String::new, |u| format!(" as user {}", u.name)),
            torn_down: false,
        })
    }

    /// The exit status, once the watchdog has exited.
    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    async fn exits_within(&mut self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if self.exited().is_some() {
                return true;
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
        self.exited().is_some()
    }

    /// What the watchdog printed; call only after it exited.
    fn stderr_text(&mut self) -> String {
        self.stderr
            .take()
            .and_then(|receive| receive.recv_timeout(Duration::from_secs(5)).ok())
            .unwrap_or_default()
    }

    /// The end of the server's log, else of initdb's, for "did not start" errors.
    fn log_tail(&self) -> String {
        for name in ["server.log", "initdb.log"] {
            if let Ok(text) = std::fs::read_to_string(self.root.join(name)) {
                if !text.trim().is_empty() {
                    return format!("{name}:\n{}", tail(&text, LOG_TAIL));
                }
            }
        }
        "(no log was written)".to_owned()
    }

    /// Stops the server and removes the directory, once; later calls do nothing.
    fn teardown(&mut self) -> Result<(), ScratchError> {
        if self.torn_down {
            return Ok(());
        }
        self.torn_down = true;
        drop(self.stdin.take());
        if !self.wait_exit(STOP_WITHIN) {
            kill_process_group(self.child.id());
            let _ = self.child.wait();
            // Backends are group leaders of their own; they would exit soon after the
            // postmaster anyway, but the directory is removed only once they are gone.
            kill_processes(&processes_inside(&self.root));
        }
        self.remove_root()
    }

    fn wait_exit(&mut self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        loop {
            match self.child.try_wait() {
                // An error means there is no such child to wait for any more.
                Ok(Some(_)) | Err(_) => return true,
                Ok(None) if Instant::now() >= deadline => return false,
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    }

    /// Normally the watchdog has removed the directory already; this is for a watchdog
    /// that was killed or could not finish.
    fn remove_root(&self) -> Result<(), ScratchError> {
        let mut tries = 0;
        loop {
            match std::fs::remove_dir_all(&self.root) {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                // A process that was still dying may have just written a file.
                Err(_) if tries < 3 => {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(source) => {
                    return Err(ScratchError::Io {
                        what: format!(
                            "remove the scratch cluster's directory {} (remove it by hand)",
                            self.root.display()
                        ),
                        source,
                    })
                }
            }
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        let _ = self.teardown();
    }
}

fn script_path() -> std::ffi::OsString {
    let mut path = std::ffi::OsString::from("/usr/local/bin:/usr/bin:/bin");
    if let Some(user) = std::env::var_os("PATH").filter(|p| !p.is_empty()) {
        path.push(":");
        path.push(user);
    }
    path
}

/// Kills every process of a process group; `kill` of /bin/sh avoids a libc dependency.
fn kill_process_group(pgid: u32) {
    let _ = Command::new("/bin/sh")
        .args([
            "-c",
            "kill -KILL \"-$1\" 2>/dev/null",
            "sh",
            &pgid.to_string(),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

fn kill_processes(pids: &[u32]) {
    if pids.is_empty() {
        return;
    }
    let _ = Command::new("/bin/sh")
        .args(["-c", "kill -KILL \"$@\" 2>/dev/null", "sh"])
        .args(pids.iter().map(u32::to_string))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Processes whose working directory is inside `root` (server processes) or whose
/// command line names it (the postmaster, the watchdog), from /proc. Processes of other
/// users are visible only to root; an empty list elsewhere.
fn processes_inside(root: &Path) -> Vec<u32> {
    let root_text = root.to_string_lossy().into_owned();
    let inside = |path: &str| {
        path == root_text
            || path.starts_with(&format!("{root_text}/"))
            || path.starts_with(&format!("{root_text} (deleted)"))
    };
    let own = std::process::id();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid != own)
        .filter(|pid| {
            let proc_dir = PathBuf::from(format!("/proc/{pid}"));
            let cwd = std::fs::read_link(proc_dir.join("cwd"))
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default();
            let cmdline = std::fs::read(proc_dir.join("cmdline")).unwrap_or_default();
            inside(&cwd) || String::from_utf8_lossy(&cmdline).contains(&root_text)
        })
        .collect()
}

/// A port nobody listens on right now. Another program may take it before the server
/// binds it; the start then tries another.
fn free_port() -> Result<u16, ScratchError> {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|source| ScratchError::Io {
            what: "find a free TCP port on 127.0.0.1 for the scratch cluster".into(),
            source,
        })
}

fn random_bytes(buf: &mut [u8], purpose: &str) -> Result<(), ScratchError> {
    getrandom::fill(buf).map_err(|e| ScratchError::Io {
        what: format!("get random bytes for {purpose}"),
        source: std::io::Error::other(e.to_string()),
    })
}

pub(super) fn random_hex(bytes: usize, purpose: &str) -> Result<String, ScratchError> {
    let mut buf = vec![0u8; bytes];
    random_bytes(&mut buf, purpose)?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// Eight random characters from `[a-z0-9]`, as `mktemp` would use.
fn random_suffix() -> Result<String, ScratchError> {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut buf = [0u8; 8];
    random_bytes(&mut buf, "the scratch directory's name")?;
    Ok(buf
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect())
}

/// Creates `retort-scratch-XXXXXXXX` (mode 0700, owned by the server's user) in the
/// temporary directory.
fn make_root(owner: Option<&ServerUser>) -> Result<PathBuf, ScratchError> {
    let parent = scratch_parent(owner.is_some());
    let mut tries = 0;
    let root = loop {
        let candidate = parent.join(format!("retort-scratch-{}", random_suffix()?));
        match DirBuilder::new().mode(0o700).create(&candidate) {
            Ok(()) => break candidate,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && tries < 16 => tries += 1,
            Err(source) => {
                return Err(ScratchError::Io {
                    what: format!(
                        "create a directory for the scratch cluster in {} (set TMPDIR to a \
                         writable directory)",
                        parent.display()
                    ),
                    source,
                })
            }
        }
    };
    let settle = || -> std::io::Result<()> {
        // Whatever the umask says.
        std::fs::set_permissions(&root, Permissions::from_mode(0o700))?;
        if let Some(user) = owner {
            std::os::unix::fs::chown(&root, Some(user.uid), Some(user.gid))?;
        }
        Ok(())
    };
    settle().map_err(|source| {
        let _ = std::fs::remove_dir(&root);
        ScratchError::Io {
            what: format!("set up the scratch directory {}", root.display()),
            source,
        }
    })?;
    Ok(root)
}

/// The temporary directory (TMPDIR), unless the server's user could not reach it or
/// remove an entry from it, or the socket's path would be too long for a Unix socket:
/// then /tmp. The watchdog must be able to remove the directory on its own, since
/// after a `kill -9` of retort nobody else will.
fn scratch_parent(other_user: bool) -> PathBuf {
    let tmp = std::env::temp_dir();
    // sun_path holds 107 bytes: "<parent>/retort-scratch-XXXXXXXX/.s.PGSQL.NNNNN".
    let fits = tmp.as_os_str().len() + 40 < 107;
    let reachable = !other_user
        || (searchable_by_all(&tmp)
            && std::fs::metadata(&tmp).is_ok_and(|m| m.permissions().mode() & 0o002 != 0));
    if tmp.is_absolute() && fits && reachable {
        tmp
    } else {
        PathBuf::from("/tmp")
    }
}

/// Whether every directory on the way to `dir` lets other users pass through.
fn searchable_by_all(dir: &Path) -> bool {
    let Ok(real) = std::fs::canonicalize(dir) else {
        return false;
    };
    real.ancestors()
        .all(|d| std::fs::metadata(d).is_ok_and(|m| m.permissions().mode() & 0o001 != 0))
}

/// The password for `initdb --pwfile`, readable only by the server's user.
fn write_pwfile(
    root: &Path,
    password: &str,
    owner: Option<&ServerUser>,
) -> Result<(), ScratchError> {
    let path = root.join("pwfile");
    let write = || -> std::io::Result<()> {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        if let Some(user) = owner {
            std::os::unix::fs::chown(&path, Some(user.uid), Some(user.gid))?;
        }
        file.write_all(password.as_bytes())?;
        file.write_all(b"\n")
    };
    write().map_err(|source| ScratchError::Io {
        what: format!("write the password file {}", path.display()),
        source,
    })
}

/// The unprivileged user a root retort runs the server as.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ServerUser {
    name: String,
    uid: u32,
    gid: u32,
}

/// None when retort is not root (the server runs as retort's own user).
fn server_user() -> Result<Option<ServerUser>, ScratchError> {
    if !running_as_root() {
        return Ok(None);
    }
    let passwd = std::fs::read_to_string("/etc/passwd").map_err(|source| ScratchError::Io {
        what: "read /etc/passwd to find a user to run the scratch cluster as (PostgreSQL \
               refuses to run as root)"
            .into(),
        source,
    })?;
    pick_server_user(&passwd)
        .map(Some)
        .ok_or_else(|| ScratchError::Start {
            what: "retort runs as root, PostgreSQL refuses to, and /etc/passwd has neither a \
               postgres nor a nobody user to run it as"
                .into(),
            log: "create one (`useradd --system postgres`), run retort as an ordinary user, or \
              give --scratch-url"
                .into(),
        })
}

/// `postgres` if it exists, else `nobody`, from /etc/passwd text; never uid 0.
fn pick_server_user(passwd: &str) -> Option<ServerUser> {
    let entry = |wanted: &str| {
        passwd.lines().find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            if fields.len() < 4 || fields[0] != wanted {
                return None;
            }
            let user = ServerUser {
                name: fields[0].to_owned(),
                uid: fields[2].parse().ok()?,
                gid: fields[3].parse().ok()?,
            };
            (user.uid != 0).then_some(user)
        })
    };
    entry("postgres").or_else(|| entry("nobody"))
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| effective_uid(&status))
        .map_or_else(
            || {
                use std::os::unix::fs::MetadataExt;
                std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
            },
            |uid| uid == 0,
        )
}

/// The effective uid from /proc/self/status ("Uid:\treal\teffective\tsaved\tfs").
fn effective_uid(status: &str) -> Option<u32> {
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

#[cfg(test)]
mod tests {

    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    }

    /// Waits (up to `within`) until nothing of the cluster in `root` is left.
    fn assert_gone(root: &Path, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let exists = root.exists();
            let processes = processes_inside(root);
            if !exists && processes.is_empty() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "left behind: directory exists: {exists}, processes: {processes:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    #[test]
    fn starts_answers_and_stops_without_a_trace() {
        let runtime = runtime();
        let cluster = runtime
            .block_on(LocalCluster::start(None))
            .expect("start a local cluster");
        let root = cluster.root().to_path_buf();
        assert!(root.join("data").is_dir());
        assert!(
            !root.join("pwfile").exists(),
            "the password file is removed"
        );
        assert_eq!(cluster.conn().port(), cluster.port());
        assert_eq!(cluster.conn().user(), SUPERUSER);
        assert_eq!(cluster.conn().dbname(), "postgres");
        assert!(cluster.bin_dir().join("postgres").is_file());
        if running_as_root() {
            use std::os::unix::fs::MetadataExt;
            let meta = std::fs::metadata(&root).expect("stat root");
            assert_ne!(meta.uid(), 0, "the cluster must not belong to root");
            assert_eq!(meta.permissions().mode() & 0o777, 0o700);
        }
        assert!(!processes_inside(&root).is_empty());

        runtime.block_on(async {
            let client = cluster
                .conn()
                .connect("retort test")
                .await
                .expect("connect");
            let row = client.query_one("SELECT 1", &[]).await.expect("SELECT 1");
            assert_eq!(row.get::<_, i32>(0), 1);
            let who: String = client
                .query_one("SELECT current_user", &[])
                .await
                .expect("current_user")
                .get(0);
            assert_eq!(who, SUPERUSER);
            // TCP connections need the password.
            let wrong = ConnInfo::parse(
                Some(&format!(
                    "host=127.0.0.1 port={} user={SUPERUSER} dbname=postgres password=wrong \
                     sslmode=disable",
                    cluster.port()
                )),
                &|_: &str| None,
            )
            .expect("parse");
            let err = wrong
                .connect("retort test")
                .await
                .expect_err("wrong password");
            assert_eq!(err.sqlstate(), Some("28P01"), "{err}");
        });

        cluster.stop().expect("stop");
        assert!(!root.exists(), "{} still exists", root.display());
        assert_eq!(processes_inside(&root), Vec::<u32>::new());
    }

    #[test]
    fn dropping_cleans_up_too() {
        let runtime = runtime();
        let cluster = runtime
            .block_on(LocalCluster::start(None))
            .expect("start a local cluster");
        let root = cluster.root().to_path_buf();
        assert!(root.is_dir());
        drop(cluster);
        assert!(!root.exists(), "{} still exists", root.display());
        assert_eq!(processes_inside(&root), Vec::<u32>::new());
    }

    // SIGKILL of retort itself is tested end to end, with the real binary, in
    // tests/it/test_migration.rs (`even_kill_9_leaves_no_cluster_behind`).

    #[test]
    fn a_taken_port_is_reported_for_another_try() {
        let (bin_dir, major) = server_bin_dir(None).expect("server binaries");
        let owner = server_user().expect("server user");
        let taken = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("bind");
        let port = taken.local_addr().expect("address").port();
        let attempt = runtime()
            .block_on(LocalCluster::start_once(
                &bin_dir,
                major,
                owner.as_ref(),
                port,
            ))
            .expect("a taken port is no hard error");
        let Attempt::PortTaken(e) = attempt else {
            panic!("the server started on a port that was taken");
        };
        let text = e.to_string();
        assert!(text.contains("could not bind"), "{text}");
        let root = text
            .split_whitespace()
            .find(|w| w.contains("retort-scratch-"))
            .map(PathBuf::from)
            .expect("the error names the directory");
        assert_gone(&root, Duration::from_secs(10));
    }

    #[test]
    fn a_failing_initdb_is_reported_with_its_output() {
        let bin = tempfile::tempdir().expect("temp dir");
        // The server's user (when retort is root) must be able to run the fakes.
        std::fs::set_permissions(bin.path(), Permissions::from_mode(0o755)).expect("chmod");
        for (name, body) in [
            (
                "initdb",
                "echo \"initdb: error: no space left on the moon\" >&2; exit 1",
            ),
            ("postgres", "exit 1"),
        ] {
            let path = bin.path().join(name);
            std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write");
            std::fs::set_permissions(&path, Permissions::from_mode(0o755)).expect("chmod");
        }
        let owner = server_user().expect("server user");
        let port = free_port().expect("port");
        let result = runtime().block_on(LocalCluster::start_once(
            bin.path(),
            15,
            owner.as_ref(),
            port,
        ));
        let e = match result {
            Err(e) => e,
            Ok(_) => panic!("a failing initdb must fail the start"),
        };
        let text = e.to_string();
        assert!(
            text.contains("did not start") && text.contains("no space left on the moon"),
            "{text}"
        );
        let root = text
            .split_whitespace()
            .find(|w| w.contains("retort-scratch-"))
            .map(PathBuf::from)
            .expect("the error names the directory");
        assert_gone(&root, Duration::from_secs(10));
    }

    #[test]
    fn the_last_resort_kills_reach_every_process() {
        let dir = tempfile::tempdir().expect("temp dir");
        // A group leader with a child, and a process of its own group inside the directory.
        let mut group = Command::new("/bin/sh")
            .args(["-c", "sleep 300 & sleep 300"])
            .current_dir(dir.path())
            .process_group(0)
            .spawn()
            .expect("spawn a group");
        let mut loner = Command::new("/bin/sh")
            .args(["-c", "sleep 300"])
            .current_dir(dir.path())
            .process_group(0)
            .spawn()
            .expect("spawn a loner");
        let deadline = Instant::now() + Duration::from_secs(10);
        let started = |pids: &[u32]| {
            pids.len() >= 3 && pids.contains(&group.id()) && pids.contains(&loner.id())
        };
        while !started(&processes_inside(dir.path())) {
            assert!(
                Instant::now() < deadline,
                "{:?}",
                processes_inside(dir.path())
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        kill_process_group(group.id());
        group.wait().expect("reap the group leader");
        let left = processes_inside(dir.path());
        assert!(left.contains(&loner.id()), "{left:?}");
        kill_processes(&left);
        loner.wait().expect("reap the loner");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !processes_inside(dir.path()).is_empty() {
            assert!(
                Instant::now() < deadline,
                "{:?}",
                processes_inside(dir.path())
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn server_user_is_postgres_else_nobody_never_root() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\n\
                      nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n\
                      postgres:x:101:104:PostgreSQL administrator:/var/lib/postgresql:/bin/bash\n";
        assert_eq!(
            pick_server_user(passwd),
            Some(ServerUser {
                name: "postgres".into(),
                uid: 101,
                gid: 104
            })
        );
        let no_postgres = "root:x:0:0::/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n";
        assert_eq!(
            pick_server_user(no_postgres).map(|u| u.name),
            Some("nobody".to_owned())
        );
        assert_eq!(pick_server_user("postgres:x:0:0::/:/bin/sh\n"), None);
        assert_eq!(pick_server_user("root:x:0:0::/root:/bin/sh\n"), None);
        assert_eq!(pick_server_user("postgres:x:abc:1::/:/bin/sh\n"), None);
    }

    #[test]
    fn effective_uid_from_status() {
        let status =
            "Name:\tretort\nUmask:\t0022\nUid:\t1000\t0\t0\t0\nGid:\t1000\t1000\t1000\t1000\n";
        assert_eq!(effective_uid(status), Some(0));
        assert_eq!(effective_uid("Name:\tx\n"), None);
    }

    #[test]
    fn bind_failures_are_recognised() {
        let log = "LOG:  could not bind IPv4 address \"127.0.0.1\": Address already in use\n\
                   WARNING:  could not create listen socket for \"127.0.0.1\"\n\
                   FATAL:  could not create any TCP/IP sockets\n";
        assert!(is_bind_failure(log));
        assert!(!is_bind_failure(
            "initdb: error: could not access directory"
        ));
    }

    #[test]
    fn tails_keep_the_last_lines() {
        assert_eq!(tail("a\nb\nc\nd\n", 2), "c\nd");
        assert_eq!(tail("a\n", 5), "a");
        assert_eq!(tail("", 5), "");
    }

    #[test]
    fn random_names_look_like_mktemp() {
        let a = random_suffix().expect("random");
        let b = random_suffix().expect("random");
        assert_eq!(a.len(), 8);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
        assert_ne!(a, b);
        let hex = random_hex(16, "test").expect("random");
        assert_eq!(hex.len(), 32);
        assert!(hex.chars().all(|c| c.is_ascii_hexdigit()));
    }
}
