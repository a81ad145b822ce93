# cvm: two commands set everything up on a fresh machine:
#   make run    builds (release) and runs the demo pipeline on fixtures/demo
#   make test   builds and runs every test, then `cvm check` on the demo fixtures
SWIFT    ?= swift
CONFIG   ?= pipelines/demo.yaml
EXPECT   ?= fixtures/expected/demo.yaml
SYSDEPS  := libsqlite3-dev zlib1g-dev sqlite3
RELEASE  := .build/release/cvm
# The demo's pseudonymisation key (privacy.key_env). Demo only: set your own secret for real data.
export CVM_PSEUDONYM_KEY ?= demo-only-not-a-secret
DEBUG    := .build/debug/cvm

.PHONY: all deps browser pyref sanitize sanitize-address sanitize-thread fuzz build run test unit check fixtures bench bench-micro clean help

all: build

help:
	@echo "make run       build (release) and run $(CONFIG)"
	@echo "make test      unit + end-to-end tests, then cvm check on the demo fixtures"
	@echo "make fixtures  regenerate fixtures/demo byte-identically (cvm generate --preset demo --seed 42)"
	@echo "make bench     benchmarks (see bench/)"
	@echo "make bench-micro  micro benchmarks of the hot kernels (Benchmarks/, package-benchmark); baseline BENCH_BASELINE"
	@echo "make sanitize  the test suite under AddressSanitizer and ThreadSanitizer"
	@echo "make fuzz      libFuzzer on the CSV, gzip, timestamp and config targets (FUZZ_SECONDS or FUZZ_RUNS each)"

