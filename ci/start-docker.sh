#!/usr/bin/env bash
# Starts the Docker engine the project's tests and the kind cluster use, and waits until it answers.
#
#   bash ci/start-docker.sh
#
# - An engine that already answers `docker info` is left as it is (idempotent).
# - Otherwise Debian's docker.io (dockerd 20.10, containerd, runc) and jq are installed if missing,
#   the project's runtime wrapper and daemon configuration (ci/docker/) are installed under
#   /usr/local/libexec/zk-chaos, and dockerd is started in the background with that configuration,
#   its log in /var/log/zk-chaos-dockerd.log.
# - The wrapper is the engine's default runtime: where the capability bounding set lacks
#   CAP_SYS_RESOURCE, `docker run --privileged` (every kind node) fails in runc without it.
#
# - Containers of that engine may reach each other and this machine, nothing beyond it: a chain
#   ZK-CHAOS-EGRESS in DOCKER-USER rejects forwarded traffic that would leave through any interface
#   but a Docker bridge (a cluster's service or pod address whose rules are missing would otherwise
#   be routed out of the machine).
#
# Exit codes: 0 the engine answers; 3 it cannot be started here (the reason and the log's tail are
# printed); 1 anything else (an install failed).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
libexec=/usr/local/libexec/zk-chaos
logfile=/var/log/zk-chaos-dockerd.log
wait_s=${ZK_CHAOS_DOCKER_WAIT:-60}

log() { printf 'start-docker: %s\n' "$*" >&2; }

# No container traffic leaves the machine (see the header). Idempotent: the chain is rebuilt.
guard_egress() {
  local ipt=$1
  command -v "$ipt" >/dev/null 2>&1 || return 0
  "$ipt" -w -S DOCKER-USER >/dev/null 2>&1 || "$ipt" -w -N DOCKER-USER 2>/dev/null || return 0
  "$ipt" -w -N ZK-CHAOS-EGRESS 2>/dev/null || "$ipt" -w -F ZK-CHAOS-EGRESS
  "$ipt" -w -A ZK-CHAOS-EGRESS -o docker0 -j RETURN
  "$ipt" -w -A ZK-CHAOS-EGRESS -o br-+ -j RETURN
  "$ipt" -w -A ZK-CHAOS-EGRESS -j REJECT
  "$ipt" -w -C DOCKER-USER -j ZK-CHAOS-EGRESS 2>/dev/null || "$ipt" -w -I DOCKER-USER -j ZK-CHAOS-EGRESS
  "$ipt" -w -C FORWARD -j DOCKER-USER 2>/dev/null || "$ipt" -w -I FORWARD -j DOCKER-USER
}

if docker info >/dev/null 2>&1; then
  # An engine of ours (started by this script earlier) gets the guard again; another is left alone.
  if [ "$(docker info -f '{{.DefaultRuntime}}' 2>/dev/null)" = zk-chaos-runc ]; then
    guard_egress iptables
    guard_egress ip6tables
  fi
  log "a Docker engine already answers ($(docker version -f '{{.Server.Version}}' 2>/dev/null || echo '?'))"
  exit 0
fi
if [ -n "${DOCKER_HOST:-}" ] && [ "${DOCKER_HOST#unix://}" = "$DOCKER_HOST" ]; then
  log "DOCKER_HOST=$DOCKER_HOST names a remote engine, which does not answer; this script starts only a local one"
  exit 3
fi

need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v jq >/dev/null 2>&1 || need+=(jq)
if [ ${#need[@]} -gt 0 ]; then
  [ "$(id -u)" -eq 0 ] || { log "${need[*]} missing and not root: install them, or start a Docker engine yourself"; exit 3; }
  log "installing ${need[*]} from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # policy-rc.d may refuse the package's own service start; this script starts dockerd itself.
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

install -d "$libexec"
install -m 0755 "$here/ci/docker/runc-drop-sys-resource" "$libexec/runc-drop-sys-resource"
install -m 0644 "$here/ci/docker/daemon.json" "$libexec/daemon.json"

# dockerd from an earlier session may have left its pid file behind, and after a reboot its pid
# may belong to another process: only a live dockerd of that pid counts.
pidfile=/var/run/docker.pid
is_dockerd() { [ "$(cat "/proc/$1/comm" 2>/dev/null)" = dockerd ]; }
if [ -f "$pidfile" ] && ! is_dockerd "$(cat "$pidfile")"; then
  log "removing the stale $pidfile (pid $(cat "$pidfile") is not a dockerd)"
  rm -f "$pidfile"
fi
if [ -f "$pidfile" ]; then
  log "dockerd (pid $(cat "$pidfile")) runs but does not answer yet; waiting for it"
else
  log "starting dockerd with $libexec/daemon.json (log: $logfile)"
  # Docker's bridge network needs forwarding; kind's nodes need it too.
  sysctl -qw net.ipv4.ip_forward=1 >/dev/null 2>&1 || true
  setsid nohup dockerd --config-file "$libexec/daemon.json" >>"$logfile" 2>&1 </dev/null &
fi

for ((i = 0; i < wait_s * 2; i++)); do
  if docker info >/dev/null 2>&1; then
    guard_egress iptables
    guard_egress ip6tables
    log "Docker engine $(docker version -f '{{.Server.Version}}') answers after $((i / 2)) s (runtime $(docker info -f '{{.DefaultRuntime}}'))"
    exit 0
  fi
  if ! pgrep -x dockerd >/dev/null 2>&1 && [ "$i" -gt 4 ]; then
    break
  fi
  sleep 0.5
done
log "the Docker engine did not answer within ${wait_s}s; the last lines of $logfile:"
tail -n 20 "$logfile" >&2 || true
exit 3
