//! Shared capacity, arrivals, failures, timeouts, cold starts, follow-ups and cost.

mod common;

use sim::output::report::Report;
use sim::run::metrics::Metric;
use sim::{Policy, RunOptions, simulate};

fn run(text: &str, sessions: u64, policies: Vec<Policy>) -> sim::run::tally::RunResults {
    let scenario = common::scenario(text);
    let opts = RunOptions {
        sessions,
        seed: 17,
        threads: Some(1),
        policies,
    };
    simulate(&scenario, &opts, &|_| {}).unwrap()
}

/// P(wait > 0) for M/M/c with offered load a = λ/μ (Erlang's C formula).
fn erlang_c(c: u32, a: f64) -> f64 {
    let mut term = 1.0; // a^k / k!
    let mut sum = 0.0;
    for k in 0..c {
        sum += term;
        term *= a / (k + 1) as f64;
    }
    let top = term * c as f64 / (c as f64 - a);
    top / (sum + top)
}

#[test]
fn tool_queue_wait_matches_erlang_c() {
    let (c, mean_s) = (4u32, 0.1);
    for (rho, sessions) in [(0.5, 400_000u64), (0.9, 2_000_000)] {
        let lambda = rho * c as f64 / mean_s;
        let text = format!(
            "[model]\nturn = \"0s\"\n[tools.t]\nlatency = {{ dist = \"exponential\", mean = \"100ms\" }}\n\
             concurrency = {c}\n[plan]\nrounds = [[\"t\"]]\n[workload]\narrival = \"poisson\"\nrate_per_s = {lambda}\n"
        );
        let results = run(&text, sessions, vec![Policy::ASYNC]);
        let wait = results.metrics[0].get(Metric::ToolQueueWait);
        assert_eq!(wait.count(), sessions);
        let simulated = wait.mean() / 1e9;
        let mu = 1.0 / mean_s;
        let expected = erlang_c(c, lambda / mu) / (c as f64 * mu - lambda);
        let err = (simulated - expected).abs() / expected;
        eprintln!("M/M/{c} at ρ={rho}: mean wait {simulated:.6} s, Erlang C {expected:.6} s");
        assert!(
            err < 0.03,
            "ρ={rho}: mean wait {simulated:.5} s vs Erlang C {expected:.5} s ({:.1}% off)",
            err * 100.0
        );
        let util = results.resources[0][1].utilisation.unwrap();
        assert!((util - rho).abs() < 0.01, "utilisation {util} vs {rho}");
    }
}

const TIMEOUT: &str = r#"
[model]
turn = "100ms"
[tools.slow]
latency = "10s"
timeout = "2s"
[plan]
rounds = [["slow"]]
[user]
followups = 1
gap = "500ms"
"#;

#[test]
fn a_timeout_caps_the_sync_wait_and_async_answers_follow_ups_before_it() {
    let r = run(TIMEOUT, 100, vec![Policy::SYNC, Policy::ASYNC]);
    let sync = &r.metrics[0];
    // turn 0 (0.1 s) → the call times out 2 s later → the final turn (0.1 s) answers both
    assert_eq!(sync.get(Metric::Makespan).max(), 2_200_000_000);
    assert_eq!(sync.get(Metric::Makespan).min(), 2_200_000_000);
    assert_eq!(sync.get(Metric::TimedOutCalls).mean(), 1.0);
    // the follow-up at 0.5 s waits for the timeout in sync: answered at 2.2 s
    assert_eq!(sync.get(Metric::ReplyLatency).max(), 1_700_000_000);
    // async answers it in its next turn: 0.5 s + 0.1 s, long before the 2.1 s timeout
    let asynchronous = &r.metrics[1];
    assert_eq!(asynchronous.get(Metric::ReplyLatency).max(), 100_000_000);
    assert_eq!(asynchronous.get(Metric::TimedOutCalls).mean(), 1.0);
}

#[test]
fn retries_are_bounded_and_failures_follow_the_configured_rate() {
    let text = r#"
        [model]
        turn = "0s"
        [tools.flaky]
        latency = { dist = "exponential", mean = "50ms" }
        failure_rate = 0.3
        retries = 2
        backoff = "10ms"
        [tools.once]
        latency = "20ms"
        failure_rate = 0.25
        [plan]
        rounds = [["flaky", "once"]]
    "#;
    let sessions = 50_000u64;
    let r = run(text, sessions, vec![Policy::SYNC]);
    let m = &r.metrics[0];
    // flaky: at most 2 retries per call; once: never retried
    assert!(m.get(Metric::Retries).max() <= 2);
    // expected retries per session: p + p² = 0.39
    let retries = m.get(Metric::Retries).mean();
    assert!((retries - 0.39).abs() < 0.02, "{retries}");
    // failed calls per session: flaky fails all 3 attempts (p³ = 0.027) + once (0.25)
    let p = 0.027 + 0.25;
    let n = sessions as f64;
    let failed = m.get(Metric::FailedCalls).mean();
    let sd = ((0.027 * 0.973 + 0.25 * 0.75) / n).sqrt();
    assert!(
        (failed - p).abs() < 4.0 * sd,
        "failed per session {failed}, expected {p} ± {}",
        4.0 * sd
    );
}

