#!/usr/bin/env bash
# `make local`: starts moto (DynamoDB + SQS emulator) on 127.0.0.1 and creates the stack's table and
# queues on it with `asynctools local up`, which writes out/asynctools-outputs.json in the CDK outputs shape (the `--backend aws` commands
# read it by default when run from the repository root).
# Usage: scripts/local-stack.sh [PORT]   (default 5000; env MOTO_PORT also works)
set -euo pipefail
cd "$(dirname "$0")/.."

PORT="${1:-${MOTO_PORT:-5000}}"
ENDPOINT="http://127.0.0.1:${PORT}"
OUTPUTS="${ASYNCTOOLS_OUTPUTS:-out/asynctools-outputs.json}"
MOTO="$(command -v moto_server || true)"
[[ -n "$MOTO" ]] || MOTO=".venv/bin/moto_server"
if [[ ! -x "$MOTO" ]]; then
  echo "moto_server not found: run \`make venv\` first" >&2
  exit 1
fi

answers() { curl -fsS -o /dev/null "${ENDPOINT}/moto-api/" 2>/dev/null || python3 - "$PORT" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1)
s.sendall(b"GET /moto-api/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
sys.exit(0 if s.recv(5) == b"HTTP/" else 1)
PY
}

if answers 2>/dev/null; then
  echo "something already answers on ${ENDPOINT}; reusing it"
  PID=""
else
  mkdir -p out
  nohup "$MOTO" -H 127.0.0.1 -p "$PORT" > out/moto.log 2>&1 &
  PID=$!
  echo "$PID" > out/moto.pid
  for _ in $(seq 1 100); do
    answers 2>/dev/null && break
    kill -0 "$PID" 2>/dev/null || { echo "moto exited; see out/moto.log" >&2; exit 1; }
    sleep 0.1
  done
  answers 2>/dev/null || { echo "moto did not answer on ${ENDPOINT} within 10 s; see out/moto.log" >&2; kill "$PID"; exit 1; }
fi

BIN="${ASYNCTOOLS_BIN:-}"
if [[ -z "$BIN" ]]; then
  cargo build --quiet --bin asynctools
  BIN="target/debug/asynctools"
fi
"$BIN" local up --endpoint "$ENDPOINT" --outputs "$OUTPUTS"

cat <<EOT

Local stack is up on ${ENDPOINT} (resource names in ${OUTPUTS}). In another shell, from this directory:

  export AWS_ENDPOINT_URL=${ENDPOINT} ASYNCTOOLS_BACKEND=aws
  ${BIN} worker                                   # runs every tool's worker; Ctrl-C stops it
  ${BIN} tasks submit sentiment --args '{"text": "great but slow"}' --conversation demo
  ${BIN} tasks watch                               # your results on the default consumer, each exactly once
  ${BIN} tasks list --conversation demo
  ${BIN} tasks status TASK_ID
  ${BIN} tasks cancel TASK_ID

Stop the emulator (its state is in memory and goes with it):
EOT
if [[ -n "$PID" ]]; then
  echo "  kill ${PID}        # pid also in out/moto.pid"
else
  echo "  (it was already running before this script; stop it the way you started it)"
fi
