#!/usr/bin/env bash
# Throwaway local PostgreSQL server for retort's tests and benchmarks.
#
#   scripts/pg-local.sh start    start a fresh cluster (or reuse the running one);
#                                prints its URL as the only line on stdout
#   scripts/pg-local.sh url      print the URL of the running server (exit 1 if none)
#   scripts/pg-local.sh status   say whether it is running (exit 0 running, 1 not)
#   scripts/pg-local.sh ca       print the path of the CA certificate that signed the
#                                server's TLS certificate (exit 1 if no server is running)
#   scripts/pg-local.sh stop     stop it and delete its data; no-op if not running
#   scripts/pg-local.sh bin      print the directory of the server's programs (exit 1 if
#                                no server is running): put it first on PATH so that
#                                psql, pg_dump and retort's scratch servers match it
#   scripts/pg-local.sh crash    stop the server the way a crash would (`pg_ctl stop -m
#                                immediate`: connections cut, no checkpoint), keeping
#                                its data and state for `restart` (fault tests)
#   scripts/pg-local.sh restart  start a crashed (or stopped) server again on the same
#                                data directory and port; it recovers from its WAL
#   scripts/pg-local.sh standby  start a streaming standby of the server (a copy of its
#                                data, a port of its own) and print its URL; stopped
#                                with the server (replica-lag tests)
#
# PG_MAJOR=N (13 to 18) runs that major instead of the installed PostgreSQL: its
# programs are fetched by scripts/pg-binaries.sh on first use, and its state is kept
# apart (<repo>/.pg-local/state-N), so servers of several majors can run at once.
#
# The cluster lives in a fresh `mktemp -d /tmp/retort-pg.XXXXXX` directory, listens
# on 127.0.0.1 on a random free port, trusts every local connection and is tuned for
# speed, not durability. State is kept in ${RETORT_PG_STATE:-<repo>/.pg-local/state}.
# PostgreSQL (and openssl) are installed with apt-get when they cannot be found.
#
# TLS is on (plain connections still work): a throwaway CA signs a certificate for
# CN=localhost with subjectAltName DNS:localhost,IP:127.0.0.1, so the tests can check
# sslmode=verify-ca/verify-full. The CA's key lives only in the cluster directory and
# dies with it; the CA certificate is copied next to the state file (<state>.ca.crt).
set -euo pipefail

REPO_ROOT="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
PG_MAJOR="${PG_MAJOR:-}"
[[ -z "$PG_MAJOR" || "$PG_MAJOR" =~ ^1[3-8]$ ]] || { printf 'pg-local: error: PG_MAJOR=%s: 13 to 18 are supported\n' "$PG_MAJOR" >&2; exit 2; }
DEFAULT_STATE="$REPO_ROOT/.pg-local/state${PG_MAJOR:+-$PG_MAJOR}"
STATE_FILE="${RETORT_PG_STATE:-$DEFAULT_STATE}"
STATE_DIR="$(dirname -- "$STATE_FILE")"
# Where the CA certificate is copied: beside the state file, readable by the tests
# (the cluster directory itself is private to the server user).
CA_COPY="$STATE_FILE.ca.crt"

# Everything but the URL goes to stderr: keep the real stdout on fd 3.
exec 3>&1 1>&2

log() { printf 'pg-local: %s\n' "$*" >&2; }
die() { printf 'pg-local: error: %s\n' "$*" >&2; exit 1; }

usage() {
    printf 'usage: [PG_MAJOR=N] %s start|stop|url|status|ca|bin|crash|restart|standby\n' "$(basename -- "$0")" >&2
    exit 2
}

# ---------------------------------------------------------------------------
# Locating / installing PostgreSQL
# ---------------------------------------------------------------------------

# Prints the directory holding initdb and pg_ctl, or fails (returns 1).
find_pg_bin() {
    local initdb pg_ctl dir
    # 1. PATH (resolve symlinks so psql/pg_isready of the same version are found)
    if initdb="$(command -v initdb)" && pg_ctl="$(command -v pg_ctl)"; then
        dir="$(dirname -- "$(readlink -f -- "$pg_ctl")")"
        if [[ -x "$dir/initdb" ]]; then
            printf '%s\n' "$dir"
            return 0
        fi
        dir="$(dirname -- "$(readlink -f -- "$initdb")")"
        if [[ -x "$dir/pg_ctl" ]]; then
            printf '%s\n' "$dir"
            return 0
        fi
    fi
    # 2. newest /usr/lib/postgresql/<version>/bin
    local d
    while IFS= read -r d; do
        if [[ -x "$d/initdb" && -x "$d/pg_ctl" ]]; then
            printf '%s\n' "$d"
            return 0
        fi
    done < <(compgen -G '/usr/lib/postgresql/*/bin' | sort -rV)
    return 1
}

