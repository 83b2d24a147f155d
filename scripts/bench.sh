#!/usr/bin/env bash
# `make bench`: throughput and memory of the simulator, then of the task pipeline.
# Figures go to stdout; nothing here is a pass/fail test.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=target/release/asynctools

echo "== simulator: scenarios/bench-5x4.toml, policy sync, all metrics (threads: $(nproc))"
printf '%12s  %14s  %12s  %10s\n' sessions "sessions/s" "elapsed" "peak RSS"
for sessions in 10000 100000 1000000 10000000; do
  line=$("$bin" run scenarios/bench-5x4.toml --policy sync --sessions "$sessions" --format json --stats 2>&1 >/dev/null | tail -n 1)
  # "simulated N sessions × 1 policy in S s: R sessions/s, peak memory M MiB"
  elapsed=$(sed -E 's/.* in ([0-9.]+) s:.*/\1 s/' <<<"$line")
  rate=$(sed -E 's/.*: ([0-9]+) sessions\/s.*/\1/' <<<"$line")
  rss=$(sed -E 's/.*peak memory ([0-9.]+ MiB).*/\1/' <<<"$line")
  printf '%12s  %14s  %12s  %10s\n' "$sessions" "$rate" "$elapsed" "$rss"
done

echo
echo "== simulator: research-assistant, compare sequential,sync,async (1,000,000 sessions)"
"$bin" compare scenarios/research-assistant.toml --sessions 1000000 --format json --stats 2>&1 >/dev/null | tail -n 1

echo
echo "== simulator: scenarios/shared-capacity.toml (Poisson arrivals, concurrency limits, cold starts), policy async"
for sessions in 100000 1000000; do
  "$bin" run scenarios/shared-capacity.toml --policy async --sessions "$sessions" --format json --stats 2>&1 >/dev/null | tail -n 1
done

if [ -f workers/benches/pipeline.rs ]; then
  echo
  echo "== task pipeline"
  PATH="$PWD/.venv/bin:$PATH" cargo bench --quiet -p workers --bench pipeline
fi
