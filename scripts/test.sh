#!/usr/bin/env bash
# Runs every test of ExecDist on a fresh Debian machine with the .NET SDK:
#   1. installs what the tests need and the machine lacks (Debian packages when run as root, and
#      `npm ci` for the Node test clients), saying what it installs before it does;
#   2. starts a throwaway PostgreSQL and Redis that belong to this run only: their own data directory
#      in a temporary folder, free ports on 127.0.0.1, no password, no persistence;
#   3. runs `dotnet test ExecDist.sln` against them (extra arguments are passed on, e.g.
#      `--filter TestCategory=Unit`);
#   4. stops both servers and removes the folder on every exit: success, failure, Ctrl+C or SIGTERM.
# It ends with one line "N passed, N failed" and exits non-zero if anything failed.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n== %s\n' "$*"; }

# --- 1. What the tests need --------------------------------------------------------------------
# command -> Debian package; the Python modules are checked with Debian's interpreter, which the
# tests use (a pyenv or venv python3 earlier on PATH does not see Debian's modules).
declare -A needs=(
  [redis-server]=redis-server
  [redis-cli]=redis-tools
  [kcat]=kcat
  [nats-server]=nats-server
  [node]=nodejs
  [npm]=npm
  [ps]=procps
  [prometheus]=prometheus
  [chromium]=chromium
)
missing=()
for cmd in "${!needs[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${needs[$cmd]}")
done
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
[ -n "$pg_bin" ] && [ -x "$pg_bin/initdb" ] || missing+=(postgresql)
[ -x /usr/bin/python3 ] || missing+=(python3)
if [ -x /usr/bin/python3 ]; then
  /usr/bin/python3 -c 'import kafka' 2>/dev/null || missing+=(python3-kafka)
  /usr/bin/python3 -c 'import websockets' 2>/dev/null || missing+=(python3-websockets)
fi
if [ ${#missing[@]} -gt 0 ]; then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  if [ "$(id -u)" -ne 0 ]; then
    echo "The tests need these Debian packages, which are not installed: ${missing[*]}" >&2
    echo "Install them (sudo apt-get install ${missing[*]}) or run this script as root." >&2
    exit 2
  fi
  log "Installing Debian packages the tests need: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
fi
# Debian's postgresql and redis-server packages start a machine-wide server on install; this run
# never uses them (its own servers listen on free ports), and leaves them as it found them.

clients=ExecutionDistribution.Tests/Clients
if [ ! -d "$clients/node_modules/@grpc/grpc-js" ] || [ "$clients/package-lock.json" -nt "$clients/node_modules/.package-lock.json" ]; then
  log "Installing the Node test clients (npm ci: @grpc/grpc-js, @grpc/proto-loader, playwright-core)"
  npm ci --prefix "$clients" --no-audit --no-fund --loglevel=error
fi

# --- 2. Throwaway servers ------------------------------------------------------------------------
run_dir=$(mktemp -d "${TMPDIR:-/tmp}/execdist-test.XXXXXX")
chmod 755 "$run_dir"
pg_data="$run_dir/postgres"
pg_user=""
redis_pid=""
test_pid=""

as_pg_user() {
  if [ -n "$pg_user" ]; then runuser -u "$pg_user" -- "$@"; else "$@"; fi
}

# Children first, so that a parent that is ending cannot leave an orphan behind.
kill_tree() {
  local child
  for child in $(ps -o pid= --ppid "$1" 2>/dev/null); do kill_tree "$child"; done
  kill -TERM "$1" 2>/dev/null || true
}

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if [ -n "$test_pid" ] && kill -0 "$test_pid" 2>/dev/null; then
    echo "Stopping the test run" >&2
    kill_tree "$test_pid"
    wait "$test_pid" 2>/dev/null || true
  fi
  if [ -f "$pg_data/postmaster.pid" ]; then
    as_pg_user "$pg_bin/pg_ctl" -D "$pg_data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  if [ -n "$redis_pid" ] && kill -0 "$redis_pid" 2>/dev/null; then
    kill "$redis_pid" 2>/dev/null || true
    wait "$redis_pid" 2>/dev/null || true
  fi
  rm -rf "$run_dir"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
  /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

log "Starting a throwaway PostgreSQL and Redis in $run_dir"
# PostgreSQL refuses to run as root: as root, the cluster belongs to Debian's postgres account.
if [ "$(id -u)" -eq 0 ]; then
  pg_user=postgres
  mkdir -p "$pg_data" && chown "$pg_user" "$pg_data"
fi
as_pg_user "$pg_bin/initdb" -D "$pg_data" -U postgres --auth=trust --no-sync -E UTF8 >"$run_dir/initdb.log" 2>&1 \
  || { cat "$run_dir/initdb.log" >&2; exit 1; }
pg_port=$(free_port)
# Durability is not under test: no fsync, so the suite's many schemas are cheap to create and drop.
as_pg_user "$pg_bin/pg_ctl" -D "$pg_data" -l "$pg_data/server.log" -w -t 60 start \
  -o "-p $pg_port -k $pg_data -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" >/dev/null \
  || { cat "$pg_data/server.log" >&2; exit 1; }

redis_port=$(free_port)
redis-server --bind 127.0.0.1 --port "$redis_port" --save "" --appendonly no --dir "$run_dir" --logfile "$run_dir/redis.log" &
redis_pid=$!
for _ in $(seq 1 100); do redis-cli -h 127.0.0.1 -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
redis-cli -h 127.0.0.1 -p "$redis_port" ping >/dev/null || { cat "$run_dir/redis.log" >&2; exit 1; }
echo "PostgreSQL 127.0.0.1:$pg_port, Redis 127.0.0.1:$redis_port"

export EXECDIST_TEST_POSTGRES="Host=127.0.0.1;Port=$pg_port;Username=postgres"
export EXECDIST_TEST_REDIS="127.0.0.1:$redis_port"
# What the tests and the services they start write to temporary files goes away with the run.
mkdir -p "$run_dir/tmp" && export TMPDIR="$run_dir/tmp"

# --- 3. The tests --------------------------------------------------------------------------------
log "Running the tests: dotnet test ExecDist.sln $*"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
test_log="$run_dir/test.log"
# In the background, so that Ctrl+C or SIGTERM reach the traps at once (a foreground command would
# defer them until it ends); no build servers, so nothing of this run stays behind once it ends. A
# test that hangs is stopped after 10 minutes and named (the longest test takes about 3).
dotnet test ExecDist.sln --disable-build-servers --blame-hang-timeout 10m --blame-hang-dump-type none "$@" > >(tee "$test_log") 2>&1 &
test_pid=$!
set +e
wait "$test_pid"
status=$?
set -e
test_pid=""

# Sum the per-assembly summaries ("Passed!  - Failed: 0, Passed: 101, ...") into one closing line.
passed=$(grep -Eo 'Passed: +[0-9]+' "$test_log" | grep -Eo '[0-9]+' | awk '{s+=$1} END {print s+0}')
failed=$(grep -Eo 'Failed: +[0-9]+' "$test_log" | grep -Eo '[0-9]+' | awk '{s+=$1} END {print s+0}')
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  failed=1 # the build or the runner failed before any test reported
fi
if [ "$passed" -eq 0 ] && [ "$failed" -eq 0 ]; then
  echo "no test ran"
  failed=1
fi
echo "$passed passed, $failed failed"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
