# swift-journal. `make setup` installs what the build needs (Debian 12),
# `make run` runs the main job, `make test` runs the tests.
SHELL := /bin/bash
SWIFT ?= swift
DEBIAN_PACKAGES := liburing-dev pkg-config python3 spin fio gnuplot-nox valgrind sqlite3 libsqlite3-dev bindfs libraft-dev libuv1-dev librocksdb-dev stress-ng
DATA ?= ./data
CLI_DEBUG := .build/debug/journalctl-swift
CLI_RELEASE := .build/release/journalctl-swift

.PHONY: setup build release run test test-busy test-unit test-threads test-models test-conformance test-tsan lint docs bench bench-backends bench-cpu bench-micro bench-micro-baseline fuzz clean crash-long raft-long

# Installs the Debian packages only when one is missing.
setup:
	@missing=""; for p in $(DEBIAN_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

build: setup
	$(SWIFT) build

release: setup
	$(SWIFT) build -c release

# The main job: append a workload to a journal under ./data, replay it, report.
run: release
	$(CLI_RELEASE) demo --journal $(DATA)/journal

test: setup lint test-models test-unit test-threads test-conformance

# make test RUNS times in a row (default 10) while stress-ng keeps every
# core busy: no verdict may depend on timing (Tools/test/busy.sh).
RUNS ?= 10
test-busy: setup
	Tools/test/busy.sh $(RUNS)

# The conformance corpus (Tests/Conformance/README.md): journals crafted from
# journal-format.md, read by the CLI in every recovery mode.
test-conformance: setup
	$(SWIFT) build --product journalctl-swift
	rm -rf .build/conformance
	python3 Tools/conformance/corpus.py generate .build/conformance
	python3 Tools/conformance/corpus.py check .build/conformance $(CLI_DEBUG)

# The size limits of the library code: no function over 70 lines, no file
# over 500 (Tools/lint/function-length.py).
LINT_DIRS := $(filter-out Sources/CJournalShims Sources/CLiburing Sources/CSQLite Sources/CRocksDB,$(wildcard Sources/*))
lint:
	python3 Tools/lint/function-length.py $(LINT_DIRS)

# The test bundle as several processes side by side (Tools/test/run-shards.sh):
# one per pattern below and one for every other test. The tests of one
# process share one runtime thread per core, and the tests that wait (for
# child processes, elections, conditions) hold theirs while they wait.
UNIT_SHARDS := '^JournalTestingTests\.|^JournalRaftTests\.' '^CLITests\.' '^KillTests\.|^ReplicatedKVTests\.'
TEST_BUNDLE = $$($(SWIFT) build --show-bin-path)/swift-journalPackageTests.xctest
test-unit:
	$(SWIFT) build --build-tests
	Tools/test/run-shards.sh "$(TEST_BUNDLE)" $(UNIT_SHARDS)

# The suites that open real files once more on the thread backend, the one
# hosts that deny io_uring use (test-unit ran them on io_uring where the
# kernel allows it): SWIFT_JOURNAL_IO_BACKEND=threads makes `auto` mean
# threads. The CLI's and the SIGKILL test's runs under the seccomp filter
# (seccomp-deny-io-uring) are in test-unit.
REAL_FILE_SUITES := JournalTests|PageStoreTests|KeyValueStoreTests
test-threads:
	$(SWIFT) build --build-tests
	SWIFT_JOURNAL_IO_BACKEND=threads $(SWIFT) test --skip-build --parallel --num-workers 2 --filter '$(REAL_FILE_SUITES)'

# Every model's safety and liveness runs and each broken variant are
# independent pieces (Tools/promela/check.sh --parts), run one per core; a
# piece prints its lines when it ends, and any failed piece fails the target.
# A piece that passed before on the same model, scripts, spin and compiler
# is not searched again (Tools/promela/cached.sh; MODEL_CACHE=0 searches
# every piece): a fresh clone checks them all.
MODEL_JOBS ?= $(shell nproc)
test-models: setup
	@Tools/promela/check.sh --parts Tools/promela/*.pml | \
	  xargs -P $(MODEL_JOBS) -L 1 bash -c 'out=$$(Tools/promela/cached.sh "$$0" "$$1" 2>&1); s=$$?; printf "%s\n" "$$out"; exit $$s'

# Every suite under ThreadSanitizer, in a build of its own (.build-tsan);
# .ci/run runs it after `make test`. Locks between threads are pthread
# mutexes (JournalPrimitives), which TSan sees. Every process writes its
# reports to $(TSAN_REPORTS): the test runner and the CLI processes the tests
# spawn (the TSan build's journalctl-swift), even those killed on purpose;
# any report fails the target, whatever the tests said. Reports inside
# uninstrumented libraries (the Swift concurrency runtime, libuv, libraft,
# liburing) that are not races in this code are listed, each with its
# reason, in Tools/tsan/suppressions.txt. The seeded simulations
# (explorers, the simulated raft cluster: one thread, nothing for TSan to
# watch, run in full by test-unit) run 1/TSAN_SEED_DIVISOR of their seeds
# (Tests/TestSupport/SeedScale.swift); tests of real threads and processes
# run in full.
TSAN_SEED_DIVISOR ?= 10
TSAN_REPORTS := .build-tsan/tsan-reports
test-tsan: setup
	$(SWIFT) build --build-tests --sanitize=thread --scratch-path .build-tsan
	rm -rf $(TSAN_REPORTS) && mkdir -p $(TSAN_REPORTS)
	status=0; \
	SWIFT_JOURNAL_TEST_SEED_DIVISOR=$(TSAN_SEED_DIVISOR) \
	TSAN_OPTIONS="log_path=$(CURDIR)/$(TSAN_REPORTS)/report suppressions=$(CURDIR)/Tools/tsan/suppressions.txt" \
	  $(SWIFT) test --skip-build --sanitize=thread --scratch-path .build-tsan --parallel --num-workers 2 || status=$$?; \
	if [ -n "$$(ls -A $(TSAN_REPORTS))" ]; then \
	  cat $(TSAN_REPORTS)/*; echo "ThreadSanitizer: reports from $$(ls $(TSAN_REPORTS) | wc -l) process(es), above"; exit 1; \
	fi; exit $$status

# The DocC documentation of the library products, one archive each under
# .build/docs (swift-docc-plugin). Any DocC warning, such as a link to a
# symbol that no longer exists, fails it, so the catalogs cannot rot.
DOC_TARGETS := Journal JournalFileStorage PagedFile PageStore KeyValueStore
docs: setup
	@mkdir -p .build/docs
	@for t in $(DOC_TARGETS); do \
	  $(SWIFT) package --allow-writing-to-directory .build/docs generate-documentation \
	    --target $$t --output-path .build/docs/$$t --warnings-as-errors --disable-indexing || exit 1; \
	done

# The power-cut explorer for hours (release build): seed after seed until
# the time is up; exits 70 with the reproducing seed on stderr on a violation.
CRASH_MINUTES ?= 240
crash-long: release
	$(CLI_RELEASE) crash-sim --minutes $(CRASH_MINUTES) --points 200

# The simulated raft cluster for longer (JournalRaftTests): RAFT_SIM_SEEDS
# seeds of 4 simulated seconds of faults each (a tenth as many five-node
# seeds, one in 250 per membership scenario), and the power-cut sweep at
# every I/O boundary of RAFT_SWEEP_SEEDS workloads. `make test` runs 2,000
# seeds of 1.5 s and one sweep workload.
RAFT_SIM_SEEDS ?= 20000
RAFT_SWEEP_SEEDS ?= 20
raft-long: setup
	$(SWIFT) build --build-tests
	RAFT_SIM_SEEDS=$(RAFT_SIM_SEEDS) RAFT_SIM_MILLISECONDS=4000 RAFT_SWEEP_SEEDS=$(RAFT_SWEEP_SEEDS) \
	  $(SWIFT) test --skip-build --filter 'ClusterTests|MembershipTests|PowerCutSweepTests'

# libFuzzer over segment decoding, recovery and reading (Tools/fuzz/README.md).
FUZZ_SECONDS ?= 300
fuzz: setup
	Tools/fuzz/run.sh $(FUZZ_SECONDS)

# Every benchmark suite beside its peers (about 45 minutes, 20 of them the two I/O backends side by side); writes
# BENCHMARKS.md and the charts in Docs/bench. BENCH_FLAGS=--quick: a short
# smoke pass; see `journalctl-swift bench all --help`.
BENCH_FLAGS ?=
bench: release
	$(CLI_RELEASE) bench all --dir $(DATA)/bench $(BENCH_FLAGS)
	Tools/bench/backends.sh --binary $(CLI_RELEASE)

# The two I/O backends (io_uring, the thread pool) side by side: `bench
# append` with each, alternately, on the disk and on tmpfs; prints a table of
# medians and the ratio threads/io-uring (Tools/bench/backends.sh).
bench-backends: release
	Tools/bench/backends.sh --binary $(CLI_RELEASE)

# Instructions per 128 B append at batch sizes 1 and 64, counted by callgrind,
# against Tools/bench/callgrind-baseline.json: fails on a regression past 2%.
# One JSON line per cell on stdout (Benchmarks/README.md). BENCH_CPU_FLAGS:
# e.g. --update-baseline, --runs 3, --warn-only.
BENCH_CPU_FLAGS ?=
bench-cpu: setup
	Tools/bench/callgrind-append.sh $(BENCH_CPU_FLAGS)

# The hot-path microbenchmarks (encode, CRC32C, paged-file page writes) with
# ordo-one/benchmark, a package of its own in Benchmarks/ (the main build
# never fetches it): allocations must match the stored baseline exactly,
# wall clock within the thresholds of Benchmarks/Benchmarks/HotPaths; fails
# on a regression. One JSON line per benchmark and metric on stdout.
bench-micro: setup
	Benchmarks/run.sh

# Runs them and stores the run as the new baseline (commit
# Benchmarks/.benchmarkBaselines afterwards).
bench-micro-baseline: setup
	Benchmarks/run.sh --update-baseline

clean:
	rm -rf .build .build-*
