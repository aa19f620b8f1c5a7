# Corvid's entry points. `make demo` and `make test` do all the set-up they need.
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: demo test lint build kafka-up kafka-down loadtest

## demo: start Kafka, feed sample osquery logs through the pipeline, print the alerts
demo:
	scripts/demo.sh

## test: the whole suite (format, lints, unit and Kafka integration tests, rule tests)
test:
	scripts/test.sh

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

build:
	$(CARGO) build --workspace

kafka-up:
	scripts/kafka.sh up

kafka-down:
	scripts/kafka.sh down

## loadtest: run the engine (release build) and push EVENTS generated events through it
EVENTS ?= 100000
loadtest:
	EVENTS=$(EVENTS) scripts/loadtest.sh

## venv: .venv with panther-analysis-tool and panther-core from PyPI, as pinned in requirements-dev.txt
PYTHON ?= python3
.PHONY: venv rules-compat
venv:
	PYTHON=$(PYTHON) scripts/rules-compat/venv.sh

## rules-compat: `corvid rules test` vs `pat test` on rules/ and engine/tests/rule_corpus/*, per-test verdicts diffed as a table
rules-compat: venv
	scripts/rules-compat.sh

## rules-bench: `corvid loadtest rules`: panther-core vs Corvid's dataflow on EVENTS CloudTrail events and loadtest/rules/cloudtrail
RULES_BENCH_ROUNDS ?= 2
.PHONY: rules-bench
rules-bench: venv
	$(CARGO) run --release -p corvid-engine --bin corvid -- loadtest rules --events $(EVENTS) --rounds $(RULES_BENCH_ROUNDS)

## alerts-bench: `corvid loadtest alerts` (release): dedup + transactional alerts sink with KEYS distinct dedup keys on the local broker, against a plain producer; alerts/s, ratio, resident memory
KEYS ?= 100000
.PHONY: alerts-bench
alerts-bench: kafka-up
	$(CARGO) run --release -p corvid-engine --bin corvid -- loadtest alerts --keys $(KEYS)

## enrich-bench: `corvid loadtest enrich` (release, no Kafka): parsed events through the enrichment stage with an ENRICH_BENCH_ROWS-row exact table and a 10,000-range CIDR table, against the same events without it; events/s, ratio, table load time and resident memory
ENRICH_BENCH_ROWS ?= 1000000
ENRICH_BENCH_EVENTS ?= 500000
.PHONY: enrich-bench
enrich-bench:
	$(CARGO) run --release -p corvid-engine --bin corvid -- loadtest enrich --rows $(ENRICH_BENCH_ROWS) --events $(ENRICH_BENCH_EVENTS)

## connectors-bench: each log connector (release) and kcat produce the same CONNECTORS_BENCH_LINES syslog lines into the local broker in one run (CONNECTORS_BENCH_ROUNDS rounds, medians); records per CPU-second (= records/s per core), ratio to kcat, wall records/s; fails on a short count
CONNECTORS_BENCH_LINES ?= 300000
CONNECTORS_BENCH_ROUNDS ?= 3
.PHONY: connectors-bench
connectors-bench: venv kafka-up
	scripts/ensure-debian.sh kcat
	scripts/s3.sh up
	$(CARGO) build --release -p corvid-engine --bin corvid
	.venv/bin/python loadtest/connectors_bench/bench.py --lines $(CONNECTORS_BENCH_LINES) --rounds $(CONNECTORS_BENCH_ROUNDS)