# Runs a command as root: directly when root, else via sudo when it exists.
as_root() {
    if [[ "$(id -u)" -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root to run '$*' (not root and sudo is not installed)"
    fi
}

# apt_install PACKAGE: installs one Debian package (apt-get update first).
apt_install() {
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update >&2 ||
        die "apt-get update failed"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y "$1" >&2 ||
        die "apt-get install -y $1 failed"
}

install_postgresql() {
    command -v apt-get >/dev/null 2>&1 ||
        die "PostgreSQL (initdb/pg_ctl) not found and apt-get is not available; install PostgreSQL manually"
    log "PostgreSQL not found; installing it with apt-get (this takes a while)..."
    apt_install postgresql
}

# The server's TLS certificates are made with openssl; install it when missing.
ensure_openssl() {
    command -v openssl >/dev/null 2>&1 && return 0
    command -v apt-get >/dev/null 2>&1 ||
        die "openssl (needed for the server's TLS certificates) not found and apt-get is not available; install openssl manually"
    log "openssl not found; installing it with apt-get..."
    apt_install openssl
    command -v openssl >/dev/null 2>&1 || die "openssl still not found after installing it"
}

# Sets PG_BIN; installs PostgreSQL when needed.
ensure_postgresql() {
    if [[ -n "$PG_MAJOR" ]]; then
        local root
        root="$("$REPO_ROOT/scripts/pg-binaries.sh" "$PG_MAJOR")" ||
            die "could not get the programs of PostgreSQL $PG_MAJOR"
        PG_BIN="$root/bin"
        log "using PostgreSQL binaries in $PG_BIN ($("$PG_BIN/postgres" --version))"
        return 0
    fi
    if ! PG_BIN="$(find_pg_bin)"; then
        install_postgresql
        PG_BIN="$(find_pg_bin)" ||
            die "initdb/pg_ctl still not found after installing postgresql (looked in PATH and /usr/lib/postgresql/*/bin)"
    fi
    local tool missing=()
    for tool in psql pg_dump; do
        if ! command -v "$tool" >/dev/null 2>&1 && [[ ! -x "$PG_BIN/$tool" ]]; then
            missing+=("$tool")
        fi
    done
    if ((${#missing[@]})); then
        install_postgresql
        for tool in "${missing[@]}"; do
            command -v "$tool" >/dev/null 2>&1 || [[ -x "$PG_BIN/$tool" ]] ||
                die "$tool not found even after installing postgresql"
        done
    fi
    for tool in psql pg_dump; do
        if ! command -v "$tool" >/dev/null 2>&1; then
            log "note: $tool is not on PATH; it is at $PG_BIN/$tool (add $PG_BIN to PATH)"
        fi
    done
    log "using PostgreSQL binaries in $PG_BIN ($("$PG_BIN/pg_ctl" --version))"
}

# ---------------------------------------------------------------------------
# Running things as the (unprivileged) server user
# ---------------------------------------------------------------------------

# Picks the user the server runs as; sets PG_USER ("" = current user).
choose_server_user() {
    PG_USER=""
    [[ "$(id -u)" -eq 0 ]] || return 0
    if id -u postgres >/dev/null 2>&1; then
        PG_USER=postgres
    else
        if ! id -u retort-pg >/dev/null 2>&1; then
            log "creating system user retort-pg to run the server"
            local nologin=/usr/sbin/nologin
            [[ -x "$nologin" ]] || nologin=/bin/false
            useradd --system --no-create-home --home-dir /nonexistent \
                --shell "$nologin" retort-pg ||
                id -u retort-pg >/dev/null 2>&1 || # lost a race with another start
                die "could not create user retort-pg"
        fi
        PG_USER=retort-pg
    fi
}

# as_server_user DIR CMD...: run CMD in DIR as $PG_USER (or as ourselves).
as_server_user() {
    local dir="$1"
    shift
    if [[ -z "$PG_USER" || "$PG_USER" == "$(id -un)" ]]; then
        (cd -- "$dir" && "$@")
    elif command -v runuser >/dev/null 2>&1; then
        (cd -- "$dir" && runuser -u "$PG_USER" -- "$@")
    else
        local cmd
        printf -v cmd '%q ' "$@"
        (cd -- "$dir" && su -s /bin/sh "$PG_USER" -c "$cmd")
    fi
}

# ---------------------------------------------------------------------------
# State file
# ---------------------------------------------------------------------------

# Loads ST_DIR, ST_PORT, ST_USER, ST_BIN, ST_CA from the state file; returns 1 if absent.
# (ST_CA is empty for a server started by an older version of this script, without TLS.)
load_state() {
    ST_DIR="" ST_PORT="" ST_USER="" ST_BIN="" ST_CA=""
    [[ -f "$STATE_FILE" ]] || return 1
    local key value
    while IFS='=' read -r key value; do
        case "$key" in
            dir) ST_DIR="$value" ;;
            port) ST_PORT="$value" ;;
            user) ST_USER="$value" ;;
            bin) ST_BIN="$value" ;;
            ca) ST_CA="$value" ;;
        esac
    done <"$STATE_FILE"
    [[ -n "$ST_DIR" && -n "$ST_PORT" && -n "$ST_BIN" ]]
}

