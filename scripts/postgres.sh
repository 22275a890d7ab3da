#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests: `postgres.sh start DIR` creates a cluster in DIR (which
# must not exist yet, inside a directory the postgres user can enter, such as /tmp), starts it on
# 127.0.0.1 at a free port and prints its URL (postgres://keel:PASSWORD@127.0.0.1:PORT/keel);
# `postgres.sh restart DIR` stops it the way a crash would (every connection cut, no shutdown
# checkpoint) and starts it again at the same address; `postgres.sh stop DIR` stops it and removes DIR.
#
# The server refuses to run as root, so under root the cluster belongs to the `postgres` user that
# Debian's package creates. Clients on 127.0.0.1 log in with a random password (in the URL); the
# cluster lives as long as one test run.
set -euo pipefail

bindir=""
for d in /usr/lib/postgresql/*/bin; do [ -x "$d/initdb" ] && bindir="$d"; done
if [ -z "$bindir" ]; then
  initdb_path=$(command -v initdb || true)
  [ -n "$initdb_path" ] && bindir=$(dirname "$initdb_path")
fi
if [ -z "$bindir" ]; then
  echo "postgres.sh: no PostgreSQL server found (scripts/setup.sh installs Debian's postgresql)" >&2
  exit 1
fi

# Runs a server command as the cluster's owner.
# From / so that the owner never needs to enter a directory it may not read (a checkout in a private
# temporary directory, say).
as_owner() {
  if [ "$(id -u)" = 0 ]; then
    (cd / && runuser -u postgres -- "$@")
  else
    "$@"
  fi
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

case "${1:-}" in
start)
  dir=${2:?usage: postgres.sh start DIR}
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres: "$dir"
  # A password on TCP, as a real server has (so that wrong credentials can be tested); trust only on
  # the cluster's own unix socket, for createdb below.
  password=$(python3 -c 'import secrets; print(secrets.token_hex(12))')
  echo "$password" >"$dir/password"
  [ "$(id -u)" = 0 ] && chown postgres: "$dir/password"
  as_owner "$bindir/initdb" -D "$dir/data" -U keel --auth-local=trust --auth-host=scram-sha-256 \
    --pwfile="$dir/password" -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 || {
    cat "$dir/initdb.log" >&2
    exit 1
  }
  port=$(free_port)
  # No fsync shortcuts: the tests measure nothing here, but they must see the server a user runs.
  as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c max_connections=300" \
    start >/dev/null || {
    cat "$dir/server.log" >&2
    exit 1
  }
  as_owner "$bindir/createdb" -h "$dir" -p "$port" -U keel keel
  echo "postgres://keel:$password@127.0.0.1:$port/keel"
  ;;
restart)
  dir=${2:?usage: postgres.sh restart DIR}
  # pg_ctl restarts with the options of the last start (kept in postmaster.opts).
  as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -m immediate -w -t 60 restart >/dev/null || {
    cat "$dir/server.log" >&2
    exit 1
  }
  ;;
stop)
  dir=${2:?usage: postgres.sh stop DIR}
  if [ -d "$dir/data" ]; then
    as_owner "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
  ;;
*)
  echo "usage: postgres.sh start DIR | restart DIR | stop DIR" >&2
  exit 2
  ;;
esac
