#!/usr/bin/env bash
# Load test of POST /api/sendText with wrk against the real gateway (sandbox provider,
# no simulated latency), beside the ceiling of this machine: the same wrk run against
# an empty fasthttp handler (scripts/loadtest/emptyserver), measured in the same run.
#
# Usage: scripts/loadtest.sh
#   DURATION=10s   wrk duration of each run
#   THREADS=2      wrk threads (-t)
#   CONNS=64       wrk connections (-c); a list ("1 64 256") runs the gateway and the
#                  ceiling once per count, one after the other, each pair side by side
#   SYNC=true      store.sync_writes of the gateway (false: no fsync per commit)
#
# Everything listens on 127.0.0.1 only; every process started here is killed on exit.
# Installs wrk with apt-get when it is not on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-10s}"
THREADS="${THREADS:-2}"
CONNS="${CONNS:-64}"
SYNC="${SYNC:-true}"
ADMIN_KEY="loadtest-admin-key-0123456789abcdef"
case "$SYNC" in true|false) ;; *) echo "SYNC must be true or false, not '$SYNC'" >&2; exit 2 ;; esac

if ! command -v wrk >/dev/null 2>&1; then
  echo "== installing wrk"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update && $SUDO apt-get install -y wrk
fi
for tool in curl python3 go wrk; do
  command -v "$tool" >/dev/null 2>&1 || { echo "missing $tool" >&2; exit 1; }
done

tmp="$(mktemp -d -t wagate-loadtest.XXXXXX)"
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    # bounded wait: SIGKILL whatever has not stopped after ~5s
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [ -n "${KEEP_TMP:-}" ]; then echo "kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
  echo "loadtest: $*" >&2
  if [ -s "$tmp/gateway.log" ]; then echo "--- gateway log (tail)" >&2; tail -n 30 "$tmp/gateway.log" >&2; fi
  exit 1
}

echo "== building into $tmp"
go build -o "$tmp/wagate" ./cmd/wagate
go build -o "$tmp/emptyserver" ./scripts/loadtest/emptyserver

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')"
gw="http://127.0.0.1:$port"
mkdir -p "$tmp/data"
cat > "$tmp/gateway.yaml" <<YAML
server:
  listen: 127.0.0.1:$port
store:
  dir: $tmp/data
  sync_writes: $SYNC
admin:
  api_key: $ADMIN_KEY
log:
  level: error
limits:
  default_plan:
    max_messages_per_day: 0
providers:
  sandbox:
    enabled: true
    auto_link: 1ms
    send_latency: 0
    delivery_delay: 0
    read_delay: 0
YAML

echo "== starting gateway on $gw (sync_writes=$SYNC)"
# WAGATE_* variables of the caller would override the config above: drop them.
unset_env=()
while IFS= read -r v; do unset_env+=(-u "$v"); done < <(compgen -e | grep '^WAGATE_' || true)
env "${unset_env[@]}" "$tmp/wagate" serve --config "$tmp/gateway.yaml" >"$tmp/gateway.log" 2>&1 &
pids+=($!)
gw_pid=$!

ready=""
for _ in $(seq 150); do   # up to ~15s
  kill -0 "$gw_pid" 2>/dev/null || fail "gateway exited during start"
  if curl -fsS --max-time 1 "$gw/ready" >/dev/null 2>&1; then ready=1; break; fi
  sleep 0.1
done
[ -n "$ready" ] || fail "gateway not ready after 15s"