write_state() {
    mkdir -p -- "$STATE_DIR"
    if [[ "$STATE_FILE" == "$DEFAULT_STATE" && ! -e "$STATE_DIR/.gitignore" ]]; then
        printf '*\n' >"$STATE_DIR/.gitignore"
    fi
    local tmp="$STATE_FILE.tmp.$$"
    printf 'dir=%s\nport=%s\nuser=%s\nbin=%s\nca=%s\n' "$1" "$2" "$3" "$4" "$5" >"$tmp"
    mv -f -- "$tmp" "$STATE_FILE"
}

remove_state() {
    rm -f -- "$STATE_FILE" "$CA_COPY"
    if [[ "$STATE_FILE" == "$DEFAULT_STATE" ]]; then
        rm -f -- "$STATE_DIR/.gitignore"
        rmdir -- "$STATE_DIR" 2>/dev/null || true
    fi
}

url_for() { printf 'postgres://postgres@127.0.0.1:%s/postgres\n' "$1"; }

# PID of the postmaster of data dir $1 if it is alive, else fails.
postmaster_pid() {
    local pidfile="$1/postmaster.pid" pid
    [[ -r "$pidfile" ]] || return 1
    read -r pid <"$pidfile" || return 1
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    printf '%s\n' "$pid"
}

# Is the server described by the loaded state running?
state_running() {
    [[ -n "$ST_DIR" && -d "$ST_DIR/data" ]] || return 1
    PG_USER="$ST_USER"
    as_server_user "$ST_DIR" "$ST_BIN/pg_ctl" -D "$ST_DIR/data" status >/dev/null 2>&1
}

# ---------------------------------------------------------------------------
# Ports
# ---------------------------------------------------------------------------

