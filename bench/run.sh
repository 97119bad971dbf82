#!/usr/bin/env bash
# Load test of caddy-anonymous-access against the performance targets of
# DESIGN.md, measured side by side in one run on one machine:
#
#   protected / plain    throughput >= 98 %, p99 within +10 %
#   redeem    / respond  throughput >= 80 % (embedded store), >= 50 % (redis)
#
# where plain is reverse_proxy to a backend, protected the same route
# behind anonymous_access with a live session, respond a Caddy `respond`
# route (the ceiling) and redeem link redemptions (POST code=..., each a
# 303 with a new session). See bench/gateway.Caddyfile for the routes.
#
# Usage, from the repository root:
#
#   bash bench/run.sh
#   DURATION=10s CONNS=64 THREADS=1 ROUNDS=3 bash bench/run.sh
#
# Environment:
#   DURATION  length of each measured wrk run (default 10s)
#   CONNS     wrk connections (default 64)
#   THREADS   wrk threads (default 1)
#   ROUNDS    measured runs per route (default 3); each pair of routes
#             alternates, in A B B A ... order, to spread drift evenly
#   WARMUP    unmeasured run per route before the rounds (default 2s)
#   MODE      storage: bolt (default), or redis (starts a redis-server of its
#             own on a free loopback port, appendonly with fsync every second)
#   PROFILE   1: afterwards, profile the gateway for 5 s under protected
#             and under redeem load (bench/out/*.pprof, *.top.txt)
#
# Needs go, curl and wrk (Debian: apt-get install -y wrk); installs
# nothing. Everything runs on free loopback ports with its own HOME and
# XDG directories in a temporary directory, removed on exit. Results go to
# stdout and bench/out/results.md.
set -euo pipefail

DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
THREADS=${THREADS:-1}
ROUNDS=${ROUNDS:-3}
WARMUP=${WARMUP:-2s}
MODE=${MODE:-bolt}
PROFILE=${PROFILE:-0}

# Thresholds of DESIGN.md, "Performance targets".
TARGET_PROTECTED_RPS=0.98
TARGET_PROTECTED_P99=1.10
TARGET_REDEEM_RPS=0.80
if [[ $MODE == redis ]]; then
	TARGET_REDEEM_RPS=0.50
fi

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$ROOT/bench"
OUT="$BENCH/out"
COMMAND="DURATION=$DURATION CONNS=$CONNS THREADS=$THREADS ROUNDS=$ROUNDS WARMUP=$WARMUP MODE=$MODE bash bench/run.sh"

die() {
	echo "bench: $*" >&2
	exit 1
}

log() { echo "bench: $*" >&2; }

for tool in go curl; do
	command -v "$tool" >/dev/null || die "$tool is required"
done
if ! command -v wrk >/dev/null; then
	die "wrk is not installed. On Debian/Ubuntu: apt-get install -y wrk (this script installs nothing itself)"
fi
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive whole number"

case "$MODE" in
bolt) ;;
redis)
	command -v redis-server >/dev/null ||
		die "redis-server is not installed. On Debian/Ubuntu: apt-get install -y redis-server"
	;;
*) die "unknown MODE=$MODE (bolt or redis)" ;;
esac

TMP=$(mktemp -d "${TMPDIR:-/tmp}/anon-bench.XXXXXX")
PIDS=()
WRK_PID=""