# call METHOD PATH KEY [BODY]: prints the body; fails on a non-2xx status.
call() {
  local out code
  out="$(curl -sS --max-time 10 -X "$1" -H "X-Api-Key: $3" -H 'Content-Type: application/json' \
    ${4:+--data "$4"} -w '\n%{http_code}' "$gw$2")" || fail "$1 $2: curl failed"
  code="${out##*$'\n'}"
  out="${out%$'\n'*}"
  case "$code" in 2??) printf '%s' "$out" ;; *) fail "$1 $2: HTTP $code: $out" ;; esac
}
json() { python3 -c 'import json,sys; d=json.load(sys.stdin)
for k in sys.argv[1].split("."): d=d[k]
print(d)' "$1"; }

echo "== creating tenant 'load' and session 'main'"
API_KEY="$(call POST /api/admin/tenants "$ADMIN_KEY" \
  '{"id":"load","plan":{"maxSessions":10,"maxMessagesPerDay":0}}' | json apiKey.key)"
[ -n "$API_KEY" ] || fail "no apiKey.key in the tenant answer"
call POST /api/sessions "$API_KEY" '{"name":"main"}' >/dev/null
status=""
for _ in $(seq 100); do   # up to ~10s
  status="$(call GET /api/sessions/main "$API_KEY" | json status)"
  [ "$status" = WORKING ] && break
  sleep 0.1
done
[ "$status" = WORKING ] || fail "session main is $status, not WORKING, after 10s"
# One request by hand, so that a broken route fails loudly before the load.
call POST /api/sendText "$API_KEY" '{"session":"main","chatId":"15551234567","text":"load test"}' >/dev/null

echo "== starting empty server"
"$tmp/emptyserver" -addr 127.0.0.1:0 >"$tmp/empty.out" 2>&1 &
pids+=($!)
empty_pid=$!
empty_addr=""
for _ in $(seq 100); do
  kill -0 "$empty_pid" 2>/dev/null || fail "empty server exited: $(cat "$tmp/empty.out")"
  empty_addr="$(sed -n 's/^listening //p' "$tmp/empty.out")"
  [ -n "$empty_addr" ] && break
  sleep 0.1
done
[ -n "$empty_addr" ] || fail "empty server did not print its address"

lua="scripts/loadtest/sendtext.lua"
# run_wrk NAME URL CONNS: wrk with a hard time bound, output kept in $tmp/NAME.wrk.
run_wrk() {
  local bound threads
  bound=$(( $(python3 -c 'import re,sys; m=re.fullmatch(r"(\d+)([smh]?)", sys.argv[1]); print(int(m[1])*{"":1,"s":1,"m":60,"h":3600}[m[2]])' "$DURATION") + 60 ))
  threads=$(( THREADS < $3 ? THREADS : $3 ))   # wrk needs connections >= threads
  echo
  echo "== wrk $1: -t$threads -c$3 -d$DURATION --latency $2"
  API_KEY="$API_KEY" timeout -k 5 "$bound" \
    wrk -t"$threads" -c"$3" -d"$DURATION" --latency -s "$lua" "$2" | tee "$tmp/$1.wrk"
}
summaries=()
for conns in $CONNS; do
  run_wrk "gateway-c$conns" "$gw/api/sendText" "$conns"
  run_wrk "empty-c$conns" "http://$empty_addr/api/sendText" "$conns"
  summaries+=("$conns")
done

echo
python3 - "$tmp" "$SYNC" "$DURATION" "$THREADS" "${summaries[@]}" <<'PY'
import re, sys

def ms(v):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", v)
    return float(m[1]) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[m[2]]

def parse(path):
    t = open(path).read()
    r = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", t)[1])}
    for p in ("50", "99"):
        r["p" + p] = ms(re.search(r"^\s+%s(?:\.000)?%%\s+(\S+)" % p, t, re.M)[1])
    r["non2xx"] = int(re.search(r"lua-non2xx: (\d+)", t)[1])
    r["total"] = int(re.search(r"lua-responses: (\d+)", t)[1])
    m = re.search(r"(\d+) requests in ([\d.]+\w+)", t)
    r["ok_rps"] = (r["total"] - r["non2xx"]) / (ms(m[2]) / 1000)
    m = re.search(r"Socket errors: (.*)", t)
    r["sockerr"] = m[1] if m else "none"
    return r

tmp, sync, duration, threads = sys.argv[1:5]
for conns in sys.argv[5:]:
    g, e = parse("%s/gateway-c%s.wrk" % (tmp, conns)), parse("%s/empty-c%s.wrk" % (tmp, conns))
    print("== summary (sync_writes=%s, wrk -t%s -c%s -d%s)" % (sync, min(int(threads), int(conns)), conns, duration))
    print("%-16s %10s %10s %10s %10s %10s %10s" % ("target", "req/s", "2xx/s", "p50 ms", "p99 ms", "responses", "non-2xx"))
    for name, r in (("gateway", g), ("empty fasthttp", e)):
        print("%-16s %10.0f %10.0f %10.3f %10.3f %10d %10d" % (name, r["rps"], r["ok_rps"], r["p50"], r["p99"], r["total"], r["non2xx"]))
    print("gateway/empty: %.1f%% of the ceiling's req/s (2xx only: %.1f%%)" % (100 * g["rps"] / e["rps"], 100 * g["ok_rps"] / e["ok_rps"]))
    for name, r in (("gateway", g), ("empty", e)):
        if r["sockerr"] != "none":
            print("socket errors (%s): %s" % (name, r["sockerr"]))
    if g["non2xx"]:
        print("WARNING: the gateway answered %d non-2xx responses" % g["non2xx"])
    print()
PY

# Why the gateway failed requests, if it did: its distinct error lines, most frequent first.
if grep -q 'level=ERROR' "$tmp/gateway.log"; then
  echo
  echo "== gateway errors (count, distinct message)"
  sed -E 's/^time=[^ ]+ //; s/request_id=[^ ]+ //' "$tmp/gateway.log" | sort | uniq -c | sort -rn | head -n 5
fi
