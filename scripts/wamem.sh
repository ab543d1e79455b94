#!/usr/bin/env bash
# Memory per idle whatsmeow session: 1,000 paired devices in wastore, each loaded and
# given its whatsmeow client (not connected), in one process; prints the Go heap, VmRSS
# and goroutines per session (scripts/wamem/main.go says how).
#
# Usage: scripts/wamem.sh [flags of scripts/wamem]
#   e.g. scripts/wamem.sh -n 1000 -contacts 5 -prekeys 50
#
# Builds the program first so that the figures are not a `go run` build's; the data
# directory is a fresh temporary directory, removed at the end unless -keep is given.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp="$(mktemp -d -t wagate-wamem-bin.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/wamem" ./scripts/wamem
"$tmp/wamem" "$@"
