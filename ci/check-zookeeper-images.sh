#!/usr/bin/env bash
# Checks the ZooKeeper images of ci/build-zookeeper-images.sh with plain `docker` commands, without zk-chaos: for
# each, three containers on a network of the check's own, configured as the reference fixture's pod template
# configures its members (command, env, user, read-only root, volumes: ci/zookeeper-images/pod_to_docker.py),
# then, each within a deadline:
#   1. every member's readiness probe (the fixture's own command) succeeds;
#   2. `srvr` on each member: exactly one leader and two followers;
#   3. each member's myid file (in the dataDir its java command line's config names) holds its ordinal + 1, and
#      java runs as the UID the deployment asks for;
#   4. a znode created through member 0 is read back, with its value, through member 2 (zkCli.sh of the image);
#   5. for the read-only fixture (Bitnami), the root filesystem refuses a write;
#   6. after `docker restart` of member 0 (same volumes, a fresh process) it is ready again with myid 1, the
#      ensemble has one leader and two followers again, and member 0 reads the znode.
# Everything it creates carries the labels zk-chaos.images-test=1 and zk-chaos.images-test.run=<this run> and is
# removed at the end (also on failure or Ctrl-C), by the run's label only.
#
#   bash ci/check-zookeeper-images.sh [walkthrough-3.9.5|walkthrough-3.8.6|walkthrough-3.8|official|bitnami]...
#
# Default: all five (walkthrough-3.8 is Debian's zk-chaos/zookeeper:3.8 of ci/build-image.sh, checked the same way).
# ZK_CHAOS_IMAGES_FIXTURE=PATH runs the selected images with another fixture (e.g. a negative control in
# fixtures/broken/, to see a check fail); ZK_CHAOS_IMAGES_DEADLINE (s, default 120) bounds each wait.
#
# Takes 39-50 s per image on two cores, 225 s for all five (JVM starts, leader elections, and the restart: the
# walkthrough's `sh -c` PID 1 ignores SIGTERM, so its restart waits the 10 s grace period).
# Exit codes: 0 every check passed; 1 a check failed (its name, and the members' last log lines, printed);
# 3 no Docker engine, an image is not built (run ci/build-zookeeper-images.sh), or no PyYAML.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
deadline_s=${ZK_CHAOS_IMAGES_DEADLINE:-120}
namespace=zk-images-test
run=zkimg-$$-$RANDOM
log() { printf 'check-zookeeper-images: %s\n' "$*" >&2; }

# name fixture image-map expected-uid zkCli-path
all_checks="walkthrough-3.9.5 fixtures/zookeeper.yaml zk-chaos/zookeeper:3.8=zk-chaos/zookeeper:3.9.5 1000 /opt/zookeeper/bin/zkCli.sh
walkthrough-3.8.6 fixtures/zookeeper.yaml zk-chaos/zookeeper:3.8=zk-chaos/zookeeper:3.8.6 1000 /opt/zookeeper/bin/zkCli.sh
walkthrough-3.8 fixtures/zookeeper.yaml zk-chaos/zookeeper:3.8=zk-chaos/zookeeper:3.8 1000 /usr/share/zookeeper/bin/zkCli.sh
official fixtures/official.yaml zookeeper:3.9.5=zk-chaos/zookeeper-official:3.9.5 1000 zkCli.sh
bitnami fixtures/bitnami.yaml docker.io/bitnami/zookeeper:3.9.5=zk-chaos/zookeeper-bitnami:3.9.5 1001 zkCli.sh"