port_is_free() {
    local port="$1"
    if command -v ss >/dev/null 2>&1; then
        [[ -z "$(ss -Htan "( sport = :$port )" 2>/dev/null)" ]] || return 1
    fi
    # Nothing must answer on it either (also covers machines without ss).
    if (exec 9<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        return 1
    fi
    return 0
}

random_free_port() {
    local i port
    for ((i = 0; i < 200; i++)); do
        port=$((20000 + (RANDOM * 32768 + RANDOM) % 40001))
        if port_is_free "$port"; then
            printf '%s\n' "$port"
            return 0
        fi
    done
    die "could not find a free TCP port in 20000-60000"
}

# ---------------------------------------------------------------------------
# TLS
# ---------------------------------------------------------------------------

# make_tls_certs DIR: a throwaway CA and a server certificate signed by it, in DIR/tls.
# The certificate names localhost both ways (DNS and IP) so that verify-full works with
# host=localhost and host=127.0.0.1. EC P-256 keys: instant to generate, fine for rustls.
make_tls_certs() {
    local tls="$1/tls"
    mkdir -m 0700 -- "$tls"
    # Own config files, so nothing depends on the system's openssl.cnf defaults.
    cat >"$tls/ca.cnf" <<'EOF'
[req]
prompt = no
distinguished_name = dn
x509_extensions = v3_ca
[dn]
CN = retort pg-local throwaway CA
[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
EOF
    cat >"$tls/server.cnf" <<'EOF'
[req]
prompt = no
distinguished_name = dn
[dn]
CN = localhost
EOF
    cat >"$tls/server.ext" <<'EOF'
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
    local ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -sha256)
    if ! {
        openssl req -x509 -new "${ec[@]}" -days 3650 -config "$tls/ca.cnf" \
            -keyout "$tls/ca.key" -out "$tls/ca.crt" &&
            openssl req -new "${ec[@]}" -config "$tls/server.cnf" \
                -keyout "$tls/server.key" -out "$tls/server.csr" &&
            openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.crt" -CAkey "$tls/ca.key" \
                -set_serial "0x$(openssl rand -hex 16)" -days 3650 -sha256 \
                -extfile "$tls/server.ext" -out "$tls/server.crt"
    } >"$tls/openssl.log" 2>&1; then
        cat "$tls/openssl.log" >&2
        die "could not generate the server's TLS certificates with openssl"
    fi
    # PostgreSQL refuses a key file that is not owned by the server user (or root) or
    # that others can read.
    chmod 0600 "$tls/ca.key" "$tls/server.key"
    chmod 0644 "$tls/ca.crt" "$tls/server.crt"
    if [[ -n "$PG_USER" ]]; then
        chown -R "$PG_USER:" "$tls"
    fi
}

# ---------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------

# Stops the server in $ST_DIR (as $ST_USER) and removes the directory.
stop_and_remove() {
    local dir="$ST_DIR" pid
    PG_USER="$ST_USER"
    if [[ -d "$dir/standby" ]] && postmaster_pid "$dir/standby" >/dev/null; then
        log "stopping the standby in $dir/standby"
        as_server_user "$dir" "$ST_BIN/pg_ctl" -D "$dir/standby" stop -m immediate -w -t 30 >&2 || true
    fi
    if [[ -d "$dir/data" ]]; then
        if postmaster_pid "$dir/data" >/dev/null; then
            log "stopping server in $dir (port $ST_PORT)"
            if ! as_server_user "$dir" "$ST_BIN/pg_ctl" -D "$dir/data" stop -m fast -w -t 30 >&2; then
                log "fast shutdown failed; trying immediate shutdown"
                as_server_user "$dir" "$ST_BIN/pg_ctl" -D "$dir/data" stop -m immediate -w -t 30 >&2 || true
            fi
            if pid="$(postmaster_pid "$dir/data")"; then
                log "server (pid $pid) still alive; killing it"
                kill -KILL "$pid" 2>/dev/null || true
                sleep 1
            fi
        fi
    fi
    case "$dir" in
        /tmp/retort-pg.*) rm -rf -- "$dir" ;;
        *) [[ -z "$dir" ]] || log "not removing unexpected directory '$dir'" ;;
    esac
}

cmd_crash() {
    load_state || die "no server state in $STATE_FILE"
    PG_USER="$ST_USER"
    log "crashing server in $ST_DIR (immediate shutdown)"
    as_server_user "$ST_DIR" "$ST_BIN/pg_ctl" -D "$ST_DIR/data" stop -m immediate -w -t 30 >&2
}

