#!/usr/bin/env bash
# Runs the hot-path benchmarks whose figures docs/benchmarks.md records.
# Usage: scripts/bench.sh [count]   (default 3 runs each; compare runs with benchstat)
set -euo pipefail
cd "$(dirname "$0")/.."
count="${1:-3}"
go test -run '^$' -bench . -benchmem -count "$count" \
  ./cmd/wagate ./core/event ./core/provider/sandbox ./core/queue
