#!/usr/bin/env bash
# A local S3-compatible object store for the lake's tests: moto's server mode (PyPI, pinned in
# requirements-dev.txt, installed into the project venv) on 127.0.0.1:$CORVID_S3_PORT (9000),
# with the bucket `corvid-lake` created. Data lives in memory: every `up` starts empty.
#
#   scripts/s3.sh up|down|status
#
# Clients: endpoint http://127.0.0.1:9000, any access key / secret, region us-east-1,
# allow_http: true (the lake's `lake.endpoint`, `lake.allow_http`).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cache=${CORVID_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/corvid}
run="$cache/s3-run"
pidfile="$run/s3.pid"
port=${CORVID_S3_PORT:-9000}
bucket=corvid-lake
venv=${VENV:-$root/.venv}

log() { echo "s3.sh: $*" >&2; }

service=s3
source "$(dirname "$0")/service-lib.sh"

http_status() {
  local method=$1 path=$2
  (
    exec 2>/dev/null
    exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
    printf '%s %s HTTP/1.0\r\nHost: 127.0.0.1:%s\r\nContent-Length: 0\r\n\r\n' "$method" "$path" "$port" >&3
    timeout 5 head -n 1 <&3
  ) || return 1
}

fetch() { PYTHON=${PYTHON:-python3} VENV=$venv "$root/scripts/rules-compat/venv.sh"; }

up() {
  already_up && return 0
  fetch
  rm -rf "$run"
  mkdir -p "$run"
  nohup setsid "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$run/stdout.log" 2>&1 </dev/null &
  echo $! >"$pidfile"
  for _ in $(seq 1 120); do
    if ! our_pid >/dev/null; then
      log "moto exited during start-up; last lines of its log:"
      tail -n 30 "$run/stdout.log" >&2 || true
      exit 1
    fi
    if [[ $(http_status PUT "/$bucket") == "HTTP/1."?" 200"* ]]; then
      log "S3 (moto) up at http://127.0.0.1:$port with bucket $bucket (pid $(cat "$pidfile"), log in $run/stdout.log)"
      return 0
    fi
    sleep 0.5
  done
  log "moto did not answer within 60 s; see $run/stdout.log"
  down
  exit 1
}

dispatch "$@"