fn cold_scenario(keep_warm: &str, arrival: &str) -> String {
    format!(
        "[model]\nturn = \"10ms\"\n[tools.fn]\nlatency = \"100ms\"\ncold_start = \"1s\"\nkeep_warm = \"{keep_warm}\"\n\
         [plan]\nrounds = [[\"fn\"], [\"fn\"]]\n[workload]\n{arrival}\n"
    )
}

#[test]
fn cold_starts_follow_the_warm_pool() {
    let one_at_a_time = "arrival = \"closed\"\nusers = 1\nthink = \"30s\"";
    // keep_warm 0: every attempt is cold
    let r = run(&cold_scenario("0s", one_at_a_time), 200, vec![Policy::SYNC]);
    assert_eq!(r.metrics[0].get(Metric::ColdStarts).mean(), 2.0);
    assert_eq!(r.resources[0][1].cold_starts, 400);
    // a long keep_warm, one session at a time: only the very first attempt is cold
    let r = run(&cold_scenario("1h", one_at_a_time), 200, vec![Policy::SYNC]);
    assert_eq!(r.resources[0][1].cold_starts, 1);
    // and a cold start adds its latency: session 0 is 1 s slower than the others
    assert_eq!(
        r.metrics[0].get(Metric::Makespan).max() - r.metrics[0].get(Metric::Makespan).min(),
        1_000_000_000
    );
}

#[test]
fn model_concurrency_makes_turns_wait() {
    let text = r#"
        [model]
        turn = "1s"
        concurrency = 1
        [tools.t]
        latency = "0s"
        [plan]
        rounds = [["t"]]
    "#;
    // 3 sessions at once, one model slot, FIFO: turn 0s run 0–1, 1–2, 2–3 s (waits 0, 1, 2 s);
    // each session's second turn is asked for when its first ends and runs 3–4, 4–5, 5–6 s
    // (waits 2, 2, 2 s): 9 s of waiting over 6 turns.
    let r = run(text, 3, vec![Policy::SYNC]);
    let wait = r.metrics[0].get(Metric::ModelQueueWait);
    assert_eq!(wait.count(), 6);
    assert_eq!(wait.max(), 2_000_000_000);
    assert_eq!(wait.mean(), 1.5e9);
    assert_eq!(r.metrics[0].get(Metric::Makespan).max(), 6_000_000_000);
    assert!((r.resources[0][0].utilisation.unwrap() - 1.0).abs() < 1e-9);
}

#[test]
fn cost_matches_a_hand_computation() {
    let text = r#"
        [model]
        turn = "1s"
        [tools.a]
        latency = "2s"
        memory_mb = 1024
        [plan]
        rounds = [["a", "a"]]
        [cost]
        input_usd_per_mtok = 3.0
        output_usd_per_mtok = 15.0
        prompt_tokens = 1000
        result_tokens = 200
        call_tokens = 50
        message_tokens = 100
        lambda_usd_per_gb_s = 0.00001
        lambda_usd_per_request = 0.0000002
        sqs_usd_per_request = 0.0000004
        dynamodb_usd_per_write_unit = 0.000001
        dynamodb_usd_per_read_unit = 0.0000002
        [cost.pipeline]
        write_units = 3.0
        read_units = 1.0
        sqs_requests = 6.0
        dispatcher_gb_s = 0.01
        worker_overhead_s = 0.02
    "#;
    let r = run(text, 10, vec![Policy::SYNC, Policy::ASYNC]);
    // sync: turn 0 reads 0, writes 2 calls: in 1000, out 2·50 + 100 = 200 → context 200
    //       turn 1 reads 2: in 1000 + 200 + 2·200 = 1600, out 100
    //       tokens in 2600, out 300 → 2600·3e-6 + 300·15e-6 = 0.0078 + 0.0045 = 0.0123
    //       lambda: 2 calls × (1 GB × 2 s × 1e-5 + 2e-7) = 4.04e-5
    let sync_model = 0.0123;
    let sync_infra = 2.0 * (2.0 * 0.00001 + 0.0000002);
    // async: turn 0 as above (in 1000, out 200); the two results arrive together, one turn reads
    // both: the same tokens. Infra adds per call: dispatcher request 2e-7 and 0.01 GB-s, the
    // worker's own 0.02 s at 1 GB, SQS 6 × 4e-7, DynamoDB 3 write units × 1e-6 + 1 read × 2e-7.
    let async_infra = sync_infra
        + 2.0
            * (0.0000002 + (0.01 + 0.02) * 0.00001 + 6.0 * 0.0000004 + 3.0 * 0.000001 + 0.0000002);
    let close = |got: f64, want: f64| assert!((got - want).abs() < 1e-12, "{got} vs {want}");
    close(
        r.metrics[0].get(Metric::ModelCostUsd).mean() * 1e-12,
        sync_model,
    );
    close(
        r.metrics[0].get(Metric::InfraCostUsd).mean() * 1e-12,
        sync_infra,
    );
    close(
        r.metrics[0].get(Metric::CostUsd).mean() * 1e-12,
        sync_model + sync_infra,
    );
    close(
        r.metrics[1].get(Metric::ModelCostUsd).mean() * 1e-12,
        sync_model,
    );
    close(
        r.metrics[1].get(Metric::InfraCostUsd).mean() * 1e-12,
        async_infra,
    );
    assert_eq!(r.metrics[0].get(Metric::InputTokens).mean(), 2600.0);
    assert_eq!(r.metrics[0].get(Metric::OutputTokens).mean(), 300.0);
}

