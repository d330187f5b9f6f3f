#!/usr/bin/env bash
# The test command: everything CI checks, in order of cost.
#   1. shellcheck of every script
#   2. host unit/integration tests of the whole workspace
#   3. image tests: build the real image, boot it under QEMU TCG, reproducibility
#   4. fuzz smoke: every cargo-fuzz target builds and runs briefly
#
# Usage: tests/run.sh [--quick]   (--quick skips steps 3 and 4)
# Env:   FUZZ_SECONDS (default 2) per fuzz target.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
quick=0
[ "${1:-}" = "--quick" ] && quick=1
fuzz_seconds=${FUZZ_SECONDS:-2}

# Each step also prints the disk space left: CI machines share their disk, and
# a full disk shows up only indirectly (stop 11's CI run died with the linker
# killed by SIGBUS while writing a fuzz binary).
free_mb() { df -Pm . | awk 'NR == 2 { print $4 }'; }
step() { printf '\n== %s (%ss elapsed, %s MB free)\n' "$*" "$SECONDS" "$(free_mb)"; }

# On CI (a throwaway clone) incremental caches only cost disk and time.
[ "${CI:-}" = true ] && export CARGO_INCREMENTAL=0

# A full CI run peaks at about 3 GB under target/ (measured at stop 12: 2.8 GB
# during the reproducibility build). Say so up front rather than let a linker
# die of a full disk later.
free=$(free_mb)
if [ "${free:-0}" -lt 4096 ]; then
  echo "tests/run.sh: warning: only ${free} MB free here; a full run needs about 3 GB under target/" >&2
fi

step "shellcheck"
shellcheck qemu/*.sh image-build/*.sh tests/*.sh .ci/run

step "cargo test --workspace"
cargo test --workspace --locked

[ "$quick" = 1 ] && { step "done (quick)"; exit 0; }

step "image tests (build, QEMU TCG boot, reproducibility)"
cargo test --locked -p tdsigner-tests -- --ignored --test-threads 1
# tdsigner run stops its QEMU on SIGINT/SIGTERM/SIGHUP (needs the tdsigner binary, so it lives in cli/tests)
cargo test --locked -p tdsigner-cli --test signals -- --ignored --test-threads 1

if [ "${CI:-}" = true ]; then
  # The workspace's test build (2.4 GB at stop 12) is not used again; the fuzz
  # build needs about 2 GB more. Free the first before making the second.
  rm -rf target/debug target/repro
fi

step "fuzz smoke (${fuzz_seconds}s per target, two at a time)"
# One cargo-fuzz crate holds every target (tests/fuzz), so the instrumented
# dependency graph is compiled once. The built fuzzers then run directly, two
# at a time (each is single-threaded; CI has two cores); any crash fails CI.
export RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR="$root/target/fuzz"
(cd tests/fuzz && cargo fuzz build -s none)
fuzzers="$CARGO_TARGET_DIR/x86_64-unknown-linux-gnu/release"
# shellcheck disable=SC2016 # $0..$2 expand in the inner bash, not here
(cd tests/fuzz && cargo fuzz list) | xargs -P 2 -I '{}' bash -c '
  set -o pipefail
  mkdir -p "tests/fuzz/corpus/$1"
  if out=$("$0/$1" -max_total_time="$2" -print_final_stats=0 "tests/fuzz/corpus/$1" 2>&1); then
    echo "-- $1: $(printf "%s\n" "$out" | tail -n 1)"
  else
    echo "-- $1: FAILED"; printf "%s\n" "$out" | tail -n 40; exit 1
  fi' "$fuzzers" '{}' "$fuzz_seconds"

step "all tests passed"