# A streaming standby of the running server, for tests of replica lag; prints its URL.
# Stopped with the server. Made from a copy of the cleanly stopped server's data
# directory (no pg_basebackup: the binaries of other majors do not ship it), which then
# starts with standby.signal on a port of its own and streams from the server.
cmd_standby() {
    load_state || die "no server state in $STATE_FILE"
    PG_USER="$ST_USER"
    state_running || die "the server in $ST_DIR is not running"
    local sdir="$ST_DIR/standby" port
    if ! postmaster_pid "$sdir" >/dev/null; then
        rm -rf -- "$sdir"
        log "copying the stopped server into $sdir"
        as_server_user "$ST_DIR" "$ST_BIN/pg_ctl" -D "$ST_DIR/data" stop -m fast -w -t 60 >&2
        as_server_user "$ST_DIR" cp -a -- "$ST_DIR/data" "$sdir"
        as_server_user "$ST_DIR" "$ST_BIN/pg_ctl" -D "$ST_DIR/data" -l "$ST_DIR/server.log" \
            -w -t 60 start >&2 3>&- 8<&- || die "could not start the server again"
        port="$(random_free_port)"
        as_server_user "$ST_DIR" touch "$sdir/standby.signal"
        as_server_user "$ST_DIR" tee -a "$sdir/postgresql.conf" >/dev/null <<EOF

# --- retort pg-local.sh: standby ---
port = $port
hot_standby = on
primary_conninfo = 'host=127.0.0.1 port=$ST_PORT user=postgres application_name=standby'
wal_receiver_status_interval = 1s
EOF
        log "starting the standby on 127.0.0.1:$port"
        as_server_user "$ST_DIR" "$ST_BIN/pg_ctl" -D "$sdir" -l "$ST_DIR/standby.log" -w -t 60 start \
            >&2 3>&- 8<&- || { tail -n 30 "$ST_DIR/standby.log" >&2; die "the standby did not start"; }
    fi
    port="$(sed -nE 's/^port = ([0-9]+)$/\1/p' "$sdir/postgresql.conf" | tail -n 1)"
    url_for "$port" >&3
}

cmd_restart() {
    load_state || die "no server state in $STATE_FILE"
    PG_USER="$ST_USER"
    if ! state_running; then
        log "restarting server in $ST_DIR on port $ST_PORT"
        as_server_user "$ST_DIR" "$ST_BIN/pg_ctl" -D "$ST_DIR/data" -l "$ST_DIR/server.log" \
            -w -t 60 start >&2 3>&- 8<&- || die "could not restart (see $ST_DIR/server.log)"
    fi
    url_for "$ST_PORT" >&3
}

cmd_start() {
    if load_state; then
        if state_running; then
            log "server already running (data in $ST_DIR)"
            [[ -n "$ST_CA" ]] ||
                log "note: it was started without TLS (older pg-local.sh); '$0 stop' then '$0 start' turns TLS on"
            url_for "$ST_PORT" >&3
            return 0
        fi
        log "removing stale state from a server that is no longer running"
        stop_and_remove
        remove_state
    fi

    ensure_postgresql
    ensure_openssl
    choose_server_user

    local dir
    dir="$(mktemp -d /tmp/retort-pg.XXXXXX)"
    # Clean up a half-started cluster on any failure below.
    START_DIR="$dir"
    trap 'if [[ -n "${START_DIR:-}" ]]; then ST_DIR="$START_DIR" ST_USER="$PG_USER" ST_BIN="$PG_BIN" ST_PORT=""; stop_and_remove; fi' EXIT
    chmod 0700 "$dir"
    if [[ -n "$PG_USER" ]]; then
        chown "$PG_USER:" "$dir"
    fi

    log "initializing cluster in $dir/data${PG_USER:+ (as user $PG_USER)}"
    local initdb_args=(-D "$dir/data" --auth=trust -U postgres --encoding=UTF8)
    if ! as_server_user "$dir" "$PG_BIN/initdb" "${initdb_args[@]}" --locale=C.UTF-8 >"$dir/initdb.log" 2>&1; then
        log "initdb with --locale=C.UTF-8 failed; retrying with --no-locale"
        rm -rf -- "${dir:?}/data"
        if ! as_server_user "$dir" "$PG_BIN/initdb" "${initdb_args[@]}" --no-locale >"$dir/initdb.log" 2>&1; then
            cat "$dir/initdb.log" >&2
            die "initdb failed"
        fi
    fi

    log "generating a throwaway CA and a TLS certificate for localhost in $dir/tls"
    make_tls_certs "$dir"
    as_server_user "$dir" tee -a "$dir/data/postgresql.conf" >/dev/null <<EOF

# --- retort pg-local.sh: TLS (certificates made by make_tls_certs) ---
ssl = on
ssl_cert_file = '$dir/tls/server.crt'
ssl_key_file = '$dir/tls/server.key'
EOF

    local attempt port
    for attempt in 1 2 3 4 5; do
        port="$(random_free_port)"
        # Settings for a fast, disposable test server (later lines win).
        as_server_user "$dir" tee -a "$dir/data/postgresql.conf" >/dev/null <<EOF

# --- retort pg-local.sh (attempt $attempt) ---
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = 300
shared_buffers = 128MB
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
        log "starting server on 127.0.0.1:$port"
        # The server must not inherit fd 3 (the caller's stdout, often a $(...) pipe that
        # would then never close) nor fd 8 (the state lock, which it would hold forever).
        if as_server_user "$dir" "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >&2 3>&- 8<&-; then
            break
        fi
        if postmaster_pid "$dir/data" >/dev/null; then
            tail -n 30 "$dir/server.log" >&2 || true
            die "server did not become ready within 60s"
        fi
        if ((attempt == 5)); then
            tail -n 30 "$dir/server.log" >&2 || true
            die "could not start PostgreSQL (see log above)"
        fi
        log "start failed (port taken?); retrying with another port"
    done

    # Belt and braces: wait until it accepts TCP connections.
    local isready="$PG_BIN/pg_isready" i
    [[ -x "$isready" ]] || isready="$(command -v pg_isready || true)"
    if [[ -n "$isready" ]]; then
        for ((i = 0; i < 60; i++)); do
            if "$isready" -q -h 127.0.0.1 -p "$port" -U postgres -d postgres; then
                break
            fi
            sleep 0.5
        done
        "$isready" -q -h 127.0.0.1 -p "$port" -U postgres -d postgres ||
            die "server started but pg_isready does not report it ready"
    fi

    # The cluster directory is private to the server user: copy the CA certificate where
    # the tests can read it (`pg-local.sh ca` prints this path).
    cp -- "$dir/tls/ca.crt" "$CA_COPY.tmp.$$"
    chmod 0644 "$CA_COPY.tmp.$$"
    mv -f -- "$CA_COPY.tmp.$$" "$CA_COPY"

    write_state "$dir" "$port" "$PG_USER" "$PG_BIN" "$CA_COPY"
    START_DIR=""
    trap - EXIT
    log "server ready (data in $dir, log in $dir/server.log)"
    url_for "$port" >&3
}

