#!/usr/bin/env bash
# 1,000,000 queued messages: batch ingest messages/s, RSS and on-disk size, and the time
# a restart takes to count them (scripts/million/main.go says what is printed).
#
# Usage: scripts/million.sh [flags of scripts/million]
#   e.g. scripts/million.sh -n 1000000 -batch 1000 -workers 4 -sync=true
#
# Builds the program first so that the figures are not a `go run` build's; the data
# directory is a fresh temporary directory, removed at the end unless -keep is given.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp="$(mktemp -d -t wagate-million-bin.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/million" ./scripts/million
"$tmp/million" "$@"
