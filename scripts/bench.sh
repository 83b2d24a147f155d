#!/usr/bin/env bash
# `make bench`: simulator throughput and peak memory, side by side with a base commit, then the
# task pipeline. Figures go to stdout; nothing here is a pass/fail test.
#
#   BENCH_BASE=REV   the commit to compare with (default: HEAD~1, the commit before the last);
#                    built once in a worktree, its binary kept in target/bench-base/.
#   BENCH_BASE=none  this build only.
#   BENCH_RUNS=N     runs per figure, the best kept (default 3).
#   BENCH_COST=0     skip the cost table (what one task costs on AWS, counted on moto, issue 25).
#   BENCH_COST_TASKS=N, BENCH_COST_IDLE_S=S   its tasks per scenario (50) and idle interval (60 s).
set -euo pipefail
cd "$(dirname "$0")/.."

base_rev=${BENCH_BASE:-HEAD~1}
old=""
if [ "$base_rev" != none ]; then
  sha=$(git rev-parse --verify "${base_rev}^{commit}")
  old="target/bench-base/asynctools-${sha:0:12}"
  if [ ! -x "$old" ]; then
    echo "building the base ${sha:0:12} ($base_rev) in a worktree (once)..." >&2
    tree="target/bench-base/src"
    git worktree remove --force "$tree" 2>/dev/null || rm -rf "$tree"
    git worktree prune
    git worktree add --detach --quiet "$tree" "$sha"
    # Its own target dir: cargo names and fingerprints workspace crates by their path inside
    # the workspace, so a worktree built into ./target would leave the base's crates there
    # looking fresh to the next build of this tree (which would then measure the base twice).
    cargo build --release --quiet --manifest-path "$tree/Cargo.toml" \
      --target-dir target/bench-base/target -p asynctools --bin asynctools
    cp target/bench-base/target/release/asynctools "$old"
    git worktree remove --force "$tree"
  fi
fi
cargo build --release --quiet
new=target/release/asynctools

# One run: "sessions/s peak-MiB" from --stats' line ("simulated N sessions × P policies in S s:
# R sessions/s (R·P policy-sessions/s), peak memory M MiB"; older builds print no policy-sessions).
measure() {
  local bin=$1 line
  shift
  line=$("$bin" "$@" --format json --stats 2>&1 >/dev/null | tail -n 1)
  echo "$(sed -nE 's/.*: ([0-9]+) sessions\/s.*/\1/p' <<<"$line")" \
    "$(sed -nE 's/.*peak memory ([0-9.]+) MiB.*/\1/p' <<<"$line")"
}

# The best of BENCH_RUNS runs (default 3), base and this build alternating: on a shared machine
# a single run can be off by 15 % either way.
runs=${BENCH_RUNS:-3}
row() {
  local label=$1
  shift
  local n=0 n_rss="" b_rate=0 b_rss="" rate rss i
  for ((i = 0; i < runs; i++)); do
    read -r rate rss < <(measure "$new" "$@")
    if ((rate > n)); then n=$rate n_rss=$rss; fi
    if [ -n "$old" ]; then
      read -r rate rss < <(measure "$old" "$@")
      if ((rate > b_rate)); then b_rate=$rate b_rss=$rss; fi
    fi
  done
  [ -n "$old" ] || b_rate=""
  printf '%-52s %12s %8s   %12s %8s\n' "$label" "${b_rate:--}" "${b_rss:--}" "$n" "$n_rss"
}

echo "== simulator, whole process, $(nproc) threads, best of $runs (sessions/s and peak RSS in MiB)"
printf '%-52s %12s %8s   %12s %8s\n' "" "base" "" "this build" ""
printf '%-52s %12s %8s   %12s %8s\n' "run" "sessions/s" "MiB" "sessions/s" "MiB"
for policy in sync async; do
  for sessions in 1000000 10000000; do
    row "bench-5x4 $policy, $sessions" run scenarios/bench-5x4.toml --policy "$policy" --sessions "$sessions"
  done
done
row "research-assistant compare (3 policies), 1000000" compare scenarios/research-assistant.toml --sessions 1000000
row "shared-capacity compare (3 policies), 300000" compare scenarios/shared-capacity.toml --sessions 300000
row "shared-capacity async, 1000000" run scenarios/shared-capacity.toml --policy async --sessions 1000000
echo "compare rows count sessions: each is simulated once per policy (3 policy-sessions a session)"
[ -n "$old" ] && echo "base: $base_rev = ${old##*-}  (BENCH_BASE=REV to choose another, none to skip)"

# The cost table: the meter (workers/examples/cost_meter.rs, built from this tree) drives each
# build's own CLI against its own moto and counts from moto's request log, so the base and this
# build are measured the same way, side by side. Model and meaning of every row: docs/cost.md.
if [ "${BENCH_COST:-1}" != 0 ]; then
  echo
  echo "== cost per task on AWS, counted on moto (docs/cost.md), $(date -u +%Y-%m-%d)"
  if [ -x .venv/bin/moto_server ]; then
    cargo build --release --quiet -p workers-core --example cost_meter
    meter=(target/release/examples/cost_meter --asynctools "$new" --quiet
      --tasks "${BENCH_COST_TASKS:-50}" --idle "${BENCH_COST_IDLE_S:-60}")
    [ -n "$old" ] && meter+=(--base "$old" --base-label base)
    "${meter[@]}" || echo "(the cost meter failed; the rest of the bench goes on)"
  else
    echo "(skipped: no .venv/bin/moto_server; run make venv)"
  fi
fi

if [ -f workers/benches/pipeline.rs ]; then
  echo
  echo "== task pipeline"
  PATH="$PWD/.venv/bin:$PATH" cargo bench --quiet -p workers-core --bench pipeline
fi
