# Shared by the project's scripts: service lifecycles that stop only what this run started.

kafka_started_here=0

# Starts the broker unless one of ours is already running.
kafka_ensure_up() {
  if "$root/scripts/kafka.sh" status; then
    echo "using the Kafka broker that is already running" >&2
  else
    "$root/scripts/kafka.sh" up
    kafka_started_here=1
  fi
}

kafka_stop_if_started() {
  if [[ $kafka_started_here == 1 ]]; then
    "$root/scripts/kafka.sh" down
  fi
}

registry_started_here=0

# Starts the schema registry (Confluent API at $CORVID_TEST_SCHEMA_REGISTRY) unless running.
registry_ensure_up() {
  if "$root/scripts/schema-registry.sh" status; then
    echo "using the schema registry that is already running" >&2
  else
    "$root/scripts/schema-registry.sh" up
    registry_started_here=1
  fi
}

registry_stop_if_started() {
  if [[ $registry_started_here == 1 ]]; then
    "$root/scripts/schema-registry.sh" down
  fi
}

s3_started_here=0

# Starts the local S3-compatible server (moto, from the venv) unless running.
s3_ensure_up() {
  if "$root/scripts/s3.sh" status; then
    echo "using the S3 server that is already running" >&2
  else
    "$root/scripts/s3.sh" up
    s3_started_here=1
  fi
}

s3_stop_if_started() {
  if [[ $s3_started_here == 1 ]]; then
    "$root/scripts/s3.sh" down
  fi
}

# Where cargo puts binaries (CI points CARGO_TARGET_DIR at a cache outside the checkout).
target_dir() {
  echo "${CARGO_TARGET_DIR:-$root/target}"
}
