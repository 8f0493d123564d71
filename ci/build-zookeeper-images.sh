#!/usr/bin/env bash
# Builds the ZooKeeper images made from the Maven registry's jars (org.apache.zookeeper:zookeeper and its runtime
# dependencies) on the same Debian base as zk-chaos/zookeeper:3.8 (ci/build-image.sh), from
# fixtures/zookeeper-images:
#   zk-chaos/zookeeper:3.9.5           the walkthrough's start-zookeeper and zookeeper-ready (fixtures/image) on 3.9.5
#   zk-chaos/zookeeper:3.8.6           the same on 3.8.6 (beside Debian's 3.8.0 in zk-chaos/zookeeper:3.8)
#   zk-chaos/zookeeper-official:3.9.5  the official `zookeeper` image's documented contract (ZOO_* variables)
#   zk-chaos/zookeeper-bitnami:3.9.5   what the Bitnami chart calls in its image (/entrypoint.sh /run.sh, ...)
#
#   bash ci/build-zookeeper-images.sh [walkthrough-3.9.5|walkthrough-3.8.6|official|bitnami]...   # default: all
#
# Offline once the jars are cached: Maven resolves each version's jar set once (from ~/.m2 when it has them, else
# the registry) into JAR_CACHE/<version>; later runs use that copy. The ZooKeeper jar and the provided-scope jars
# its release ships (logback, jetty for the AdminServer, jline, metrics-core, snappy, commons-cli) are resolved
# with the versions of ZooKeeper's own parent POM, so the lib dir matches the release's.
# Rebuilt only when needed: an image's label zk-chaos.fixture-hash is a hash of its build context (jars, scripts,
# Dockerfile) and of the base's name and image ID; an up-to-date image is left alone (a warm run takes seconds).
#
# Environment: ZK_CHAOS_BASE_IMAGE (default: the base zk-chaos/zookeeper:3.8 was built on, from its label
# zk-chaos.base, so run ci/build-image.sh first), ZK_CHAOS_JAR_CACHE (default
# ${XDG_CACHE_HOME:-~/.cache}/zk-chaos/zookeeper-jars), MVN (default mvn).
# Maven is installed from Debian's packages when it is missing and a jar set is not cached (as root).
# Exit codes: 0 built or up to date; 3 no Docker engine, no base image, or no mvn while a jar set is not cached;
# 1 a build step failed; 2 an unknown image name.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
src=$here/fixtures/zookeeper-images
jar_cache=${ZK_CHAOS_JAR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/zk-chaos/zookeeper-jars}
mvn=${MVN:-mvn}

log() { printf 'build-zookeeper-images: %s\n' "$*" >&2; }

# name flavour version: one line per image.
all_images="walkthrough-3.9.5 zk-chaos/zookeeper:3.9.5 walkthrough 3.9.5
walkthrough-3.8.6 zk-chaos/zookeeper:3.8.6 walkthrough 3.8.6
official zk-chaos/zookeeper-official:3.9.5 official 3.9.5
bitnami zk-chaos/zookeeper-bitnami:3.9.5 bitnami 3.9.5"

