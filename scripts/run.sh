#!/usr/bin/env bash
# run.sh [BUILD-DIR] [ckv-chat options...]: the main job (README's first
# command). Starts a local ckvd on 127.0.0.1 (embedded SQLite under
# $CKV_SERVER_DATA, default ~/.local/share/ckv-server) unless one already
# answers there, then opens ckv-chat against it. The server stops when the
# chat ends (if this script started it).
set -euo pipefail
BUILD=${1:-build}
shift || true
PORT=${CKV_PORT:-8470}
URL="http://127.0.0.1:$PORT"
DATA=${CKV_SERVER_DATA:-${XDG_DATA_HOME:-$HOME/.local/share}/ckv-server}

for bin in "$BUILD/server/ckvd" "$BUILD/tui/ckv-chat"; do
  if [ ! -x "$bin" ]; then
    echo "run: $bin is missing; build first (make)" >&2
    exit 1
  fi
done

server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
}
trap cleanup EXIT

if curl -fsS -m 2 "$URL/v1/health" >/dev/null 2>&1; then
  echo "run: using the ckvd already running at $URL" >&2
else
  mkdir -p "$DATA"
  chmod 700 "$DATA"
  "$BUILD/server/ckvd" --listen "127.0.0.1:$PORT" --data "$DATA" >>"$DATA/ckvd.out" 2>>"$DATA/ckvd.log" &
  server_pid=$!
  for _ in $(seq 1 100); do
    curl -fsS -m 1 "$URL/v1/health" >/dev/null 2>&1 && break
    if ! kill -0 "$server_pid" 2>/dev/null; then
      echo "run: ckvd did not start; see $DATA/ckvd.log" >&2
      tail -n 5 "$DATA/ckvd.log" >&2 || true
      exit 1
    fi
    sleep 0.1
  done
  echo "run: ckvd serves $URL (data in $DATA, log in $DATA/ckvd.log)" >&2
fi

if [ ! -s "$DATA/log.vkey" ]; then
  echo "run: $DATA/log.vkey is missing: is the server on $URL this script's?" >&2
  exit 1
fi
"$BUILD/tui/ckv-chat" --server "$URL" --log-key "$(cat "$DATA/log.vkey")" "$@"
