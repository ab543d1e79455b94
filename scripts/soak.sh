#!/usr/bin/env bash
# Soak test (not run in CI): the gateway under load with anti-ban pacing on and random
# faults, for a configurable time; prints messages accepted, sent, failed by reason,
# pending and lost (must be 0), RSS and goroutines over time. scripts/soak/main.go says
# what it does step by step.
#
# Usage: scripts/soak.sh [flags of scripts/soak]
#   scripts/soak.sh                                   # 50 sessions, 1000 msgs/min, 15m
#   scripts/soak.sh -duration 2m -sessions 10 -rate 200 -fault-every 5s
#
# Loopback only; bounded (load + drain + set-up); the gateway it starts is stopped by
# its pid when it ends or is interrupted. Exits 1 when a message is lost or pending.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp="$(mktemp -d -t wagate-soak-bin.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/wagate" ./cmd/wagate
go build -o "$tmp/soak" ./scripts/soak
"$tmp/soak" -wagate "$tmp/wagate" "$@"
