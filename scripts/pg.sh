#!/usr/bin/env bash
# A throw-away PostgreSQL server for the test suite, from Debian's packages, on loopback only.
#
#   scripts/pg.sh [start]   install postgresql if missing, init a cluster under .cache/pg, start it on
#                           127.0.0.1 on a free port, create the database, print its URL on stdout
#   scripts/pg.sh url       print the URL of the running server (non-zero if it is not running)
#   scripts/pg.sh stop      stop the server
#
# Everything else goes to stderr, so `export TRIAGE_TEST_PG_URL=$(scripts/pg.sh)` works.
# Environment: TRIAGE_PG_DIR (default .cache/pg), TRIAGE_PG_DB (default triage_test), TRIAGE_PG_PORT.
# The cluster trusts loopback connections and runs with fsync off: it is for tests, never for data.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PGDIR=${TRIAGE_PG_DIR:-$ROOT/.cache/pg}
DB=${TRIAGE_PG_DB:-triage_test}
DATA=$PGDIR/data
RUN=$PGDIR/run
LOG=$PGDIR/server.log
CMD=${1:-start}

say() { echo "pg.sh: $*" >&2; }

pg_bin() {
    local d
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    [ -n "$d" ] && [ -x "$d/pg_ctl" ] && echo "$d"
}

BIN=$(pg_bin || true)
if [ -z "$BIN" ]; then
    [ "$CMD" = start ] || { say "PostgreSQL is not installed"; exit 1; }
    if [ "$(id -u)" -ne 0 ]; then
        say "PostgreSQL is not installed and this is not root: run 'sudo apt-get install -y postgresql'"
        exit 1
    fi
    say "installing Debian's postgresql …"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq postgresql >&2
    BIN=$(pg_bin) || { say "postgresql installed but no pg_ctl found under /usr/lib/postgresql"; exit 1; }
fi

# The server refuses to run as root: as root, run it as the 'postgres' user the package creates.
if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir "$PGDIR" --shell /bin/false postgres
    AS=(runuser -u postgres --)
else
    AS=()
fi
pgrun() { "${AS[@]}" "$@"; }

running() { [ -f "$DATA/postmaster.pid" ] && pgrun "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; }
port_of() { sed -n '4p' "$DATA/postmaster.pid"; }
url() { echo "postgresql://postgres@127.0.0.1:$(port_of)/$DB"; }

case "$CMD" in
    url)
        running || { say "not running (start it with scripts/pg.sh)"; exit 1; }
        url; exit 0 ;;
    stop)
        if running; then pgrun "$BIN/pg_ctl" -D "$DATA" -m fast -w stop >&2; else say "not running"; fi
        exit 0 ;;
    start) ;;
    *) say "usage: scripts/pg.sh [start|url|stop]"; exit 2 ;;
esac

mkdir -p "$PGDIR" "$RUN"
[ "$(id -u)" -eq 0 ] && chown postgres "$PGDIR" "$RUN"
if [ ! -f "$DATA/PG_VERSION" ]; then
    say "initdb $DATA"
    mkdir -p "$DATA"
    [ "$(id -u)" -eq 0 ] && chown postgres "$DATA"
    pgrun "$BIN/initdb" -D "$DATA" -U postgres --auth=trust --encoding=UTF8 --no-locale >"$PGDIR/initdb.log" 2>&1 \
        || { cat "$PGDIR/initdb.log" >&2; exit 1; }
fi

if ! running; then
    PORT=${TRIAGE_PG_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
    say "starting PostgreSQL $("$BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PORT"
    pgrun "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $PORT -k $RUN -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
        start >&2 || { tail -n 20 "$LOG" >&2; exit 1; }
fi

PORT=$(port_of)
PSQL=("$BIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -qtA)
if [ "$("${PSQL[@]}" -c "SELECT 1 FROM pg_database WHERE datname = '$DB'")" != "1" ]; then
    "${PSQL[@]}" -c "CREATE DATABASE \"$DB\"" >&2
fi
url
