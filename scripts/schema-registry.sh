#!/usr/bin/env bash
# Start, stop or query Corvid's Confluent-compatible schema registry (Apicurio Registry, in-memory
# storage) on 127.0.0.1:8081.
#
#   scripts/schema-registry.sh up       build the registry once (Maven Central), start it, wait
#   scripts/schema-registry.sh down     stop the registry this script started
#   scripts/schema-registry.sh status   exit 0 when our registry is running
#
# Confluent's REST API is served under a base path, not at the root:
#   http://127.0.0.1:8081/apis/ccompat/v6
# e.g. POST $base/subjects/test-value/versions  -> {"id":1}
#      GET  $base/schemas/ids/1                 -> {"schema":"..."}
#
# The application is built once from scripts/schema-registry/pom.xml into a cache outside the
# checkout ($CORVID_CACHE, default ~/.cache/corvid) and rebuilt when that pom changes. Storage is
# in memory, so each `up` starts an empty registry: it is for development and tests, not for
# keeping schemas. Both verbs are idempotent: `up` on a running registry and `down` on a stopped
# one do nothing.
set -euo pipefail

here=$(cd "$(dirname "$0")/schema-registry" && pwd)
version=$(sed -n 's:.*<apicurio.version>\(.*\)</apicurio.version>.*:\1:p' "$here/pom.xml")
cache=${CORVID_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/corvid}
app="$cache/apicurio-registry-$version"
build="$cache/apicurio-registry-build"
run="$cache/schema-registry-run"
pidfile="$run/schema-registry.pid"
port=8081
base_path=/apis/ccompat/v6

log() { echo "schema-registry.sh: $*" >&2; }

service=registry
# shellcheck source=scripts/service-lib.sh
source "$(dirname "$0")/service-lib.sh"


# exit 0 when GET $1 on our port answers 200 (plain bash, so no curl is needed)
http_ok() {
  local status
  status=$(
    exec 2>/dev/null
    exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
    printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$1" >&3
    timeout 5 head -n 1 <&3
  ) || return 1
  [[ $status == "HTTP/1."?" 200"* ]]
}


stamp() { cat "$here/pom.xml" "$here/settings.xml" | sha256sum | cut -d' ' -f1; }

fetch() {
  [[ -f $app/.complete && $(cat "$app/.complete") == "$(stamp)" ]] && return 0
  command -v mvn >/dev/null || { log "mvn not found: install Debian's 'maven' package"; exit 1; }
  log "building Apicurio Registry $version from Maven Central into $app (takes a few minutes once)"
  rm -rf "$build"
  mkdir -p "$build"
  cp "$here/pom.xml" "$build/pom.xml"
  # Apicurio's application.properties pins the prod package type to legacy-jar; the profiled
  # name wins over an unprofiled one, so override it under the same name.
  if ! mvn -B -s "$here/settings.xml" -f "$build/pom.xml" '-D%prod.quarkus.package.type=fast-jar' \
    package >"$build/build.log" 2>&1; then
    log "build failed; last lines of $build/build.log:"
    grep -E '^\[(ERROR|WARNING)\]' "$build/build.log" | tail -n 20 >&2 || true
    exit 1
  fi
  rm -rf "$app"
  mv "$build/target/quarkus-app" "$app"
  stamp >"$app/.complete"
  rm -rf "$build"
}

up() {
  already_up && return 0
  fetch
  rm -rf "$run"
  mkdir -p "$run"
  # Apicurio's application.properties sets %prod.quarkus.http.port, so the port is set by that name.
  nohup setsid java -Xms64m -Xmx512m -Djava.awt.headless=true \
    -Dquarkus.http.host=127.0.0.1 "-D%prod.quarkus.http.port=$port" \
    '-D%prod.quarkus.package.type=fast-jar' \
    -jar "$app/quarkus-run.jar" >"$run/stdout.log" 2>&1 </dev/null &
  echo $! >"$pidfile"
  for _ in $(seq 1 240); do
    if ! our_pid >/dev/null; then
      log "registry exited during start-up; last lines of its log:"
      tail -n 30 "$run/stdout.log" >&2 || true
      exit 1
    fi
    if http_ok "$base_path/subjects"; then
      log "registry up at http://127.0.0.1:$port$base_path (pid $(cat "$pidfile"), log in $run/stdout.log)"
      return 0
    fi
    sleep 0.5
  done
  log "registry did not answer within 120 s; see $run/stdout.log"
  down
  exit 1
}

dispatch "$@"
