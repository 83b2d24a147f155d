//! The measurements: acknowledgements, fast calls, wake-ups, the flood; and their histograms.

use super::*;

/// Microseconds, 1 µs to 1 h, 3 significant digits.
pub(super) fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).unwrap()
}

pub(super) fn record(h: &mut Histogram<u64>, took: Duration) {
    h.saturating_record((took.as_micros() as u64).max(1));
}

pub(super) fn epoch_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
}

pub(super) fn ms(h: &Histogram<u64>, quantile: f64) -> f64 {
    h.value_at_quantile(quantile) as f64 / 1000.0
}

/// One table row: the label, the count, p50/p90/p99/max in ms, and the target if any.
pub(super) fn row(label: &str, h: &Histogram<u64>, target: Option<f64>) {
    let verdict = match target {
        Some(limit) if ms(h, 0.99) < limit => format!("p99 < {limit} ms: met"),
        Some(limit) => format!("p99 < {limit} ms: MISSED"),
        None => String::new(),
    };
    println!(
        "  {label:<50} {:>6} {:>8.3} {:>8.3} {:>8.3} {:>8.3}   {verdict}",
        h.len(),
        ms(h, 0.5),
        ms(h, 0.9),
        ms(h, 0.99),
        h.max() as f64 / 1000.0,
    );
}

pub(super) fn note(text: &str) {
    println!("  {text}");
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SlowMode {
    Ack,
    Sep2663,
    Sep1686,
    AckStateless,
    AckRaw,
}

impl SlowMode {
    pub(super) const ALL: [SlowMode; 5] = [
        SlowMode::Ack,
        SlowMode::Sep2663,
        SlowMode::Sep1686,
        SlowMode::AckStateless,
        SlowMode::AckRaw,
    ];

    pub(super) fn label(self) -> &'static str {
        match self {
            SlowMode::Ack => "(a) ack mode, session (rmcp, no task support)",
            SlowMode::Sep2663 => "(b) SEP-2663 task (rmcp, tasks extension)",
            SlowMode::Sep1686 => "(c) SEP-1686 task (2025-11-25, raw JSON-RPC)",
            SlowMode::AckStateless => "(d) ack mode, stateless server (rmcp)",
            SlowMode::AckRaw => "(e) ack mode, session, raw JSON-RPC keep-alive",
        }
    }
}

pub(super) enum SlowClient {
    Rmcp(Client),
    Raw(RawClient),
}

/// One slow call, checked to be acknowledged the way `mode` answers; how long the answer took.
pub(super) async fn slow_call(mode: SlowMode, client: &SlowClient, n: usize) -> Duration {
    let args = json!({"topic": format!("ack latency {n}"), "latency_ms": SLOW_RESEARCH_MS});
    let sent = Instant::now();
    match (mode, client) {
        (SlowMode::Ack | SlowMode::AckStateless, SlowClient::Rmcp(client)) => {
            let answer = client
                .call_tool(call("research", args))
                .await
                .expect("tools/call");
            let took = sent.elapsed();
            acked_task(&answer);
            took
        }
        (SlowMode::Sep2663, SlowClient::Rmcp(client)) => {
            let answer = client
                .call_tool_once(call("research", args))
                .await
                .expect("tools/call");
            let took = sent.elapsed();
            match answer {
                CallToolResponse::Task(created) => {
                    assert_eq!(created.task.status, McpTaskStatus::Working)
                }
                other => panic!("expected a task, got {other:?}"),
            }
            took
        }
        (SlowMode::Sep1686, SlowClient::Raw(client)) => {
            let params = json!({"name": "research", "arguments": args, "task": {"ttl": 60_000}});
            let (created, took) = client.request("tools/call", params).await;
            assert_eq!(created["task"]["status"], "working", "{created}");
            took
        }
        (SlowMode::AckRaw, SlowClient::Raw(client)) => {
            let params = json!({"name": "research", "arguments": args});
            let (answer, took) = client.request("tools/call", params).await;
            assert_eq!(answer["structuredContent"]["status"], "working", "{answer}");
            took
        }
        _ => unreachable!("{mode:?} with the wrong client"),
    }
}