selected=$all_checks
if [ $# -gt 0 ]; then
  selected=
  for want in "$@"; do
    line=$(awk -v w="$want" '$1 == w' <<<"$all_checks")
    [ -n "$line" ] || { log "unknown image '$want': one of $(awk '{print $1}' <<<"$all_checks" | tr '\n' ' ')"; exit 2; }
    selected+="$line"$'\n'
  done
fi

docker info >/dev/null 2>&1 || { log "no Docker engine answers: start one (bash ci/start-docker.sh) and retry"; exit 3; }
python=python3
if ! "$python" -c 'import yaml' 2>/dev/null; then
  python=$here/ci/.venv/bin/python
  "$python" -c 'import yaml' 2>/dev/null || { log "no PyYAML: apt-get install python3-yaml, or run bash ci/lint.sh once (ci/.venv)"; exit 3; }
fi

work=$(mktemp -d /tmp/zk-chaos-images-test.XXXXXX)
cleanup() {
  local ids
  ids=$(docker ps -aq --filter "label=zk-chaos.images-test.run=$run")
  # shellcheck disable=SC2086 # one word per id
  [ -z "$ids" ] || docker rm -fv $ids >/dev/null
  ids=$(docker volume ls -q --filter "label=zk-chaos.images-test.run=$run")
  # shellcheck disable=SC2086
  [ -z "$ids" ] || docker volume rm $ids >/dev/null
  ids=$(docker network ls -q --filter "label=zk-chaos.images-test.run=$run")
  # shellcheck disable=SC2086
  [ -z "$ids" ] || docker network rm $ids >/dev/null
  # Files the containers' users left in the emptyDir stand-ins may not be removable by a non-root caller.
  rm -rf "$work" 2>/dev/null || log "could not remove all of $work (files of the containers' users): remove it as root"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# fail NAME MESSAGE: prints the failed check and the members' last log lines, then exits 1 (cleanup runs).
members=()
fail() {
  log "FAIL $1: $2"
  for m in "${members[@]}"; do
    log "--- last lines of $m:"
    docker logs --tail 15 "$m" 2>&1 | sed 's/^/    /' >&2 || true
  done
  exit 1
}

# until_ok DESCRIPTION COMMAND...: retries COMMAND each second until it succeeds or the deadline passes.
until_ok() {
  local what=$1 start=$SECONDS
  shift
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS - start >= deadline_s)); then return 1; fi
    sleep 1
  done
  log "  $what after $((SECONDS - start))s"
}

srvr() { docker exec "$1" bash -c 'echo srvr | nc -q 1 -w 3 localhost 2181'; }
mode() { srvr "$1" 2>/dev/null | sed -n 's/^Mode: //p'; }
one_leader_two_followers() {
  local modes
  modes=$(for m in "${members[@]}"; do mode "$m"; done | sort | tr '\n' ' ')
  [ "$modes" = "follower follower leader " ]
}