selected=$all_images
if [ $# -gt 0 ]; then
  selected=
  for want in "$@"; do
    line=$(awk -v w="$want" '$1 == w' <<<"$all_images")
    if [ -z "$line" ]; then
      log "unknown image '$want': one of $(awk '{print $1}' <<<"$all_images" | tr '\n' ' ')"
      exit 2
    fi
    selected+="$line"$'\n'
  done
fi

# shellcheck source=ci/lib/base-image.sh
. "$here/ci/lib/base-image.sh"
find_base

# jars VERSION: prints the directory holding ZooKeeper VERSION's runtime jar set, resolving it once with Maven.
jars() {
  local version=$1 dir=$jar_cache/$1 tmp
  if [ -f "$dir/.complete" ]; then
    echo "$dir/lib"
    return 0
  fi
  if ! command -v "$mvn" >/dev/null 2>&1 && [ "$mvn" = mvn ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    # As ci/build-image.sh installs debootstrap: a fresh machine gets Maven from Debian's packages.
    log "the jars of ZooKeeper $version are not cached and Maven is not installed; installing it from Debian's packages"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends maven >/dev/null ||
      { log "apt-get install maven failed"; exit 3; }
  fi
  if ! command -v "$mvn" >/dev/null 2>&1; then
    log "the jars of ZooKeeper $version are not cached in $dir and $mvn is not installed: install Maven (apt-get install maven)"
    exit 3
  fi
  mkdir -p "$jar_cache"
  tmp=$(mktemp -d "$jar_cache/.resolve-$version.XXXXXX")
  # The server's provided and optional dependencies are what its release bundles; their versions come from
  # ZooKeeper's parent POM, imported as a BOM.
  cat >"$tmp/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>zk-chaos</groupId><artifactId>zookeeper-$version-jars</artifactId><version>1</version><packaging>pom</packaging>
  <dependencyManagement><dependencies>
    <dependency><groupId>org.apache.zookeeper</groupId><artifactId>parent</artifactId><version>$version</version>
      <type>pom</type><scope>import</scope></dependency>
  </dependencies></dependencyManagement>
  <dependencies>
    <dependency><groupId>org.apache.zookeeper</groupId><artifactId>zookeeper</artifactId><version>$version</version></dependency>
    <dependency><groupId>ch.qos.logback</groupId><artifactId>logback-classic</artifactId></dependency>
    <dependency><groupId>org.eclipse.jetty</groupId><artifactId>jetty-server</artifactId></dependency>
    <dependency><groupId>org.eclipse.jetty</groupId><artifactId>jetty-servlet</artifactId></dependency>
    <dependency><groupId>org.eclipse.jetty</groupId><artifactId>jetty-client</artifactId></dependency>
    <dependency><groupId>com.fasterxml.jackson.core</groupId><artifactId>jackson-databind</artifactId></dependency>
    <dependency><groupId>org.jline</groupId><artifactId>jline</artifactId></dependency>
    <dependency><groupId>io.dropwizard.metrics</groupId><artifactId>metrics-core</artifactId></dependency>
    <dependency><groupId>org.xerial.snappy</groupId><artifactId>snappy-java</artifactId></dependency>
    <dependency><groupId>commons-cli</groupId><artifactId>commons-cli</artifactId></dependency>
  </dependencies>
</project>
POM
  log "resolving ZooKeeper $version's jars with Maven (once; cached in $dir)"
  # Offline first: a local repository that already has them needs no registry.
  if ! (cd "$tmp" && { "$mvn" -q -B -o dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp/lib" >"$tmp/mvn.log" 2>&1 ||
    "$mvn" -q -B dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp/lib" >"$tmp/mvn.log" 2>&1; }); then
    tail -n 30 "$tmp/mvn.log" >&2
    log "Maven could not resolve org.apache.zookeeper:zookeeper:$version (log: $tmp/mvn.log)"
    exit 1
  fi
  if ! compgen -G "$tmp/lib/zookeeper-$version.jar" >/dev/null || ! compgen -G "$tmp/lib/logback-classic-*.jar" >/dev/null; then
    log "Maven's jar set for ZooKeeper $version lacks zookeeper-$version.jar or logback-classic (see $tmp/lib)"
    exit 1
  fi
  rm -rf "$dir"
  mkdir -p "$dir"
  mv "$tmp/lib" "$tmp/pom.xml" "$dir/"
  rm -rf "$tmp"
  touch "$dir/.complete"
  log "cached $(find "$dir/lib" -name '*.jar' | wc -l) jars of ZooKeeper $version in $dir"
  echo "$dir/lib"
}

# context FLAVOUR VERSION DIR: assembles a build context in DIR: the flavour's files, the shared ones, the jars.
context() {
  local flavour=$1 version=$2 dir=$3 lib
  lib=$(jars "$version")
  cp -r "$src/$flavour/." "$dir/"
  cp "$src/common/zkServer.sh" "$src/common/zkCli.sh" "$src/common/logback.xml" "$src/common/prepare-base.sh" "$dir/"
  if [ "$flavour" = walkthrough ]; then
    cp "$here/fixtures/image/start-zookeeper" "$here/fixtures/image/zookeeper-ready" "$dir/"
  fi
  cp -r "$lib" "$dir/lib"
}

work=$(mktemp -d /tmp/zk-chaos-zk-images.XXXXXX)
trap 'rm -rf "$work"' EXIT

built=0 fresh=0
while read -r name image flavour version; do
  [ -n "$name" ] || continue
  dir=$work/$name
  mkdir -p "$dir"
  context "$flavour" "$version" "$dir"
  hash=$( { (cd "$dir" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum); echo "version $version"; echo "base $base $base_id"; } |
    sha256sum | cut -c1-16)
  current=$(docker image inspect -f '{{ index .Config.Labels "zk-chaos.fixture-hash" }}' "$image" 2>/dev/null || true)
  if [ "$current" = "$hash" ]; then
    log "$image is up to date (fixture hash $hash, base $base)"
    fresh=$((fresh + 1))
    continue
  fi
  log "building $image ($flavour, ZooKeeper $version) on $base ($base_id)"
  start=$SECONDS
  # Host network: on an ordinary Debian base, prepare-base.sh installs packages with apt.
  if ! docker build --network host --build-arg "BASE=$base" --build-arg "ZK_VERSION=$version" \
    --label "zk-chaos.fixture-hash=$hash" --label "zk-chaos.base=$base@$base_id" --label "zk-chaos.zookeeper-version=$version" \
    -t "$image" "$dir" >"$work/$name.log" 2>&1; then
    tail -n 30 "$work/$name.log" >&2
    cp "$work/$name.log" "/tmp/zk-chaos-build-$name.log"
    log "docker build of $image failed (full log: /tmp/zk-chaos-build-$name.log)"
    exit 1
  fi
  log "built $image in $((SECONDS - start))s (fixture hash $hash)"
  built=$((built + 1))
done <<<"$selected"
log "done: $built built, $fresh up to date"