/// Section 1: sequential slow calls on a stack of their own without workers.
pub(super) async fn acknowledgements(mode: SlowMode, sizes: &Sizes) -> Histogram<u64> {
    let kind = match mode {
        SlowMode::AckStateless => Kind::Stateless,
        _ => Kind::Session,
    };
    let stack = Stack::start(kind, false, false).await;
    let client = match mode {
        SlowMode::Ack | SlowMode::AckStateless => {
            SlowClient::Rmcp(connect(stack.url(), ClientCapabilities::default()).await)
        }
        SlowMode::Sep2663 => SlowClient::Rmcp(
            connect(
                stack.url(),
                ClientCapabilities::builder().enable_tasks().build(),
            )
            .await,
        ),
        SlowMode::Sep1686 | SlowMode::AckRaw => {
            SlowClient::Raw(RawClient::connect(stack.url()).await)
        }
    };
    for n in 0..sizes.warm_up {
        slow_call(mode, &client, n).await;
    }
    let mut latency = histogram();
    for n in 0..sizes.latency_calls {
        let took = slow_call(mode, &client, n).await;
        record(&mut latency, took);
    }
    match client {
        SlowClient::Rmcp(client) => {
            client.cancel().await.ok();
        }
        SlowClient::Raw(client) => client.close().await,
    }
    stack.stop().await;
    latency
}

/// Section 2: sequential `sentiment` calls from an ack-mode client, answered with their result;
/// and the mean of each stretch of a call, from the task's timestamps (ms, from the table) and the
/// client's clock (the same machine's).
pub(super) async fn fast_calls(sizes: &Sizes) -> (Histogram<u64>, usize, [f64; 4]) {
    let stack = Stack::start(Kind::Session, true, false).await;
    let client = connect(stack.url(), ClientCapabilities::default()).await;
    // The session's conversation handle (an acknowledgement names it), to find the tasks after;
    // that task's result is collected now so it rides along on no measured answer.
    let ack = client
        .call_tool(call(
            "research",
            json!({"topic": "handle", "latency_ms": WAKE_RESEARCH_MS}),
        ))
        .await
        .expect("tools/call");
    let first = acked_task(&ack);
    let handle = ack.structured_content.as_ref().unwrap()["conversation"]
        .as_str()
        .expect("conversation")
        .to_string();
    let collected = client
        .call_tool(task_results(RESULTS_WAIT_S))
        .await
        .expect("task_results");
    assert_eq!(results_of(&collected), [first]);

    let text = |label: &str, n: usize| json!({"text": format!("fast and reliable, {label} {n}")});
    for n in 0..sizes.warm_up {
        client
            .call_tool(call("sentiment", text("warm-up", n)))
            .await
            .expect("tools/call");
    }
    let mut latency = histogram();
    let mut inline = 0;
    let mut times: HashMap<String, (u64, u64)> = HashMap::new();
    for n in 0..sizes.latency_calls {
        let args = text("measured", n);
        let sent_us = epoch_us();
        let sent = Instant::now();
        let answer = client
            .call_tool(call("sentiment", args.clone()))
            .await
            .expect("tools/call");
        record(&mut latency, sent.elapsed());
        let returned_us = epoch_us();
        if answer
            .structured_content
            .as_ref()
            .is_some_and(|s| s.get("sentiment").is_some())
        {
            inline += 1;
        }
        times.insert(
            args["text"].as_str().unwrap().to_string(),
            (sent_us, returned_us),
        );
    }
    // client -> stored, stored -> worker started, run, finished -> answer at the client.
    let mut sums = [0f64; 4];
    let mut counted = 0;
    for task in stack.conversation(&handle).await {
        let Some(&(sent_us, returned_us)) =
            task.arguments["text"].as_str().and_then(|t| times.get(t))
        else {
            continue;
        };
        let (Some(started), Some(finished)) = (task.started_at_ms, task.finished_at_ms) else {
            continue;
        };
        // The table's times are whole ms (floored): +0.5 ms is each one's expected true time, so
        // the stretches that start or end on the client's µs clock are not off by half a ms.
        let [created, started, finished] =
            [task.created_at_ms, started, finished].map(|t| t as f64 + 0.5);
        sums[0] += created - sent_us as f64 / 1000.0;
        sums[1] += started - created;
        sums[2] += finished - started;
        sums[3] += returned_us as f64 / 1000.0 - finished;
        counted += 1;
    }
    let means = sums.map(|s| s / f64::from(counted.max(1)));
    client.cancel().await.ok();
    stack.stop().await;
    (latency, inline, means)
}