# Installs the system libraries the build links against, only when missing.
deps:
	@missing=""; for p in $(SYSDEPS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then SUDO=sudo; else SUDO=; fi; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq $$missing; \
	fi

build: deps
	$(SWIFT) build -c release --product cvm

run: build
	$(RELEASE) run $(CONFIG)

# Headless Chromium for the report's browser test; installed when missing (best effort: without it
# the test is skipped and says so).
browser:
	@command -v chromium >/dev/null 2>&1 || { echo "installing chromium for the report's browser test"; \
	  if [ "$$(id -u)" != 0 ]; then SUDO=sudo; else SUDO=; fi; \
	  ($$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null) \
	    || echo "warning: could not install chromium; the report's browser test will be skipped"; }

# Python peers and the pandas feature reference (bench/.venv, from PyPI); best effort for tests:
# without it the reference test is skipped and says so.
pyref:
	-@$(MAKE) --no-print-directory $(VENV)/.installed

unit: deps browser pyref
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --disable-xctest

check: deps
	$(SWIFT) build --product cvm
	$(DEBUG) check $(CONFIG) --expect $(EXPECT)

test: unit check

fixtures: deps
	$(SWIFT) build -c release --product cvm
	rm -rf fixtures/demo
	$(RELEASE) generate --preset demo --seed 42 --out fixtures/demo

# Benchmarks against peers (bench/run.py): Python peers in bench/.venv, from PyPI.
VENV     := bench/.venv
BENCH_SUITES ?= all
BENCH_RUNS   ?= 3

$(VENV)/.installed: bench/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q -r bench/requirements.txt
	touch $@

bench: deps $(VENV)/.installed
	$(SWIFT) build -c release --product cvm
	$(VENV)/bin/python bench/run.py --suites $(BENCH_SUITES) --runs $(BENCH_RUNS)

# Micro benchmarks of the hot kernels (gzip, CSV tokenizer, timestamps, features, k-means, SQLite bind loop) with
# ordo-one/package-benchmark: Benchmarks/ is a separate package, so neither the main build nor CI builds it. Runs
# every benchmark (release, one thread), stores the run as baseline BENCH_BASELINE in Benchmarks/.benchmarkBaselines/
# and writes its percentiles to Benchmarks/results/LATEST.md. Compare a later run with a stored baseline:
#   cd Benchmarks && swift package --disable-sandbox benchmark baseline compare BASELINE
BENCH_BASELINE ?= latest
BENCHMARK      := cd Benchmarks && $(SWIFT) package --disable-sandbox --allow-writing-to-package-directory benchmark
bench-micro: deps
	$(BENCHMARK) baseline update $(BENCH_BASELINE) --no-progress
	@mkdir -p Benchmarks/results
	$(BENCHMARK) baseline read $(BENCH_BASELINE) --no-progress --format markdown --path stdout > results/LATEST.md
	@cat Benchmarks/results/LATEST.md

# The whole test suite under AddressSanitizer (with LeakSanitizer), then ThreadSanitizer, each in its own
# build folder; the end-to-end tests run the sanitized cvm binary. Leaks of process-lifetime globals
# (Swift's lazy global initialisers, "*_WZ") are suppressed in Tests/lsan.supp.
sanitize: sanitize-address sanitize-thread

sanitize-address: deps
	$(SWIFT) build --build-tests --sanitize=address --scratch-path .build-asan
	CVM_TEST_BINARY=$(CURDIR)/.build-asan/debug/cvm LSAN_OPTIONS=suppressions=$(CURDIR)/Tests/lsan.supp \
	  $(SWIFT) test --skip-build --disable-xctest --sanitize=address --scratch-path .build-asan

sanitize-thread: deps
	$(SWIFT) build --build-tests --sanitize=thread --scratch-path .build-tsan
	CVM_TEST_BINARY=$(CURDIR)/.build-tsan/debug/cvm TSAN_OPTIONS=halt_on_error=1 \
	  $(SWIFT) test --skip-build --disable-xctest --sanitize=thread --scratch-path .build-tsan

# Fuzzing: Fuzz/ is a separate package with one libFuzzer binary, cvm-fuzz TARGET, for the targets in Sources/FuzzTargets,
# built with AddressSanitizer (the C kernels too: extract interns every string field in C) and libFuzzer's coverage instrumentation. Each target first replays Fuzz/regressions/<target> (every crash found
# so far), then fuzzes from the seeds in Fuzz/corpus/<target> for FUZZ_SECONDS, or for exactly
# FUZZ_RUNS executions when set. New crashes land in Fuzz/crashes/; copy each into Fuzz/regressions/
# once fixed (`make test` replays that folder too). Execution counts: .build-fuzz/SUMMARY.md.
FUZZ_SECONDS ?= 60
FUZZ_RUNS    ?=
FUZZ_TARGETS ?= csv gzip timestamp config
# Two `make fuzz` runs can share the machine (one target group per core) when each has its own summary file.
FUZZ_SUMMARY ?= .build-fuzz/SUMMARY.md
# libFuzzer without its main(): SwiftPM renames each executable's main, so -sanitize=fuzzer (which links
# libFuzzer's own main) cannot link; Fuzz/Sources/cvm-fuzz/main.swift calls LLVMFuzzerRunDriver instead.
FUZZ_RT      := $(shell find $$(dirname $$(dirname $$(readlink -f $$(command -v $(SWIFT))))) -name 'libclang_rt.fuzzer_no_main-x86_64.a' 2>/dev/null | head -1)
fuzz: deps
	@test -n "$(FUZZ_RT)" || { echo "libclang_rt.fuzzer_no_main not found in the Swift toolchain"; exit 1; }
	$(SWIFT) build -c release --package-path Fuzz --scratch-path .build-fuzz \
	  -Xswiftc -sanitize=address -Xswiftc -sanitize-coverage=edge,trace-cmp,inline-8bit-counters,pc-table \
	  -Xcc -fsanitize=address \
	  -Xlinker $(FUZZ_RT) -Xlinker -lstdc++
	@mkdir -p .build-fuzz/logs Fuzz/crashes
	@echo "| target | executions | seconds | exec/s | corpus | result |" > $(FUZZ_SUMMARY)
	@echo "|---|---|---|---|---|---|" >> $(FUZZ_SUMMARY)
	@set -e; for t in $(FUZZ_TARGETS); do \
	  bin=".build-fuzz/release/cvm-fuzz $$t"; mkdir -p .build-fuzz/corpus/$$t; \
	  if ls Fuzz/regressions/$$t/* >/dev/null 2>&1; then \
	    echo "fuzz-$$t: replaying Fuzz/regressions/$$t"; $$bin -detect_leaks=0 Fuzz/regressions/$$t/* >/dev/null 2>&1 || \
	      { echo "fuzz-$$t: a regression input crashes again"; $$bin -detect_leaks=0 Fuzz/regressions/$$t/*; exit 1; }; \
	  fi; \
	  if [ -n "$(FUZZ_RUNS)" ]; then budget="-runs=$(FUZZ_RUNS)"; else budget="-max_total_time=$(FUZZ_SECONDS)"; fi; \
	  echo "fuzz-$$t: $$budget"; start=$$(date +%s); rc=0; \
	  $$bin $$budget -detect_leaks=0 -timeout=10 -rss_limit_mb=2048 -max_len=16384 -print_final_stats=1 \
	    -artifact_prefix=Fuzz/crashes/$$t- .build-fuzz/corpus/$$t Fuzz/corpus/$$t > .build-fuzz/logs/$$t.log 2>&1 || rc=$$?; \
	  secs=$$(( $$(date +%s) - start )); \
	  execs=$$(grep -o 'stat::number_of_executed_units: [0-9]*' .build-fuzz/logs/$$t.log | awk '{print $$2}' | tail -1); \
	  units=$$(ls .build-fuzz/corpus/$$t | wc -l); \
	  if [ $$rc = 0 ]; then result=clean; \
	  elif grep -q 'libFuzzer: run interrupted' .build-fuzz/logs/$$t.log; then result="INTERRUPTED (no crash; stopped early)"; \
	  else result="CRASH (see .build-fuzz/logs/$$t.log)"; fi; \
	  echo "| $$t | $${execs:-0} | $$secs | $$(( $${execs:-0} / ($$secs > 0 ? $$secs : 1) )) | $$units | $$result |" >> $(FUZZ_SUMMARY); \
	  tail -n 3 .build-fuzz/logs/$$t.log; \
	done; cat $(FUZZ_SUMMARY); ! grep -q -E 'CRASH|INTERRUPTED' $(FUZZ_SUMMARY)

clean:
	rm -rf .build .build-asan .build-tsan .build-fuzz Benchmarks/.build out
