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