#[test]
fn streamed_dispatch_starts_calls_as_they_are_generated() {
    let base = r#"
        [model]
        turn = "1s"
        per_call = "500ms"
        [tools.t]
        latency = "1s"
        [plan]
        rounds = [["t", "t", "t"]]
    "#;
    let plain = run(base, 1, vec![Policy::SYNC]);
    let streamed = run(
        &base.replace(
            "per_call = \"500ms\"",
            "per_call = \"500ms\"\nstreamed_dispatch = true",
        ),
        1,
        vec![Policy::SYNC],
    );
    // plain: turn 0 ends at 1 + 3·0.5 = 2.5 s, calls end 3.5 s, final turn 1 s → 4.5 s
    assert_eq!(plain.metrics[0].get(Metric::Makespan).max(), 4_500_000_000);
    // streamed: the last call is generated at 2.5 s too, so the makespan is the same, but the
    // first call starts at 1.5 s; with one call per round the gain shows:
    assert_eq!(
        streamed.metrics[0].get(Metric::Makespan).max(),
        4_500_000_000
    );
    let one = base.replace("[\"t\", \"t\", \"t\"]", "[\"t\"], [\"t\"]");
    let s1 = run(
        &one.replace(
            "per_call = \"500ms\"",
            "per_call = \"500ms\"\nstreamed_dispatch = true",
        ),
        1,
        vec![Policy::ASYNC],
    );
    let p1 = run(&one, 1, vec![Policy::ASYNC]);
    assert_eq!(
        s1.metrics[0].get(Metric::Makespan).max(),
        p1.metrics[0].get(Metric::Makespan).max()
    );
}

#[test]
fn shared_runs_are_reproducible_and_paired() {
    let text = r#"
        [model]
        turn = { dist = "lognormal", median = "300ms", sigma = 0.5 }
        concurrency = 8
        [tools.search]
        latency = { dist = "lognormal", median = "1s", sigma = 0.8 }
        concurrency = 4
        cold_start = "300ms"
        keep_warm = "2s"
        [tools.lookup]
        latency = { dist = "exponential", mean = "100ms" }
        concurrency = 2
        failure_rate = 0.05
        retries = 1
        [plan]
        rounds = [["search", "lookup"], ["lookup"]]
        [workload]
        arrival = "poisson"
        rate_per_s = 3.0
        [user]
        followups = 1
        gap = { dist = "exponential", mean = "2s" }
    "#;
    let scenario = common::scenario(text);
    let json = |threads| {
        let opts = RunOptions {
            sessions: 3_000,
            seed: 4,
            threads: Some(threads),
            policies: vec![Policy::SYNC, Policy::ASYNC],
        };
        Report::new(&scenario, &simulate(&scenario, &opts, &|_| {}).unwrap()).to_json()
    };
    let one = json(1);
    assert_eq!(one, json(2));
    let v: serde_json::Value = serde_json::from_str(&one).unwrap();
    assert_eq!(v["run"]["shared_capacity"], true);
    assert_eq!(v["comparisons"][0]["sessions"], 3000);
    assert!(
        v["policies"][0]["metrics"]["tool_queue_wait"]["count"]
            .as_u64()
            .unwrap()
            >= 9000
    );
    assert!(v["policies"][1]["resources"].as_array().unwrap().len() == 3);
}
