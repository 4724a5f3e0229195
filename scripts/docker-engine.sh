#!/usr/bin/env bash
# A Docker engine for the Docker scratch provider's tests, started on demand.
#
#   scripts/docker-engine.sh start    start one if none answers; prints its DOCKER_HOST
#   scripts/docker-engine.sh host     prints the DOCKER_HOST of the running engine
#   scripts/docker-engine.sh stop     stops the engine this script started (if any)
#
# An engine that already answers (DOCKER_HOST, or /var/run/docker.sock) is used as it is
# and never stopped. Otherwise Debian's docker.io is installed when dockerd is missing
# (root only) and a private dockerd is started: the vfs storage driver (no overlay or
# device-mapper needed), no iptables rules (the machine's firewall is left alone; port
# publishing goes through docker-proxy), its socket, state and images under
# ${RETORT_DOCKER_ROOT:-/var/lib/retort/docker} so that images built once survive
# between runs and clones, and its run-time files under /run/retort-docker.
set -euo pipefail

log() { printf 'docker-engine: %s\n' "$*" >&2; }
die() { printf 'docker-engine: error: %s\n' "$*" >&2; exit 1; }

ROOT="${RETORT_DOCKER_ROOT:-/var/lib/retort/docker}"
RUN=/run/retort-docker
SOCKET="$RUN/docker.sock"
OURS="unix://$SOCKET"
PIDFILE="$RUN/dockerd.pid"
LOG="$ROOT/dockerd.log"

answers() { DOCKER_HOST="$1" docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

# An engine someone else runs, if any: DOCKER_HOST as given, else the default socket.
existing() {
    if [[ -n "${DOCKER_HOST:-}" && "$DOCKER_HOST" != "$OURS" ]]; then
        answers "$DOCKER_HOST" && { printf '%s\n' "$DOCKER_HOST"; return 0; }
        return 1
    fi
    answers unix:///var/run/docker.sock && { printf '%s\n' unix:///var/run/docker.sock; return 0; }
    return 1
}

ours_running() { [[ -S "$SOCKET" ]] && answers "$OURS"; }

install_engine() {
    command -v dockerd >/dev/null 2>&1 && command -v docker >/dev/null 2>&1 && return 0
    [[ "$(id -u)" -eq 0 ]] || die "no Docker engine answers and dockerd is not installed; install Docker (Debian: apt-get install docker.io) or set DOCKER_HOST"
    log "installing Debian's docker.io"
    # The package's service scripts are not needed (and may not start here): this script
    # starts dockerd itself.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends docker.io >&2 ||
        { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends docker.io >&2; } ||
        die "apt-get install docker.io failed"
}

start() {
    if host="$(existing)"; then
        printf '%s\n' "$host"
        return 0
    fi
    if ours_running; then
        printf '%s\n' "$OURS"
        return 0
    fi
    install_engine
    [[ "$(id -u)" -eq 0 ]] || die "starting dockerd needs root; start a Docker engine and set DOCKER_HOST"
    mkdir -p -- "$ROOT" "$RUN"
    # A dockerd of ours that died leaves its pid file and socket behind.
    if [[ -f "$PIDFILE" ]] && ! kill -0 "$(cat -- "$PIDFILE")" 2>/dev/null; then
        rm -f -- "$PIDFILE" "$SOCKET"
    fi
    log "starting dockerd (vfs, no iptables) at $SOCKET, log $LOG"
    setsid dockerd \
        --host "$OURS" \
        --data-root "$ROOT/data" \
        --exec-root "$RUN/exec" \
        --pidfile "$PIDFILE" \
        --storage-driver vfs \
        --iptables=false \
        >>"$LOG" 2>&1 </dev/null &
    for _ in $(seq 1 120); do
        ours_running && { printf '%s\n' "$OURS"; return 0; }
        kill -0 "$!" 2>/dev/null || break
        sleep 0.5
    done
    tail -n 20 -- "$LOG" >&2 || true
    die "dockerd did not come up (log: $LOG)"
}

stop() {
    [[ -f "$PIDFILE" ]] || return 0
    local pid
    pid="$(cat -- "$PIDFILE")"
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        for _ in $(seq 1 60); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.5
        done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    fi
    rm -f -- "$PIDFILE"
}

case "${1:-}" in
    start) start ;;
    host)
        if host="$(existing)"; then printf '%s\n' "$host"
        elif ours_running; then printf '%s\n' "$OURS"
        else die "no Docker engine is running (scripts/docker-engine.sh start)"
        fi ;;
    stop) stop ;;
    *) die "usage: $(basename -- "$0") start|host|stop" ;;
esac