# cleanup stops what this script started, by pid, and removes the
# temporary directory. It runs on every exit, including Ctrl-C.
cleanup() {
	local pid
	if [[ -n $WRK_PID ]]; then
		kill -TERM "$WRK_PID" 2>/dev/null || true
		wait "$WRK_PID" 2>/dev/null || true
	fi
	for pid in "${PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$OUT" "$TMP/runs"

# --- build -------------------------------------------------------------

log "building caddy and the backend"
(cd "$ROOT" && go build -o "$TMP/caddy" ./xcaddy && go build -o "$TMP/backend" ./bench/backend) ||
	die "build failed"
CADDY="$TMP/caddy"

# --- processes -----------------------------------------------------------

# envfor NAME prints env assignments giving a process its own HOME and XDG
# directories.
envfor() {
	local home="$TMP/$1-home"
	mkdir -p "$home/data" "$home/config"
	echo "HOME=$home XDG_DATA_HOME=$home/data XDG_CONFIG_HOME=$home/config"
}

# redis_up tells whether the bench's redis-server answers PING.
redis_up() {
	[[ $(printf 'PING\r\n' | timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$REDIS_PORT; cat >&3; head -c 7 <&3") == +PONG* ]]
}

# waitfor CMD... retries CMD for up to 10 s.
waitfor() {
	for _ in $(seq 100); do
		if "$@" >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.1
	done
	return 1
}

# shellcheck disable=SC2046
env $(envfor backend) "$TMP/backend" -addr-file "$TMP/backend.addr" >"$TMP/backend.log" 2>&1 &
PIDS+=($!)
BACKEND_PID=$!
waitfor test -s "$TMP/backend.addr" || {
	cat "$TMP/backend.log" >&2
	die "backend did not start"
}
BACKEND=$(cat "$TMP/backend.addr")

mapfile -t PORTS < <("$TMP/backend" -free-ports 6)
[[ ${#PORTS[@]} -eq 6 ]] || die "could not find free ports"
ADMIN_PORT=${PORTS[0]}
PLAIN_PORT=${PORTS[1]}
PROTECTED_PORT=${PORTS[2]}
RESPOND_PORT=${PORTS[3]}
REDEEM_PORT=${PORTS[4]}
GATEWAY_ENV="$(envfor gateway) BENCH_ADMIN_PORT=$ADMIN_PORT BENCH_BACKEND=$BACKEND
BENCH_PLAIN_PORT=$PLAIN_PORT BENCH_PROTECTED_PORT=$PROTECTED_PORT
BENCH_RESPOND_PORT=$RESPOND_PORT BENCH_REDEEM_PORT=$REDEEM_PORT"

STORAGE="bolt $TMP/state.db"
if [[ $MODE == redis ]]; then
	REDIS_PORT=${PORTS[5]}
	mkdir -p "$TMP/redis"
	redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$TMP/redis" --save "" \
		--appendonly yes --appendfsync everysec --daemonize no >"$TMP/redis.log" 2>&1 &
	PIDS+=($!)
	waitfor redis_up || {
		cat "$TMP/redis.log" >&2
		die "redis-server did not start"
	}
	STORAGE="redis redis://127.0.0.1:$REDIS_PORT/0"
fi

# shellcheck disable=SC2046,SC2086
env $GATEWAY_ENV BENCH_STORAGE="$STORAGE" \
	"$CADDY" run --config "$BENCH/gateway.Caddyfile" --adapter caddyfile >"$TMP/gateway.log" 2>&1 &
PIDS+=($!)
GATEWAY_PID=$!

gateway_up() {
	kill -0 "$GATEWAY_PID" 2>/dev/null &&
		curl -sf -o /dev/null "http://127.0.0.1:$ADMIN_PORT/config/" &&
		[[ $(curl -sf "http://127.0.0.1:$RESPOND_PORT/") == ok ]]
}
waitfor gateway_up || {
	cat "$TMP/gateway.log" >&2
	die "gateway did not start"
}

# Caddy listens with SO_REUSEPORT: a stray process on one of these ports
# would silently take half the load. Every port must have one listener,
# ours.
if command -v ss >/dev/null; then
	for port in "${BACKEND##*:}" "${PORTS[@]:0:5}"; do
		lines=$(ss -Hltnp "sport = :$port")
		n=$(grep -c . <<<"$lines" || true)
		if [[ $n -ne 1 ]] || ! grep -Eq "pid=($GATEWAY_PID|$BACKEND_PID)," <<<"$lines"; then
			die "port $port is shared with another process: $lines"
		fi
	done
fi

# --- sessions and codes ------------------------------------------------

# code TENANT prints the access code of the app "bench" of TENANT, taken
# from the link the CLI prints.
code() {
	local link
	# shellcheck disable=SC2046
	link=$(env $(envfor cli) "$CADDY" anonymous-access link bench --tenant "$1" \
		--address "127.0.0.1:$ADMIN_PORT") || die "anonymous-access link failed for tenant $1"
	[[ $link == *"/_anon/open/bench#code="* ]] || die "unexpected link: $link"
	link=${link#*#code=}
	echo "${link%%&*}"
}

PROTECTED_CODE=$(code protected)
REDEEM_CODE=$(code redeem)
[[ $REDEEM_CODE =~ ^[A-Za-z0-9_-]+$ ]] || die "access code is not URL-safe; the form body would need escaping"

headers=$(curl -s -o /dev/null -D - -X POST --data-urlencode "code=$PROTECTED_CODE" \
	"http://127.0.0.1:$PROTECTED_PORT/_anon/open/bench" | tr -d '\r')
status=$(head -n1 <<<"$headers" | awk '{print $2}')
[[ $status == 303 ]] || die "redeeming the link gave $status, not 303"
TOKEN=$(sed -n 's/^[Ss]et-[Cc]ookie: __Host-anon_bench=\([^;]*\).*/\1/p' <<<"$headers")
[[ -n $TOKEN ]] || die "no session cookie in the redemption response"
COOKIE="__Host-anon_bench=$TOKEN"

# Sanity: the protected route lets the session through to the backend's
# 1 KiB body and refuses a request without it; the plain route serves the
# same body.
check() {
	local want=$1 got
	shift
	got=$(curl -s -o "$TMP/body" -w '%{http_code} %{size_download}' "$@")
	[[ $got == "$want" ]] || die "curl $* gave \"$got\", want \"$want\""
}
check "200 1024" -H "Cookie: $COOKIE" "http://127.0.0.1:$PROTECTED_PORT/data"
got=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PROTECTED_PORT/data")
[[ $got == 401 ]] || die "protected route without a session gave $got, want 401"
check "200 1024" -H "Cookie: $COOKIE" "http://127.0.0.1:$PLAIN_PORT/data"
got=$(curl -s -o /dev/null -w '%{http_code}' -X POST --data "code=$REDEEM_CODE" \
	"http://127.0.0.1:$REDEEM_PORT/_anon/open/bench")
[[ $got == 303 ]] || die "redeem route gave $got, want 303"

# --- load ----------------------------------------------------------------

# route NAME sets the wrk environment and URL of a route.
route() {
	BENCH_METHOD=GET BENCH_COOKIE="" BENCH_BODY="" BENCH_EXPECT=200
	case "$1" in
	plain)
		URL="http://127.0.0.1:$PLAIN_PORT/data"
		BENCH_COOKIE=$COOKIE
		;;
	protected)
		URL="http://127.0.0.1:$PROTECTED_PORT/data"
		BENCH_COOKIE=$COOKIE
		;;
	respond)
		# The same request as redeem, so wrk works alike on both.
		URL="http://127.0.0.1:$RESPOND_PORT/_anon/open/bench"
		BENCH_METHOD=POST BENCH_BODY="code=$REDEEM_CODE"
		;;
	redeem)
		URL="http://127.0.0.1:$REDEEM_PORT/_anon/open/bench"
		BENCH_METHOD=POST BENCH_BODY="code=$REDEEM_CODE" BENCH_EXPECT=303
		;;
	esac
}

# cputicks PID prints the user+system CPU time of a process in clock ticks.
cputicks() {
	# The command name (field 2) may hold spaces; count from after it.
	sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}
CLK_TCK=$(getconf CLK_TCK)

# mallocs prints the gateway's count of heap allocations so far (Go's
# MemStats.Mallocs, from the admin endpoint's expvar).
mallocs() {
	curl -s "http://127.0.0.1:$ADMIN_PORT/debug/vars" | tr ',' '\n' |
		sed -n 's/.*"Mallocs": *\([0-9]*\).*/\1/p' | head -n1
}

# childcpu prints the CPU seconds of this shell's finished children: the
# difference around a wrk run is wrk's own CPU time.
childcpu() {
	# times runs in this shell, not in the pipe's subshell, whose children
	# are not ours.
	times >"$TMP/times"
	awk 'NR == 2 {
		for (i = 1; i <= 2; i++) { split($i, t, /[ms]/); s += t[1] * 60 + t[2] }
		print s
	}' "$TMP/times"
}

# load NAME DURATION TAG runs wrk against a route and appends one line to
# results.tsv: route, tag, ok/s, p50 us, p99 us, ok, other, other status,
# socket errors, gateway CPU us per request. The CPU cost per request is
# far less sensitive than throughput to other work on the machine.
load() {
	local name=$1 duration=$2 tag=$3 out cpu0 cpu1 wrk0 wrk1 m0 m1
	route "$name"
	out="$TMP/runs/$name.$tag.txt"
	m0=$(mallocs)
	cpu0=$(cputicks "$GATEWAY_PID")
	childcpu >"$TMP/wrk0"
	# In the background, so a signal reaches the traps without waiting for
	# wrk to finish.
	BENCH_METHOD=$BENCH_METHOD BENCH_COOKIE=$BENCH_COOKIE BENCH_BODY=$BENCH_BODY BENCH_EXPECT=$BENCH_EXPECT \
		wrk -t "$THREADS" -c "$CONNS" -d "$duration" -s "$BENCH/count.lua" "$URL" >"$out" 2>&1 &
	WRK_PID=$!
	wait "$WRK_PID" || die "wrk failed on $name: $(cat "$out")"
	WRK_PID=""
	cpu1=$(cputicks "$GATEWAY_PID")
	m1=$(mallocs)
	childcpu >"$TMP/wrk1"
	wrk0=$(cat "$TMP/wrk0") wrk1=$(cat "$TMP/wrk1")
	grep -q '^BENCH ' "$out" || die "wrk printed no result on $name: $(cat "$out")"
	awk -v name="$name" -v tag="$tag" -v ticks=$((cpu1 - cpu0)) -v hz="$CLK_TCK" -v allocs=$((m1 - m0)) \
		-v wrk="$(awk -v a="$wrk0" -v b="$wrk1" 'BEGIN { print b - a }')" '/^BENCH / {
		for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		printf "%s\t%s\t%.1f\t%d\t%d\t%d\t%d\t%d\t%d\t%.1f\t%.0f\t%.1f\n", name, tag,
			v["ok"] / (v["duration_us"] / 1e6), v["p50_us"], v["p99_us"],
			v["ok"], v["other"], v["other_status"],
			v["err_connect"] + v["err_read"] + v["err_write"] + v["err_timeout"],
			(v["requests"] > 0) ? ticks / hz * 1e6 / v["requests"] : 0,
			wrk / (v["duration_us"] / 1e6) * 100,
			(v["requests"] > 0) ? allocs / v["requests"] : 0
	}' "$out" | tee -a "$TMP/results.tsv" | awk -F'\t' '{
		printf "bench:   %-9s %-7s %8.0f req/s  p99 %7.2f ms  gateway %5.1f us CPU %5.1f allocs /req  wrk CPU %3d %%  unexpected %d\n", $1, $2, $3, $5 / 1000, $10, $12, $11, $7
	}' >&2
}

# pair A B runs ROUNDS of each, alternating A B B A A B ...
pair() {
	local a=$1 b=$2 r
	for ((r = 1; r <= ROUNDS; r++)); do
		if ((r % 2)); then
			load "$a" "$DURATION" "r$r"
			load "$b" "$DURATION" "r$r"
		else
			load "$b" "$DURATION" "r$r"
			load "$a" "$DURATION" "r$r"
		fi
	done
}

: >"$TMP/results.tsv"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)
if awk -v l="${LOAD_BEFORE%% *}" 'BEGIN { exit !(l > 1.0) }' 2>/dev/null; then
	log "note: load average is $LOAD_BEFORE before starting; other work on this machine will add noise"
fi
log "warming up ($WARMUP per route)"
for name in plain protected respond redeem; do
	load "$name" "$WARMUP" warmup
done
log "measuring: $ROUNDS rounds of $DURATION per route, $CONNS connections, $THREADS wrk thread(s)"

# sessions prints the live sessions of the redeem tenant.
sessions() {
	# shellcheck disable=SC2046
	env $(envfor cli) "$CADDY" anonymous-access capacity --tenant redeem \
		--address "127.0.0.1:$ADMIN_PORT" | sed -n 's/^  "active": \([0-9]*\).*/\1/p'
}

# heap prints the gateway's heap in use in bytes, right after a GC (the
# heap profile endpoint with gc=1 runs one).
heap() {
	curl -s -o /dev/null "http://127.0.0.1:$ADMIN_PORT/debug/pprof/heap?gc=1"
	curl -s "http://127.0.0.1:$ADMIN_PORT/debug/vars" | tr ',' '\n' |
		sed -n 's/.*"HeapInuse": *\([0-9]*\).*/\1/p' | head -n1
}

pair plain protected
SESSIONS_BEFORE=$(sessions)
HEAP_BEFORE=$(heap)
pair respond redeem
SESSIONS_AFTER=$(sessions)
HEAP_AFTER=$(heap)
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)

