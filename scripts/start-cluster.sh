#!/usr/bin/env bash
# Starts a three-replica tl-gateway cluster on loopback, for trying it out:
# a throwaway PostgreSQL (temporary data directory; as the postgres user
# when run as root, since initdb refuses root), the simulator, and three
# gateway replicas sharing the database (--state_store=postgres:...).
# Prints the endpoints; Ctrl-C stops everything and removes the data.
#
#   ./scripts/start-cluster.sh                # replicas on 50051, 50052, 50053
#   BASE_PORT=6000 ./scripts/start-cluster.sh # replicas on 6000, 6001, 6002
#   ./scripts/start-cluster.sh --state_notify=poll   # extra flags go to every replica
#
# Needs scripts/setup.sh first (postgresql-15, libpq-dev).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

BASE_PORT=${BASE_PORT:-50051}
SIM_PORT=${SIM_PORT:-8090}
PG_PORT=${PG_PORT:-55432}
API_KEY="tlk_cluster_demo_key"

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$bindir" ] || [ ! -x "$bindir/postgres" ]; then
  echo "start-cluster: PostgreSQL is not installed; run scripts/setup.sh" >&2
  exit 1
fi

bazel build //server:gateway //sim:twelvelabs_sim

work=$(mktemp -d /tmp/tlgw-cluster-XXXXXX)
pids=()
cleanup() {
  trap - INT TERM EXIT
  echo
  echo "start-cluster: stopping"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  # postgres last, with SIGINT (fast shutdown), after the gateways let go.
  [ -n "${pg_pid:-}" ] && kill -INT "$pg_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup INT TERM EXIT

# As root, PostgreSQL runs as the postgres user.
as_pg=()
if [ "$(id -u)" -eq 0 ]; then
  chown postgres:postgres "$work"
  as_pg=(setpriv --reuid=postgres --regid=postgres --clear-groups env --chdir=/)
fi
"${as_pg[@]}" "$bindir/initdb" --no-sync -A trust -E UTF8 --locale=C -U postgres -D "$work/pgdata" >"$work/initdb.log" 2>&1 ||
  { cat "$work/initdb.log" >&2; exit 1; }
"${as_pg[@]}" "$bindir/postgres" -D "$work/pgdata" -c listen_addresses=127.0.0.1 -c port="$PG_PORT" \
  -c unix_socket_directories= -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
  >"$work/postgres.log" 2>&1 &
pg_pid=$!
for _ in $(seq 1 100); do
  "$bindir/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" && break
  kill -0 "$pg_pid" 2>/dev/null || { cat "$work/postgres.log" >&2; exit 1; }
  sleep 0.1
done
"$bindir/psql" -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -c "CREATE DATABASE tlgw" postgres
conninfo="host=127.0.0.1 port=$PG_PORT dbname=tlgw user=postgres"

"$root/bazel-bin/sim/twelvelabs_sim" --listen="127.0.0.1:$SIM_PORT" --api_keys="$API_KEY" \
  >"$work/sim.log" 2>&1 &
pids+=($!)

for i in 0 1 2; do
  port=$((BASE_PORT + i))
  TWELVELABS_API_KEY="$API_KEY" "$root/bazel-bin/server/gateway" \
    --listen="127.0.0.1:$port" --admin_listen="127.0.0.1:$((BASE_PORT + 100 + i))" \
    --upstream_url="http://127.0.0.1:$SIM_PORT/v1.3" \
    --state_store="postgres:$conninfo" --replica_id="replica-$i" --audit_log=none "$@" \
    >"$work/gateway-$i.log" 2>&1 &
  pids+=($!)
done

sleep 1
for i in 0 1 2; do
  if ! kill -0 "${pids[$((i + 1))]}" 2>/dev/null; then
    echo "start-cluster: replica $i did not start:" >&2
    cat "$work/gateway-$i.log" >&2
    exit 1
  fi
done

cat <<INFO
tl-gateway cluster on loopback (logs in $work):
  PostgreSQL   $conninfo
  simulator    http://127.0.0.1:$SIM_PORT/v1.3   (API key $API_KEY)
  replica-0    grpc 127.0.0.1:$BASE_PORT   admin http://127.0.0.1:$((BASE_PORT + 100))/metrics
  replica-1    grpc 127.0.0.1:$((BASE_PORT + 1))   admin http://127.0.0.1:$((BASE_PORT + 101))/metrics
  replica-2    grpc 127.0.0.1:$((BASE_PORT + 2))   admin http://127.0.0.1:$((BASE_PORT + 102))/metrics
Try: grpcurl -plaintext -d '{"index_id":"0123456789abcdef01234567","video_url":"https://cdn.example.com/a.mp4","request_id":"r1"}' \\
       127.0.0.1:$BASE_PORT twelvelabs.gateway.v1.UploadService/CreateUrlTask
     (the same on :$((BASE_PORT + 1)) returns the same task)
Ctrl-C stops everything.
INFO
wait "${pids[@]}"