/// Section 3: `clients` ack-mode clients at once, each calling `research` and then `task_results`
/// until it returns that result; wake-up = answer at the client - the task's `finished_at_ms`.
pub(super) async fn wake_ups(kind: Kind, sizes: &Sizes) -> Histogram<u64> {
    let stack = Arc::new(Stack::start(kind, true, true).await);
    let stateless = kind != Kind::Session;
    let mut clients = JoinSet::new();
    for c in 0..sizes.wake_clients {
        let stack = stack.clone();
        let calls = sizes.wake_calls_per_client;
        clients.spawn(async move {
            // Each client is a principal of its own, and has a conversation of its own: its
            // session's, or (no sessions) the one it names in `_meta`. (The principal keeps the
            // clients of a stateless server apart even where the server does not take the named
            // conversation: otherwise a finished result rides along on another client's answer.)
            let principal = format!("local:bench-wake-{c}");
            let client =
                connect_as(stack.url(), ClientCapabilities::default(), Some(&principal)).await;
            let handle = format!("bench-wake-{c}");
            let mut wake = histogram();
            for i in 0..calls {
                // 37 is coprime with 200: the calls' latencies cover the spread evenly.
                let spread = ((c * calls + i) as u64 * 37) % WAKE_SPREAD_MS;
                let mut params = call(
                    "research",
                    json!({
                        "topic": format!("wake-up {c}-{i}"),
                        "latency_ms": WAKE_RESEARCH_MS + spread,
                    }),
                );
                if stateless {
                    let mut meta = JsonObject::new();
                    meta.insert(CONVERSATION_META_KEY.to_string(), json!(handle));
                    params.meta = Some(RequestMetaObject::from(meta));
                }
                let ack = client.call_tool(params).await.expect("tools/call");
                let task_id = acked_task(&ack);
                let mut results = task_results(RESULTS_WAIT_S);
                if stateless {
                    // The conversation the acknowledgement names.
                    results.arguments.get_or_insert_default().insert(
                        "conversation".into(),
                        ack.structured_content.as_ref().unwrap()["conversation"].clone(),
                    );
                }
                let answer = client.call_tool(results).await.expect("task_results");
                let returned_us = epoch_us();
                assert_eq!(results_of(&answer), std::slice::from_ref(&task_id));
                let finished_ms = stack
                    .get(&task_id)
                    .await
                    .finished_at_ms
                    .expect("finished_at_ms");
                let woke_us = returned_us.saturating_sub(finished_ms * 1000);
                wake.saturating_record(woke_us.max(1));
            }
            client.cancel().await.ok();
            wake
        });
    }
    let mut wake = histogram();
    while let Some(done) = clients.join_next().await {
        wake.add(done.expect("a wake-up client")).unwrap();
    }
    Arc::into_inner(stack).expect("clients done").stop().await;
    wake
}

pub(super) struct Flood {
    pub(super) acks: Histogram<u64>,
    pub(super) total: usize,
    pub(super) acked_in: Duration,
    pub(super) collected_in: Duration,
    pub(super) by_task_results: usize,
    pub(super) riding_along: usize,
    pub(super) missing: usize,
    pub(super) twice: usize,
    pub(super) foreign: usize,
    pub(super) stored_once: usize,
}