# --- optional profiles -----------------------------------------------------

if [[ $PROFILE == 1 ]]; then
	for name in protected redeem; do
		log "profiling the gateway under $name load"
		(sleep 1 && curl -s -o "$OUT/$name.pprof" \
			"http://127.0.0.1:$ADMIN_PORT/debug/pprof/profile?seconds=5") &
		prof=$!
		load "$name" 7s profile
		wait "$prof" || true
		go tool pprof -top -nodecount=30 "$CADDY" "$OUT/$name.pprof" >"$OUT/$name.top.txt" 2>/dev/null ||
			log "go tool pprof failed on $OUT/$name.pprof"
	done
fi

# --- report ----------------------------------------------------------------

# Per route over the measured rounds: mean throughput, its min and max,
# the median p99, the non-expected responses and socket errors in total.
summary=$(awk -F'\t' '$2 != "warmup" && $2 != "profile" {
	n[$1]++; sum[$1] += $3
	if (!($1 in lo) || $3 < lo[$1]) lo[$1] = $3
	if ($3 > hi[$1]) hi[$1] = $3
	p99[$1, n[$1]] = $5; other[$1] += $7; sock[$1] += $9; cpu[$1] += $10; wrk[$1] += $11; allocs[$1] += $12
	if ($7 > 0) status[$1] = $8
}
END {
	for (r in n) {
		# median of the p99s: insertion sort, the lists are short
		k = n[r]
		for (i = 1; i <= k; i++) a[i] = p99[r, i]
		for (i = 2; i <= k; i++) { x = a[i]; for (j = i - 1; j >= 1 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
		med = (k % 2) ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
		printf "%s %.1f %.1f %.1f %.0f %d %d %d %.2f %.0f %.1f\n", r, sum[r] / k, lo[r], hi[r], med, other[r], status[r] + 0, sock[r], cpu[r] / k, wrk[r] / k, allocs[r] / k
	}
}' "$TMP/results.tsv")

# rounds A B COLUMN prints B/A of a results.tsv column for each round.
rounds() {
	awk -F'\t' -v a="$1" -v b="$2" -v c="$3" '$2 ~ /^r[0-9]+$/ {
		if ($1 == a) x[$2] = $c
		if ($1 == b) y[$2] = $c
	}
	END {
		for (i = 1; ("r" i) in x; i++) {
			printf "%s%.0f %%", (i > 1 ? ", " : ""), (x["r" i] > 0 ? y["r" i] / x["r" i] * 100 : 0)
		}
	}' "$TMP/results.tsv"
}

field() { awk -v r="$1" -v f="$2" '$1 == r { print $f }' <<<"$summary"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.4f", (b > 0) ? a / b : 0 }'; }
pct() { awk -v x="$1" 'BEGIN { printf "%.1f %%", x * 100 }'; }
verdict() { awk -v x="$1" -v t="$2" -v op="$3" 'BEGIN {
	ok = (op == ">=") ? (x >= t) : (x <= t); print ok ? "meets" : "**misses**" }'; }

prot_rps=$(ratio "$(field protected 2)" "$(field plain 2)")
prot_p99=$(ratio "$(field protected 5)" "$(field plain 5)")
redeem_rps=$(ratio "$(field redeem 2)" "$(field respond 2)")
prot_cpu=$(ratio "$(field protected 9)" "$(field plain 9)")
redeem_cpu=$(ratio "$(field redeem 9)" "$(field respond 9)")
p99_delta=$(awk -v x="$prot_p99" 'BEGIN { printf "%+.1f %%", (x - 1) * 100 }')

failures=0
failure_notes=""
for r in plain protected respond redeem; do
	if [[ $(field "$r" 6) -ne 0 || $(field "$r" 8) -ne 0 ]]; then
		failures=1
		failure_notes+="- **$r**: $(field "$r" 6) responses with an unexpected status (last seen $(field "$r" 7)), $(field "$r" 8) socket errors"$'\n'
	fi
done

cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || echo unknown)
row() {
	awk -v r="$1" -v what="$2" '$1 == r {
		printf "| %s | %s | %.0f | %.0f – %.0f | %.2f | %.1f | %.1f | %d |\n", r, what, $2, $3, $4, $5 / 1000, $9, $11, $6
	}' <<<"$summary"
}

