#!/usr/bin/env bash
# Start, stop or query Corvid's single-node Apache Kafka broker (KRaft) on 127.0.0.1:9092.
#
#   scripts/kafka.sh up       download Kafka once (Maven Central), format fresh storage, start, wait
#   scripts/kafka.sh down     stop the broker this script started
#   scripts/kafka.sh status   exit 0 when our broker is running
#
# The jars are cached outside the checkout ($CORVID_CACHE, default ~/.cache/corvid) so CI
# can reuse them; each `up` of a stopped broker formats new, empty storage: it is a
# scratch broker for development and tests, not a place to keep data. Both verbs are
# idempotent: `up` on a running broker and `down` on a stopped one do nothing.
set -euo pipefail

here=$(cd "$(dirname "$0")/kafka" && pwd)
version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/pom.xml")
cache=${CORVID_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/corvid}
libs="$cache/kafka-$version/libs"
run="$cache/kafka-run"
pidfile="$run/kafka.pid"
port=9092

log() { echo "kafka.sh: $*" >&2; }

service=broker
# shellcheck source=scripts/service-lib.sh
source "$(dirname "$0")/service-lib.sh"



fetch() {
  [[ -f $libs/.complete ]] && return 0
  command -v mvn >/dev/null || { log "mvn not found: install Debian's 'maven' package"; exit 1; }
  log "downloading Apache Kafka $version and its dependencies from Maven Central into $libs"
  rm -rf "$libs.tmp"
  mvn -q -B -f "$here/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$libs.tmp"
  rm -rf "$libs"
  mv "$libs.tmp" "$libs"
  touch "$libs/.complete"
}

up() {
  already_up && return 0
  fetch
  rm -rf "$run"
  mkdir -p "$run/data"
  cp "$here/server.properties" "$run/server.properties"
  echo "log.dirs=$run/data" >>"$run/server.properties"
  local cluster_id
  # java expands the class-path wildcard itself, so "$libs/*" stays quoted
  local java=(java -Xms256m -Xmx1g -XX:+UseG1GC -Djava.awt.headless=true
    "-Dlog4j2.configurationFile=$here/log4j2.properties"
    "-Dcorvid.kafka.logfile=$run/server.log" -cp "$libs/*")
  cluster_id=$("${java[@]}" kafka.tools.StorageTool random-uuid | tail -n 1)
  "${java[@]}" kafka.tools.StorageTool format -t "$cluster_id" -c "$run/server.properties" >"$run/format.log" 2>&1 \
    || { log "formatting storage failed:"; cat "$run/format.log" >&2; exit 1; }
  nohup setsid "${java[@]}" kafka.Kafka "$run/server.properties" >"$run/stdout.log" 2>&1 </dev/null &
  echo $! >"$pidfile"
  for _ in $(seq 1 120); do
    if ! our_pid >/dev/null; then
      log "broker exited during start-up; last lines of its logs:"
      tail -n 30 "$run/stdout.log" "$run/server.log" >&2 || true
      exit 1
    fi
    if port_open $port && grep -q 'Kafka Server started' "$run/server.log" 2>/dev/null; then
      log "broker up on 127.0.0.1:$port (pid $(cat "$pidfile"), logs in $run)"
      return 0
    fi
    sleep 0.5
  done
  log "broker did not start within 60 s; see $run/server.log"
  down
  exit 1
}

dispatch "$@"
