#!/usr/bin/env bash
# Throwaway PostgreSQL and Redis on 127.0.0.1 for tests and benchmarks.
#   services.sh start DIR [--durable]   writes DIR/env (DATABASE_URL, CELERY_BROKER_URL, REDIS_URL)
#   services.sh stop DIR                stops what start started, by pid
# Tests run PostgreSQL with fsync off; benchmarks pass --durable.
set -euo pipefail
cmd="$1"; dir="$(mkdir -p "$2" && cd "$2" && pwd)"; mode="${3:-}"
PGBIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"

as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
  # Below 32768: above it the kernel hands out ports for outgoing connections.
  python3 - "$1" <<'PY'
import random, socket, sys
rng = random.Random()
for _ in range(200):
    port = rng.randrange(int(sys.argv[1]), int(sys.argv[1]) + 4000)
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
        print(port)
        break
PY
}

start() {
  local pgport redisport
  pgport="$(free_port 20000)"; redisport="$(free_port 24000)"
  mkdir -p "$dir/pg" "$dir/sock" "$dir/redis"
  if [ "$(id -u)" = 0 ]; then
    # PostgreSQL refuses to run as root; its user must be able to reach the folder (mktemp makes it 0700).
    chmod 755 "$dir"
    chown postgres:postgres "$dir/pg" "$dir/sock"
  fi
  if ! as_pg "$PGBIN/initdb" -D "$dir/pg" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1; then
    cat "$dir/initdb.log" >&2; echo "initdb failed" >&2; exit 1
  fi
  local extra="-c max_connections=200"
  [ "$mode" = "--durable" ] || extra="$extra -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
  as_pg "$PGBIN/pg_ctl" -D "$dir/pg" -l "$dir/pg/server.log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $pgport -k $dir/sock $extra" start >/dev/null \
    || { cat "$dir/pg/server.log" >&2; echo "PostgreSQL did not start" >&2; exit 1; }
  as_pg "$PGBIN/createdb" -h 127.0.0.1 -p "$pgport" -U postgres candour
  redis-server --port "$redisport" --bind 127.0.0.1 --daemonize yes --dir "$dir/redis" \
    --pidfile "$dir/redis/redis.pid" --logfile "$dir/redis/redis.log" --save "" --appendonly no
  for _ in $(seq 50); do [ -s "$dir/redis/redis.pid" ] && break; sleep 0.1; done
  cat >"$dir/env" <<ENV
export DATABASE_URL=postgres://postgres@127.0.0.1:$pgport/candour
export CELERY_BROKER_URL=redis://127.0.0.1:$redisport/0
export REDIS_URL=redis://127.0.0.1:$redisport/0
export CANDOUR_PG_PORT=$pgport
export CANDOUR_REDIS_PORT=$redisport
export CANDOUR_SERVICES_DIR=$dir
ENV
  echo "PostgreSQL on 127.0.0.1:$pgport, Redis on 127.0.0.1:$redisport"
}

stop() {
  if [ -f "$dir/pg/postmaster.pid" ]; then
    as_pg "$PGBIN/pg_ctl" -D "$dir/pg" stop -m fast >/dev/null 2>&1 || kill "$(head -n 1 "$dir/pg/postmaster.pid")" 2>/dev/null || true
  fi
  if [ -f "$dir/redis/redis.pid" ]; then
    pid="$(cat "$dir/redis/redis.pid")"
    kill "$pid" 2>/dev/null || true
    # Wait for it to go, so the caller can remove its folder.
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: services.sh start|stop DIR" >&2; exit 2 ;;
esac
