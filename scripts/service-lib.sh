# Process lifecycle shared by the service scripts (kafka.sh, schema-registry.sh).
# The caller sets: $pidfile (the started process's pid), $service (a name for messages), $port,
# and defines log() and up(); it may define fetch().

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# The pid of the process this script started, if it is still alive.
our_pid() {
  [[ -f $pidfile ]] || return 1
  local pid
  pid=$(cat "$pidfile")
  kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

# True when our process already runs; fails the script when $port is taken by another.
already_up() {
  local pid
  if pid=$(our_pid); then
    log "already running (pid $pid)"
    return 0
  fi
  if port_open "$port"; then
    log "port $port is taken by a process this script did not start; stop it first"
    exit 1
  fi
  return 1
}

# Stops our process: SIGTERM, then SIGKILL after 30 s. Idempotent.
down() {
  local pid
  if ! pid=$(our_pid); then
    rm -f "$pidfile"
    log "not running"
    return 0
  fi
  kill "$pid"
  for _ in $(seq 1 60); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$pidfile"; log "stopped"; return 0; }
    sleep 0.5
  done
  log "$service ignored SIGTERM for 30 s; killing it"
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$pidfile"
}

dispatch() {
  case "${1:-}" in
    up) up ;;
    down) down ;;
    status) our_pid >/dev/null ;;
    fetch) fetch ;;
    *) echo "usage: $0 up|down|status|fetch" >&2; exit 2 ;;
  esac
}
