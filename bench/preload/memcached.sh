#!/usr/bin/env bash
# memcached (Debian's) on 127.0.0.1 driven by memaslap (Debian's memcaslap)
# with several concurrent connections, for the preload runner:
#   ./bazelw run //bench:preload -- --env-lib RINGLOCK_PRELOAD_LIB --preset memaslap \
#     -- bench/preload/memcached.sh [SECONDS] [SERVER_THREADS] [CONNECTIONS]
# Only the server gets the library ($RINGLOCK_PRELOAD_LIB, set by the runner
# for preloaded runs), never the load generator. Prints the client's figures
# and the server's own CPU and context switches; fails if the client
# reports a verification failure or the server dies.
set -euo pipefail
secs="${1:-5}"
threads="${2:-4}"
conns="${3:-32}"
port=$((20000 + RANDOM % 20000))

env_server=()
if [[ -n "${RINGLOCK_PRELOAD_LIB:-}" ]]; then env_server=(env "LD_PRELOAD=$RINGLOCK_PRELOAD_LIB"); fi
"${env_server[@]}" memcached -l 127.0.0.1 -p "$port" -U 0 -t "$threads" -m 256 -u "$(id -un)" &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  if (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null; then break; fi
  sleep 0.05
done

out=$(memcaslap -s "127.0.0.1:$port" -T 2 -c "$conns" -t "${secs}s" -v 0.1 2>&1)
echo "$out"

# The server's own figures (all its threads), before it exits.
ticks=$(getconf CLK_TCK)
read -r utime stime < <(awk '{print $14, $15}' "/proc/$server/stat")
vcs=0; ivcs=0
for s in /proc/"$server"/task/*/status; do
  vcs=$((vcs + $(awk '/^voluntary_ctxt_switches/ {print $2}' "$s")))
  ivcs=$((ivcs + $(awk '/^nonvoluntary_ctxt_switches/ {print $2}' "$s")))
done
echo "server user_s: $(awk -v t="$utime" -v h="$ticks" 'BEGIN {printf "%.2f", t / h}')"
echo "server sys_s: $(awk -v t="$stime" -v h="$ticks" 'BEGIN {printf "%.2f", t / h}')"
echo "server voluntary_cs: $vcs"
echo "server involuntary_cs: $ivcs"

kill -TERM "$server"
wait "$server" || true
trap - EXIT
grep -q '^verify_failed: 0$' <<<"$out" || { echo "memcached.sh: verification failures" >&2; exit 1; }
grep -q 'TPS: [0-9]' <<<"$out" || { echo "memcached.sh: no throughput from memaslap" >&2; exit 1; }