{
	echo "# caddy-anonymous-access load test"
	echo
	echo "Command: \`$COMMAND\`"
	echo
	echo "Machine: $(nproc) CPUs ($cpu), $(go version | awk '{print $3, $4}'), Caddy $("$CADDY" version | awk '{print $1}'), $(wrk -v 2>&1 | head -n1 | awk '{print $1, $2}'), storage $MODE; $(date -u +%Y-%m-%dT%H:%MZ)."
	echo "wrk, the gateway and the backend share these CPUs."
	echo
	echo "| route | what | req/s (mean) | req/s (min – max) | p99 ms (median) | gateway CPU µs/req | gateway allocs/req | unexpected status |"
	echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
	row plain "reverse_proxy to a 1 KiB backend"
	row protected "anonymous_access + the same reverse_proxy, live session"
	row respond "respond \"ok\" 200 (ceiling)"
	row redeem "link redemption: POST code, 303 + cookie"
	echo
	echo "| ratio | measured | per round | target | |"
	echo "| --- | ---: | ---: | ---: | --- |"
	echo "| protected / plain throughput | $(pct "$prot_rps") | $(rounds plain protected 3) | ≥ 98 % | $(verdict "$prot_rps" $TARGET_PROTECTED_RPS ">=") |"
	echo "| protected / plain p99 | $p99_delta | $(rounds plain protected 5) | ≤ +10 % | $(verdict "$prot_p99" $TARGET_PROTECTED_P99 "<=") |"
	echo "| redeem / respond throughput | $(pct "$redeem_rps") | $(rounds respond redeem 3) | ≥ $(awk -v t="$TARGET_REDEEM_RPS" 'BEGIN { printf "%d", t * 100 }') % | $(verdict "$redeem_rps" $TARGET_REDEEM_RPS ">=") |"
	echo "| protected / plain gateway CPU per request | $(pct "$prot_cpu") | $(rounds plain protected 10) | | less noisy than throughput; 100 % = no added cost |"
	echo "| redeem / respond gateway CPU per request | $(pct "$redeem_cpu") | $(rounds respond redeem 10) | | |"
	echo
	echo "Each route: $ROUNDS runs of $DURATION, $CONNS connections, $THREADS wrk thread(s), after a $WARMUP warm-up;"
	echo "plain/protected and respond/redeem run back to back in alternating order. Only the"
	echo "expected status (200; 303 for redeem) counts as throughput. Load average before"
	echo "and after: $LOAD_BEFORE / $LOAD_AFTER (anything above ~2 besides this run means the"
	echo "machine was busy and the spread above is noise)."
	if [[ -n $SESSIONS_BEFORE && -n $SESSIONS_AFTER && -n $HEAP_BEFORE && -n $HEAP_AFTER ]]; then
		echo
		awk -v s0="$SESSIONS_BEFORE" -v s1="$SESSIONS_AFTER" -v h0="$HEAP_BEFORE" -v h1="$HEAP_AFTER" 'BEGIN {
			printf "Memory: the redemptions took the redeem tenant from %d to %d live sessions and the gateway heap in use (after a GC) from %.1f to %.1f MiB", s0, s1, h0 / 1048576, h1 / 1048576
			if (s1 > s0) printf ": %.0f bytes per added session (target ≤ 200).", (h1 - h0) / (s1 - s0)
			print ""
		}'
	fi
	for r in respond redeem plain protected; do
		if (($(field "$r" 10) >= 90 * THREADS)); then
			echo
			echo "Note: wrk used $(field "$r" 10) % CPU on the $r route with $THREADS thread(s): the client, not the gateway, may be the limit there (try THREADS=2)."
		fi
	done
	if [[ $failures == 1 ]]; then
		echo
		echo "Unexpected responses:"
		echo
		printf '%s' "$failure_notes"
	fi
	echo
	echo "<details><summary>every run</summary>"
	echo
	echo "| route | run | ok/s | p50 ms | p99 ms | gateway CPU µs/req | gateway allocs/req | wrk CPU | ok | unexpected | socket errors |"
	echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
	awk -F'\t' '{ printf "| %s | %s | %.0f | %.2f | %.2f | %.1f | %.1f | %d %% | %d | %d | %d |\n", $1, $2, $3, $4 / 1000, $5 / 1000, $10, $12, $11, $6, $7, $9 }' "$TMP/results.tsv"
	echo
	echo "</details>"
} >"$OUT/results.md"

echo
cat "$OUT/results.md"
echo
log "written to ${OUT#"$ROOT/"}/results.md"
if [[ $failures == 1 ]]; then
	die "some responses had an unexpected status; see above"
fi
