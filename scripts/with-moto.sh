#!/usr/bin/env bash
# Runs a command with one moto server on 127.0.0.1 for all of it (`make test`): the test processes
# that share a moto (`workers::testkit::MotoServer::shared`) use this one through
# ASYNCTOOLS_TEST_MOTO_ENDPOINT instead of each starting its own; tests that need a moto of their own
# (the chaos suite, the cost meter) still start theirs. The server stops when the command ends.
# Usage: scripts/with-moto.sh COMMAND [ARG...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
python=$root/.venv/bin/python
if [ ! -x "$python" ] || ! "$python" -c 'import moto' 2>/dev/null; then
  echo "with-moto: no moto in .venv (make venv); running without a shared server" >&2
  exec "$@"
fi
port=$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$python" "$root/scripts/moto_atomic.py" -H 127.0.0.1 -p "$port" >/dev/null 2>&1 &
moto=$!
trap 'kill "$moto" 2>/dev/null; wait "$moto" 2>/dev/null || true' EXIT
for _ in $(seq 300); do
  if "$python" -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$port/moto-api/', timeout=1)" 2>/dev/null; then
    break
  fi
  kill -0 "$moto" 2>/dev/null || { echo "with-moto: moto exited" >&2; exit 1; }
  sleep 0.1
done
export ASYNCTOOLS_TEST_MOTO_ENDPOINT=http://127.0.0.1:$port
"$@"
