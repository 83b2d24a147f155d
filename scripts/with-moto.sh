#!/usr/bin/env bash
# Runs a command with a few moto servers on 127.0.0.1 for all of it (`make test`): the test
# processes that share a moto (`workers::testkit::MotoServer::shared`) use these, spread by process
# id, through ASYNCTOOLS_TEST_MOTO_ENDPOINT (a comma-separated list) instead of each starting its own
# (moto serialises DynamoDB writes, so one server would make parallel tests wait on each other);
# tests that need a moto of their own (the chaos suite, the cost meter) still start theirs. The
# servers stop when the command ends. Usage: [MOTO_SERVERS=N] scripts/with-moto.sh COMMAND [ARG...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
python=$root/.venv/bin/python
if [ ! -x "$python" ] || ! "$python" -c 'import moto' 2>/dev/null; then
  echo "with-moto: no moto in .venv (make venv); running without a shared server" >&2
  exec "$@"
fi
pids=()
endpoints=()
trap 'kill "${pids[@]}" 2>/dev/null; wait "${pids[@]}" 2>/dev/null || true' EXIT
for _ in $(seq "${MOTO_SERVERS:-3}"); do
  port=$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "$python" "$root/scripts/moto_atomic.py" -H 127.0.0.1 -p "$port" >/dev/null 2>&1 &
  pids+=("$!")
  endpoints+=("http://127.0.0.1:$port")
done
for endpoint in "${endpoints[@]}"; do
  for _ in $(seq 300); do
    if "$python" -c "import urllib.request as u; u.urlopen('$endpoint/moto-api/', timeout=1)" 2>/dev/null; then
      continue 2
    fi
    sleep 0.1
  done
  echo "with-moto: $endpoint did not answer" >&2
  exit 1
done
export ASYNCTOOLS_TEST_MOTO_ENDPOINT=$(IFS=,; echo "${endpoints[*]}")
"$@"