/// Section 4: every client's calls in flight at once, then every result collected by its client.
pub(super) async fn flood(sizes: &Sizes) -> Flood {
    // Each client a principal of its own, as 50 users would be (one principal may have only a few
    // calls waiting at once: `task_results` with `wait_s` is one).
    let stack = Stack::start(Kind::Session, true, true).await;
    let mut clients = Vec::new();
    for c in 0..sizes.flood_clients {
        let principal = format!("local:bench-flood-{c}");
        clients.push(Arc::new(
            connect_as(stack.url(), ClientCapabilities::default(), Some(&principal)).await,
        ));
    }
    let started = Instant::now();
    let mut calls = JoinSet::new();
    for (c, client) in clients.iter().enumerate() {
        for i in 0..sizes.calls_per_client {
            let client = client.clone();
            calls.spawn(async move {
                let args =
                    json!({"topic": format!("flood {c}-{i}"), "latency_ms": FLOOD_RESEARCH_MS});
                let sent = Instant::now();
                let answer = client
                    .call_tool(call("research", args))
                    .await
                    .expect("tools/call");
                (
                    c,
                    sent.elapsed(),
                    acked_task(&answer),
                    riding_along(&answer),
                )
            });
        }
    }
    let mut acks = histogram();
    let mut acked: Vec<HashSet<String>> = vec![HashSet::new(); clients.len()];
    // How often each client was handed each task id, by either way.
    let mut handed: Vec<HashMap<String, usize>> = vec![HashMap::new(); clients.len()];
    let mut riding = 0;
    while let Some(done) = calls.join_next().await {
        let (c, took, task_id, along) = done.expect("a call");
        record(&mut acks, took);
        acked[c].insert(task_id);
        riding += along.len();
        for id in along {
            *handed[c].entry(id).or_default() += 1;
        }
    }
    let acked_in = started.elapsed();

    let mut collectors = JoinSet::new();
    for (c, client) in clients.iter().enumerate() {
        let client = client.clone();
        let expected = acked[c].len();
        let mut seen: HashSet<String> = handed[c].keys().cloned().collect();
        collectors.spawn(async move {
            let mut returned = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(120);
            while seen.len() < expected && Instant::now() < deadline {
                let answer = client
                    .call_tool(task_results(RESULTS_WAIT_S))
                    .await
                    .expect("task_results");
                for id in results_of(&answer) {
                    seen.insert(id.clone());
                    returned.push(id);
                }
            }
            // Nothing is handed over a second time.
            let again = client
                .call_tool(task_results(0))
                .await
                .expect("task_results");
            returned.extend(results_of(&again));
            (c, returned)
        });
    }
    let mut by_task_results = 0;
    while let Some(done) = collectors.join_next().await {
        let (c, returned) = done.expect("a collector");
        by_task_results += returned.len();
        for id in returned {
            *handed[c].entry(id).or_default() += 1;
        }
    }
    let collected_in = started.elapsed();

    let (mut missing, mut twice, mut foreign) = (0, 0, 0);
    for (acked, handed) in acked.iter().zip(&handed) {
        missing += acked.iter().filter(|id| !handed.contains_key(*id)).count();
        twice += handed.values().filter(|&&n| n > 1).count();
        foreign += handed.keys().filter(|id| !acked.contains(*id)).count();
    }
    // The table agrees: each ran once, succeeded, and is marked handed over.
    let mut stored_once = 0;
    for id in acked.iter().flatten() {
        let task = stack.get(id).await;
        if task.status == workers::TaskStatus::Succeeded && task.attempts == 1 && task.delivered {
            stored_once += 1;
        }
    }
    let total = acked.iter().map(HashSet::len).sum();
    for client in clients {
        if let Ok(client) = Arc::try_unwrap(client) {
            client.cancel().await.ok();
        }
    }
    stack.stop().await;
    Flood {
        acks,
        total,
        acked_in,
        collected_in,
        by_task_results,
        riding_along: riding,
        missing,
        twice,
        foreign,
        stored_once,
    }
}
