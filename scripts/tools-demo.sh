#!/usr/bin/env bash
# `make tools-demo`: your own tools, run asynchronously on this machine. An existing Lambda function
# (docs/examples/word-count-lambda, under cargo-lambda's emulator) and an existing HTTP service
# (docs/examples/http-tool/server.py) become tools through the catalog docs/examples/tools.toml;
# a memory-backend worker takes both calls at once, acknowledges each straight away, and prints each
# result when it lands: the fast HTTP call first, the slow Lambda call after.
set -euo pipefail
cd "$(dirname "$0")/.."
LAMBDA_PORT=${LAMBDA_PORT:-9111}
HTTP_PORT=9112   # the url in docs/examples/tools.toml
CARGO=${CARGO:-cargo}
command -v cargo-lambda >/dev/null || { echo "cargo-lambda not on PATH: run 'make venv-lambda' (make tools-demo puts .venv/bin first)" >&2; exit 2; }

$CARGO build --quiet --bin asynctools -p asynctools --bin word-count-lambda -p word-count-lambda
logs=$(mktemp -d)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$logs"; }
trap cleanup EXIT

# The Lambda side: the emulator serves Lambda's Invoke API; the function polls its Runtime API.
cargo-lambda lambda watch --only-lambda-apis --ignore-changes --invoke-address 127.0.0.1 \
  --invoke-port "$LAMBDA_PORT" --color never >"$logs/watch.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$LAMBDA_PORT") 2>/dev/null && break; sleep 0.1; done
AWS_LAMBDA_RUNTIME_API="http://127.0.0.1:$LAMBDA_PORT/.rt/word-count-lambda" \
  AWS_LAMBDA_FUNCTION_NAME=word-count-lambda AWS_LAMBDA_FUNCTION_VERSION='$LATEST' \
  AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128 target/debug/word-count-lambda >"$logs/function.log" 2>&1 &
pids+=($!)
# The HTTP side.
python3 docs/examples/http-tool/server.py --port "$HTTP_PORT" >"$logs/http.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$HTTP_PORT") 2>/dev/null && break; sleep 0.1; done

echo "catalog: docs/examples/tools.toml (word-count: kind = lambda, slugify: kind = http)"
echo "submitting both at once; each is acknowledged at once, each result prints when it lands:"
# The SDK reaches "Lambda" at the emulator; the credentials are dummies (nothing leaves 127.0.0.1).
printf '%s\n' \
  '{"conversation_id": "demo", "tool": "word-count", "arguments": {"text": "the cat and the hat sat on the mat with the bat", "top": 2, "sleep_ms": 2000}}' \
  '{"conversation_id": "demo", "tool": "slugify", "arguments": {"title": "Async tools: no more waiting!"}}' |
  ASYNCTOOLS_CATALOG=docs/examples/tools.toml \
  AWS_ENDPOINT_URL_LAMBDA="http://127.0.0.1:$LAMBDA_PORT" AWS_REGION=us-east-1 \
  AWS_ACCESS_KEY_ID=demo AWS_SECRET_ACCESS_KEY=demo AWS_EC2_METADATA_DISABLED=true \
  target/debug/asynctools worker --backend memory --tool word-count --tool slugify