total_start=$SECONDS
while read -r name fixture map uid zkcli; do
  [ -n "$name" ] || continue
  fixture=${ZK_CHAOS_IMAGES_FIXTURE:-$fixture}
  start=$SECONDS
  to=${map#*=}
  docker image inspect "$to" >/dev/null 2>&1 || { log "$to is not built: run bash ci/build-zookeeper-images.sh"; exit 3; }
  log "$name: $fixture with $map, three members on network $run-$name"
  net=$run-$name
  docker network create --label zk-chaos.images-test=1 --label "zk-chaos.images-test.run=$run" "$net" >/dev/null
  members=()
  specs=()
  for ordinal in 0 1 2; do
    spec=$("$python" "$here/ci/zookeeper-images/pod_to_docker.py" "$here/$fixture" "$ordinal" "$net" "$namespace" "$run" "$name" "$work" "$map")
    specs+=("$spec")
    for vol in $("$python" -c 'import json,sys; print(" ".join(json.loads(sys.argv[1])["volumes"]))' "$spec"); do
      docker volume create --label zk-chaos.images-test=1 --label "zk-chaos.images-test.run=$run" "$vol" >/dev/null
    done
    # NUL-separated: a command may hold newlines (a multi-line `bash -c` script).
    mapfile -d '' -t args < <("$python" -c 'import json,sys; sys.stdout.write("\0".join(json.loads(sys.argv[1])["run"]))' "$spec")
    docker run -d "${args[@]}" >/dev/null
    members+=("$("$python" -c 'import json,sys; print(json.loads(sys.argv[1])["name"])' "$spec")")
  done

  # 1. Readiness, through the fixture's own probe command, run as the container's user.
  for i in 0 1 2; do
    mapfile -d '' -t probe < <("$python" -c 'import json,sys; sys.stdout.write("\0".join(json.loads(sys.argv[1])["readiness"]))' "${specs[$i]}")
    [ "$(docker inspect -f '{{.State.Running}}' "${members[$i]}")" = true ] || fail "$name start" "${members[$i]} is not running"
    until_ok "${members[$i]} ready (${probe[*]})" docker exec "${members[$i]}" "${probe[@]}" ||
      fail "$name readiness" "${members[$i]}: the readiness probe '${probe[*]}' did not succeed within ${deadline_s}s"
  done

  # 2. Roles.
  until_ok "one leader and two followers" one_leader_two_followers ||
    fail "$name roles" "modes after ${deadline_s}s: $(for m in "${members[@]}"; do printf '%s=%s ' "$m" "$(mode "$m")"; done)"

  # 3. myid and user, from the java process itself.
  for i in 0 1 2; do
    m=${members[$i]}
    facts=$(docker exec "$m" bash -c '
      for p in /proc/[0-9]*; do
        if tr "\0" "\n" <"$p/cmdline" 2>/dev/null | grep -qx org.apache.zookeeper.server.quorum.QuorumPeerMain; then
          cfg=$(tr "\0" "\n" <"$p/cmdline" | tail -n 1)
          dir=$(sed -n "s/^dataDir=//p" "$cfg")
          echo "uid=$(awk "/^Uid:/ {print \$2}" "$p/status") myid=$(cat "$dir/myid") cfg=$cfg tickTime=$(sed -n "s/^tickTime=//p" "$cfg")"
          exit 0
        fi
      done
      echo "no java process runs QuorumPeerMain"; exit 1') || fail "$name process" "$m: $facts"
    [[ $facts == "uid=$uid myid=$((i + 1)) "* ]] || fail "$name myid/uid" "$m: $facts (expected uid=$uid myid=$((i + 1)))"
    log "  $m: $facts"
  done

  # 4. A write through member 0, read through member 2 (polled: a follower may lag).
  value=written-$run
  docker exec "${members[0]}" "$zkcli" -server localhost:2181 create /zk-chaos-images-test "$value" >"$work/create.out" 2>&1 ||
    fail "$name write" "create through ${members[0]}: $(tail -n 3 "$work/create.out")"
  read_back() { docker exec "${members[2]}" "$zkcli" -server localhost:2181 get /zk-chaos-images-test 2>/dev/null | grep -qx "$value"; }
  until_ok "/zk-chaos-images-test=$value read through ${members[2]}" read_back ||
    fail "$name read" "get /zk-chaos-images-test through ${members[2]} did not print $value"

  # 5. A read-only root refuses writes (only where the fixture asks for one).
  if grep -q 'readOnlyRootFilesystem: true' "$here/$fixture"; then
    if docker exec "${members[0]}" touch /zk-chaos-write-test 2>/dev/null; then
      fail "$name read-only root" "${members[0]} could write /zk-chaos-write-test"
    fi
    log "  read-only root: writing / is refused"
  fi

  # 6. A container restart (what a pod's restart does: same volumes and emptyDirs, a fresh process): member 0
  #    comes back with the same myid, rejoins, and still has the znode. Exercises the images' "already
  #    configured" paths (an existing zoo.cfg, a persisted myid).
  docker restart -t 10 "${members[0]}" >/dev/null
  mapfile -d '' -t probe < <("$python" -c 'import json,sys; sys.stdout.write("\0".join(json.loads(sys.argv[1])["readiness"]))' "${specs[0]}")
  until_ok "${members[0]} ready again after a restart" docker exec "${members[0]}" "${probe[@]}" ||
    fail "$name restart" "${members[0]}: not ready within ${deadline_s}s of docker restart"
  until_ok "one leader and two followers again" one_leader_two_followers ||
    fail "$name restart" "modes after ${deadline_s}s: $(for m in "${members[@]}"; do printf '%s=%s ' "$m" "$(mode "$m")"; done)"
  myid=$(docker exec "${members[0]}" bash -c 'for p in /proc/[0-9]*; do if tr "\0" "\n" <"$p/cmdline" 2>/dev/null | grep -qx org.apache.zookeeper.server.quorum.QuorumPeerMain; then
    cfg=$(tr "\0" "\n" <"$p/cmdline" | tail -n 1); cat "$(sed -n "s/^dataDir=//p" "$cfg")/myid"; exit 0; fi; done; exit 1') ||
    fail "$name restart" "${members[0]}: no java process runs QuorumPeerMain after the restart"
  [ "$myid" = 1 ] || fail "$name restart" "${members[0]}: myid $myid after the restart, expected 1"
  read_back_0() { docker exec "${members[0]}" "$zkcli" -server localhost:2181 get /zk-chaos-images-test 2>/dev/null | grep -qx "$value"; }
  until_ok "/zk-chaos-images-test=$value read through the restarted ${members[0]}" read_back_0 ||
    fail "$name restart" "get /zk-chaos-images-test through the restarted ${members[0]} did not print $value"

  log "$name: PASS in $((SECONDS - start))s"
  docker rm -fv "${members[@]}" >/dev/null
  docker network rm "$net" >/dev/null
done <<<"$selected"
log "all passed in $((SECONDS - total_start))s"