cmd_url() {
    if load_state && state_running; then
        url_for "$ST_PORT" >&3
    else
        die "no server running (start one with: $0 start)"
    fi
}

cmd_ca() {
    if ! { load_state && state_running; }; then
        die "no server running (start one with: $0 start)"
    fi
    [[ -n "$ST_CA" && -r "$ST_CA" ]] ||
        die "the running server has no TLS CA certificate (started by an older pg-local.sh?); restart it: $0 stop && $0 start"
    printf '%s\n' "$ST_CA" >&3
}

cmd_bin() {
    if load_state && state_running; then
        printf '%s\n' "$ST_BIN" >&3
    else
        die "no server running (start one with: $0 start)"
    fi
}

cmd_status() {
    if load_state && state_running; then
        printf 'running: %s (data in %s, pid %s)\n' "$(url_for "$ST_PORT")" "$ST_DIR" \
            "$(postmaster_pid "$ST_DIR/data" || echo '?')" >&3
    elif [[ -f "$STATE_FILE" ]]; then
        printf 'not running (stale state in %s; "stop" cleans it up)\n' "$STATE_FILE" >&3
        return 1
    else
        printf 'not running\n' >&3
        return 1
    fi
}

cmd_stop() {
    if ! load_state; then
        [[ -f "$STATE_FILE" ]] && remove_state
        log "no server running"
        return 0
    fi
    stop_and_remove
    remove_state
    log "stopped"
}

[[ $# -eq 1 ]] || usage
case "$1" in
    start | stop | url | status | ca | bin | crash | restart | standby) ;;
    -h | --help | help) usage ;;
    *) usage ;;
esac

# Serialize concurrent invocations sharing a state file (lock the state directory;
# without it nothing can be running, so only "start" needs to create it).
[[ "$1" != start ]] || mkdir -p -- "$STATE_DIR"
if [[ -d "$STATE_DIR" ]] && command -v flock >/dev/null 2>&1; then
    exec 8<"$STATE_DIR"
    flock 8
fi

case "$1" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    url) cmd_url ;;
    status) cmd_status ;;
    ca) cmd_ca ;;
    bin) cmd_bin ;;
    crash) cmd_crash ;;
    restart) cmd_restart ;;
    standby) cmd_standby ;;
esac
