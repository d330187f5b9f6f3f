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

step() { printf '\n== %s (%ss elapsed)\n' "$*" "$SECONDS"; }

step "shellcheck"
shellcheck qemu/*.sh image-build/*.sh tests/*.sh .ci/run

step "cargo test --workspace"
cargo test --workspace --locked

[ "$quick" = 1 ] && { step "done (quick)"; exit 0; }

step "image tests (build, QEMU TCG boot, reproducibility)"
cargo test --locked -p tdsigner-tests -- --ignored --test-threads 1

step "fuzz smoke (${fuzz_seconds}s per target)"
# One cargo-fuzz crate holds every target (tests/fuzz), so the instrumented
# dependency graph is compiled once.
export RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR="$root/target/fuzz"
(cd tests/fuzz && cargo fuzz build -s none)
for target in $(cd tests/fuzz && cargo fuzz list); do
  echo "-- $target"
  (cd tests/fuzz && cargo fuzz run -s none "$target" -- -max_total_time="$fuzz_seconds" -print_final_stats=0 2>&1 | tail -n 1)
done

step "all tests passed"
