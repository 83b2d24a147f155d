//! Caller isolation (issue 10, point 3): two principals; another owner's task answers exactly like a
//! missing one, through the dispatcher and through the HTTP routes; idempotency keys are per owner;
//! a router never hands over another owner's result; the Function URL caller is the IAM principal.
//! And a proptest over the HTTP API: random and mutated requests never get a 5xx and never change a
//! task the caller does not own.

mod common;

use aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlRequest;
use common::*;
use proptest::prelude::*;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;
use workers::clock::now_ms;
use workers::delivery::VecSink;
use workers::lambda::http::{
    MAX_REQUEST_BYTES, Reply, function_url_caller, handle_function_url, route,
};
use workers::ports::TaskPage;
use workers::{
    Backend, Caller, Dispatcher, DispatcherSettings, OwnerScope, PipelineError, ResultMessage,
    TaskRecord, TaskRequest, TaskStatus, ToolBox, WorkerSettings,
};

const ALICE_CONVERSATIONS: [&str; 2] = ["alice:conv-1", "alice-conv-2"];
const ALICE_KEY: &str = "alice-key";
const SHARED_CONSUMER: &str = "shared";

/// A memory backend holding Alice's tasks in every state.
struct World {
    backend: Backend,
    dispatcher: Dispatcher,
    /// pending (keyed), succeeded, succeeded + delivered, cancelled, running (reply_to "shared").
    alice_tasks: Vec<String>,
    /// Cursors of Alice's listings (valid ones, for the proptest to reuse).
    cursors: Vec<String>,
}

impl World {
    async fn new() -> World {
        // A store that keeps expired items, as DynamoDB does for days: the dispatcher must hide
        // them itself (the memory store's own expiry is tested in `memory::store`).
        let store = common::never_expiring_store();
        let backend = Backend::in_memory_configured(
            test_catalog(),
            workers::MemorySettings {
                store,
                ..Default::default()
            },
        )
        .unwrap();
        let tools = ToolBox::builtin();
        let dispatcher = backend
            .dispatcher(tools.clone(), DispatcherSettings::default())
            .unwrap();
        let a = alice();
        let [conv1, conv2] = ALICE_CONVERSATIONS;
        let submit = |request: TaskRequest| {
            let (d, a) = (&dispatcher, &a);
            async move { d.submit(a, request).await.unwrap().task_id }
        };
        let pending = submit(TaskRequest {
            idempotency_key: Some(ALICE_KEY.into()),
            ..TaskRequest::new(conv1, "synthetic", json!({"echo": "pending"}))
        })
        .await;
        let succeeded = submit(TaskRequest::new(
            conv1,
            "sentiment",
            json!({"text": "great"}),
        ))
        .await;
        let delivered = submit(TaskRequest::new(
            conv2,
            "sentiment",
            json!({"text": "awful"}),
        ))
        .await;
        let worker = backend
            .worker("sentiment", &tools, WorkerSettings::new("w"))
            .unwrap();
        for m in backend.work_queues["sentiment"]
            .receive(10, Duration::ZERO, None)
            .await
            .unwrap()
        {
            let delivery = workers::Delivery {
                message_id: m.message_id,
                body: m.body,
                receive_count: m.receive_count,
                receipt_handle: None,
            };
            assert!(matches!(
                worker.handle(&delivery, None).await,
                workers::Disposition::Done(_)
            ));
        }
        dispatcher.mark_delivered(&a, &delivered).await.unwrap();
        let cancelled = submit(TaskRequest::new(conv2, "synthetic", json!({}))).await;
        dispatcher.cancel(&a, &cancelled).await.unwrap();
        let running = submit(TaskRequest {
            reply_to: Some(SHARED_CONSUMER.into()),
            ..TaskRequest::new(conv2, "synthetic", json!({"echo": "running"}))
        })
        .await;
        let current = backend.store.get(&running).await.unwrap().unwrap();
        let claimed = current.claim("w", now_ms(), 3_600_000).unwrap();
        backend.store.transition(&current, &claimed).await.unwrap();
        let alice_tasks = vec![pending, succeeded, delivered, cancelled, running];
        let mut cursors = Vec::new();
        for id in &alice_tasks {
            let r = backend.store.get(id).await.unwrap().unwrap();
            cursors.push(format!("{}.{}", r.created_at_ms, r.task_id));
        }
        World {
            backend,
            dispatcher,
            alice_tasks,
            cursors,
        }
    }

    /// Everything of Alice's that another caller must not change.
    async fn alice_snapshot(&self) -> (Vec<TaskRecord>, Vec<TaskPage>) {
        let store = &self.backend.store;
        let mut records = Vec::new();
        for id in &self.alice_tasks {
            records.push(store.get(id).await.unwrap().unwrap());
        }
        let mut pages = Vec::new();
        for conversation in ALICE_CONVERSATIONS {
            pages.push(
                store
                    .list_by_conversation(ALICE, conversation, 100, None)
                    .await
                    .unwrap(),
            );
        }
        for consumer in [DEFAULT_CONSUMER, SHARED_CONSUMER] {
            pages.push(
                store
                    .list_undelivered(ALICE, consumer, 100, None)
                    .await
                    .unwrap(),
            );
        }
        (records, pages)
    }

    async fn call(
        &self,
        caller: &Caller,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&str>,
    ) -> Reply {
        let query: HashMap<String, String> = query
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        route(&self.dispatcher, Some(caller), method, path, &query, body).await
    }
}

/// A reply with every occurrence of `id` replaced, to compare answers about different ids.
fn shape(reply: &Reply, id: &str) -> (u16, String) {
    (reply.status, reply.body.to_string().replace(id, "<id>"))
}

fn not_found_shape(e: PipelineError, id: &str) -> String {
    assert!(matches!(e, PipelineError::NotFound(_)), "{e}");
    e.to_string().replace(id, "<id>")
}

#[tokio::test]
async fn a_task_past_its_ttl_answers_like_a_missing_one_before_dynamodb_deletes_it() {
    let w = World::new().await;
    let a = alice();
    let d = &w.dispatcher;
    let mut expired = w
        .backend
        .store
        .get(&w.alice_tasks[1])
        .await
        .unwrap()
        .unwrap();
    expired.task_id = ulid::Ulid::generate().to_string();
    expired.idempotency_key = None;
    expired.expires_at = now_ms() / 1000 - 1;
    w.backend.store.create(&expired).await.unwrap();
    let id = &expired.task_id;
    assert!(
        w.backend.store.get(id).await.unwrap().is_some(),
        "the item is still stored"
    );
    let unknown = ulid::Ulid::generate().to_string();
    assert_eq!(
        not_found_shape(d.get(&a, id).await.unwrap_err(), id),
        not_found_shape(d.get(&a, &unknown).await.unwrap_err(), &unknown)
    );
    assert_eq!(
        not_found_shape(d.cancel(&a, id).await.unwrap_err(), id),
        not_found_shape(d.cancel(&a, &unknown).await.unwrap_err(), &unknown)
    );
    // One second of life left: still there.
    let mut alive = expired.clone();
    alive.task_id = ulid::Ulid::generate().to_string();
    alive.expires_at = now_ms() / 1000 + 2;
    w.backend.store.create(&alive).await.unwrap();
    assert_eq!(
        d.get(&a, &alive.task_id).await.unwrap().task_id,
        alive.task_id
    );
}

#[tokio::test]
async fn another_owners_task_answers_like_a_missing_one_through_the_dispatcher() {
    let w = World::new().await;
    let (a, b) = (alice(), bob());
    let d = &w.dispatcher;
    let before = w.alice_snapshot().await;
    let unknown = ulid::Ulid::generate().to_string();
    for id in &w.alice_tasks {
        // Alice sees her task.
        assert_eq!(d.get(&a, id).await.unwrap().task_id, *id);
        assert_eq!(
            not_found_shape(d.get(&b, id).await.unwrap_err(), id),
            not_found_shape(d.get(&b, &unknown).await.unwrap_err(), &unknown)
        );
        assert_eq!(
            not_found_shape(d.cancel(&b, id).await.unwrap_err(), id),
            not_found_shape(d.cancel(&b, &unknown).await.unwrap_err(), &unknown)
        );
        assert_eq!(
            not_found_shape(d.mark_delivered(&b, id).await.unwrap_err(), id),
            not_found_shape(d.mark_delivered(&b, &unknown).await.unwrap_err(), &unknown)
        );
    }
    for conversation in ALICE_CONVERSATIONS {
        assert!(
            !d.list(&a, conversation, 10, None)
                .await
                .unwrap()
                .tasks
                .is_empty()
        );
        assert_eq!(
            d.list(&b, conversation, 10, None).await.unwrap(),
            d.list(&b, "never-used", 10, None).await.unwrap()
        );
        // Alice's own cursors lead nowhere for Bob either.
        for cursor in &w.cursors {
            assert_eq!(
                d.list(&b, conversation, 10, Some(cursor)).await.unwrap(),
                TaskPage::new(vec![], false)
            );
        }
    }
    for consumer in [DEFAULT_CONSUMER, SHARED_CONSUMER] {
        assert_eq!(
            d.undelivered(&b, consumer, 10, None).await.unwrap(),
            TaskPage::new(vec![], false)
        );
    }
    assert_eq!(
        d.undelivered(&a, DEFAULT_CONSUMER, 10, None)
            .await
            .unwrap()
            .tasks
            .len(),
        2,
        "Alice's succeeded and cancelled tasks await delivery"
    );
    assert_eq!(
        w.alice_snapshot().await,
        before,
        "nothing of Alice's changed"
    );
}

#[tokio::test]
async fn another_owners_task_answers_like_a_missing_one_through_http() {
    let w = World::new().await;
    let (a, b) = (alice(), bob());
    let before = w.alice_snapshot().await;
    let unknown = ulid::Ulid::generate().to_string();
    for id in &w.alice_tasks {
        for (method, template) in [
            ("GET", "/tasks/{}"),
            ("POST", "/tasks/{}/cancel"),
            ("POST", "/tasks/{}/delivered"),
        ] {
            let theirs = w
                .call(&b, method, &template.replace("{}", id), &[], None)
                .await;
            let missing = w
                .call(&b, method, &template.replace("{}", &unknown), &[], None)
                .await;
            assert_eq!(theirs.status, 404, "{method} {template}: {}", theirs.body);
            assert_eq!(
                shape(&theirs, id),
                shape(&missing, &unknown),
                "{method} {template}"
            );
        }
        let own = w.call(&a, "GET", &format!("/tasks/{id}"), &[], None).await;
        assert_eq!(own.status, 200);
    }
    for conversation in ALICE_CONVERSATIONS {
        let encoded = conversation.replace(':', "%3A");
        for query in [
            vec![],
            vec![("limit", "1")],
            vec![("cursor", w.cursors[0].as_str())],
        ] {
            let theirs = w
                .call(
                    &b,
                    "GET",
                    &format!("/conversations/{encoded}/tasks"),
                    &query,
                    None,
                )
                .await;
            let missing = w
                .call(&b, "GET", "/conversations/never-used/tasks", &query, None)
                .await;
            assert_eq!(theirs.status, 200);
            assert_eq!(theirs, missing, "{conversation} {query:?}");
        }
        let own = w
            .call(
                &a,
                "GET",
                &format!("/conversations/{encoded}/tasks"),
                &[],
                None,
            )
            .await;
        assert!(!own.body["tasks"].as_array().unwrap().is_empty());
    }
    let nobody = Caller::new("local:nobody").unwrap();
    for consumer in [DEFAULT_CONSUMER, SHARED_CONSUMER] {
        let path = format!("/consumers/{consumer}/undelivered");
        let theirs = w.call(&b, "GET", &path, &[], None).await;
        assert_eq!(theirs, w.call(&nobody, "GET", &path, &[], None).await);
        assert_eq!(theirs.body["tasks"], json!([]));
    }
    assert_eq!(
        w.alice_snapshot().await,
        before,
        "nothing of Alice's changed"
    );
}

#[tokio::test]
async fn an_idempotency_key_reused_by_another_owner_neither_conflicts_nor_reveals() {
    let w = World::new().await;
    let b = bob();
    let before = w.alice_snapshot().await;
    let pending = &w.alice_tasks[0];
    // Same conversation id and key as Alice's task, a different request.
    let request = json!({"conversation_id": ALICE_CONVERSATIONS[0], "tool": "synthetic",
                         "arguments": {"echo": "bob's"}, "idempotency_key": ALICE_KEY});
    let reply = w
        .call(&b, "POST", "/tasks", &[], Some(&request.to_string()))
        .await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let bobs = reply.body["task_id"].as_str().unwrap().to_string();
    assert_ne!(&bobs, pending);
    assert_eq!(reply.body["duplicate"], false);
    assert_eq!(reply.body["status"], "PENDING");
    assert!(!reply.body.to_string().contains(pending.as_str()));
    // Alice's exact request by Bob: also his own new task, not Alice's.
    let alices_request = json!({"conversation_id": ALICE_CONVERSATIONS[1], "tool": "synthetic",
                                "arguments": {"echo": "pending"}, "idempotency_key": ALICE_KEY});
    let reply = w
        .call(&b, "POST", "/tasks", &[], Some(&alices_request.to_string()))
        .await;
    assert_eq!(
        (reply.status, &reply.body["duplicate"]),
        (202, &json!(false))
    );
    // Bob's replay finds Bob's task.
    let again = w
        .call(&b, "POST", "/tasks", &[], Some(&request.to_string()))
        .await;
    assert_eq!(again.body["task_id"], bobs.as_str());
    assert_eq!(again.body["duplicate"], true);
    // And Alice's key still leads to Alice's task.
    let alice_replay = json!({"conversation_id": ALICE_CONVERSATIONS[0], "tool": "synthetic",
                              "arguments": {"echo": "pending"}, "idempotency_key": ALICE_KEY});
    let mine = w
        .call(
            &alice(),
            "POST",
            "/tasks",
            &[],
            Some(&alice_replay.to_string()),
        )
        .await;
    assert_eq!(mine.body["task_id"], pending.as_str());
    assert_eq!(mine.body["duplicate"], true);
    let (records, _) = w.alice_snapshot().await;
    // Alice's replay re-enqueued her pending task (noted on the record); nothing else changed.
    assert_eq!(records[1..], before.0[1..]);
    assert_eq!(records[0].owner, ALICE);
    assert_eq!(records[0].arguments, json!({"echo": "pending"}));
}

/// A router of owner B never hands over owner A's result, even when A's result lands on B's
/// consumer queue; A's router gets it by reconciling from the table.
async fn a_router_never_hands_over_another_owners_result(h: Harness) {
    let backend = &h.backend;
    let tools = ToolBox::builtin();
    let d = backend
        .dispatcher(tools.clone(), DispatcherSettings::default())
        .unwrap();
    let (a, b) = (alice(), bob());
    let request = TaskRequest {
        reply_to: Some(SHARED_CONSUMER.into()),
        ..TaskRequest::new("c1", "synthetic", json!({"echo": "alice's secret"}))
    };
    let alices = d.submit(&a, request.clone()).await.unwrap().task_id;
    let bobs = d.submit(&b, request).await.unwrap().task_id;
    let workers = pool(backend, &tools, "w", 1);
    for id in [&alices, &bobs] {
        wait_for(backend, id, Duration::from_secs(20), finished).await;
    }
    workers.stop().await;
    // A forged copy of Alice's result claiming to be Bob's: the table says whose it is.
    let record = get(backend, &alices).await;
    let mut forged = ResultMessage::for_record(&record);
    forged.owner = BOB.into();
    let shared = backend.replies.queue(SHARED_CONSUMER).unwrap();
    shared.send(&forged.to_body()).await.unwrap();

    let mut bobs_router = backend.router(BOB, SHARED_CONSUMER).unwrap();
    let mut sink = VecSink::default();
    assert_eq!(bobs_router.reconcile(&mut sink).await.unwrap(), 1);
    for _ in 0..3 {
        bobs_router
            .poll(&mut sink, Duration::from_millis(500))
            .await
            .unwrap();
    }
    let handed: Vec<&str> = sink.0.iter().map(|r| r.task_id.as_str()).collect();
    assert_eq!(handed, vec![bobs.as_str()], "only Bob's own result");
    assert!(sink.0.iter().all(|r| r.owner == BOB));
    assert!(
        bobs_router.stats.foreign_left >= 1,
        "{:?}",
        bobs_router.stats
    );
    // Alice's message is left on the queue for her router, not destroyed.
    let depth = shared.depth().await.unwrap();
    assert_eq!(depth.visible + depth.in_flight, 1, "{depth:?}");
    let alice_record = get(backend, &alices).await;
    assert!(
        !alice_record.delivered,
        "Bob's router did not mark Alice's task"
    );

    // Alice's router: her result is in the table, undelivered, and reconciled from there.
    let mut alices_router = backend.router(ALICE, SHARED_CONSUMER).unwrap();
    let mut mine = VecSink::default();
    assert_eq!(alices_router.reconcile(&mut mine).await.unwrap(), 1);
    assert_eq!(mine.0.len(), 1);
    assert_eq!(mine.0[0].task_id, alices);
    assert_eq!(
        mine.0[0].result.as_ref().unwrap()["echo"]["echo"],
        "alice's secret"
    );
    assert!(get(backend, &alices).await.delivered);
    assert_eq!(alices_router.reconcile(&mut mine).await.unwrap(), 0, "once");
    // Her message, when her router reads it, is recognised as handed over and settled.
    for _ in 0..3 {
        alices_router
            .poll(&mut mine, Duration::from_millis(500))
            .await
            .unwrap();
    }
    assert_eq!(mine.0.len(), 1, "once");
    let depth = shared.depth().await.unwrap();
    assert_eq!((depth.visible, depth.in_flight), (0, 0), "{depth:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_router_never_hands_over_another_owners_result() {
    let h = harness(Kind::Memory, "router").await.unwrap();
    a_router_never_hands_over_another_owners_result(h).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moto_router_never_hands_over_another_owners_result() {
    let options = HarnessOptions {
        consumers: vec![DEFAULT_CONSUMER.into(), SHARED_CONSUMER.into()],
        ..HarnessOptions::default()
    };
    let Some(h) = harness_with(Kind::Moto, "moto_router", options).await else {
        return;
    };
    a_router_never_hands_over_another_owners_result(h).await;
}

fn url_event(
    method: &str,
    path: &str,
    body: Option<&str>,
    arn: Option<&str>,
) -> LambdaFunctionUrlRequest {
    let mut context = json!({
        "accountId": "123456789012",
        "requestId": "r1",
        "domainName": "x.lambda-url.us-east-1.on.aws",
        "domainPrefix": "x",
        "time": "22/Nov/2026:00:00:00 +0000",
        "timeEpoch": 0,
        "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "t"}
    });
    if let Some(arn) = arn {
        context["authorizer"] = json!({"iam": {"accessKey": "AKIA", "accountId": "123456789012",
            "callerId": "AROA:session", "userArn": arn, "userId": "AROA:session"}});
    }
    serde_json::from_value(json!({
        "version": "2.0",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "requestContext": context,
        "body": body,
        "isBase64Encoded": false
    }))
    .expect("a Function URL event")
}

/// The owner is the whole caller identity: two people on one IAM Identity Center permission set
/// (one role, two session names) are two owners. `OwnerScope::Role` is the explicit option for
/// agent fleets that restart under new session names.
#[tokio::test]
async fn the_function_url_caller_is_the_iam_principal_role_and_session() {
    let sso = |who: &str| {
        format!("arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Dev_0123abcd/{who}")
    };
    let alice = sso("alice@example.com");
    let bob = sso("bob@example.com");
    for scope in [OwnerScope::Session, OwnerScope::Role] {
        let backend = Backend::in_memory(test_catalog());
        let settings = DispatcherSettings {
            owner_scope: scope,
            ..DispatcherSettings::default()
        };
        let d = backend.dispatcher(ToolBox::builtin(), settings).unwrap();
        let event = url_event(
            "POST",
            "/tasks",
            Some(r#"{"conversation_id":"c1","tool":"synthetic","arguments":{"sleep_ms":60000}}"#),
            Some(&alice),
        );
        let expected = match scope {
            OwnerScope::Session => alice.clone(),
            OwnerScope::Role => {
                "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Dev_0123abcd".into()
            }
        };
        assert_eq!(
            function_url_caller(&event, scope).unwrap(),
            Some(Caller::new(&expected).unwrap())
        );
        let response = handle_function_url(&d, event).await;
        assert_eq!(response.status_code, 202, "{:?}", response.body);
        let ack: Value = serde_json::from_str(response.body.as_deref().unwrap()).unwrap();
        let task_id = ack["task_id"].as_str().unwrap().to_string();
        let record = backend.store.get(&task_id).await.unwrap().unwrap();
        assert_eq!(record.owner, expected);
        let call = |method: &'static str, path: String, arn: Option<String>| {
            let event = url_event(method, &path, None, arn.as_deref());
            let d = &d;
            async move { handle_function_url(d, event).await.status_code }
        };
        let read = format!("/tasks/{task_id}");
        let cancel = format!("/tasks/{task_id}/cancel");
        let delivered = format!("/tasks/{task_id}/delivered");
        match scope {
            // Bob, on the same permission set, cannot read, cancel or mark Alice's task.
            OwnerScope::Session => {
                assert_eq!(call("GET", read.clone(), Some(bob.clone())).await, 404);
                assert_eq!(call("POST", cancel.clone(), Some(bob.clone())).await, 404);
                assert_eq!(call("POST", delivered, Some(bob.clone())).await, 404);
                let record = backend.store.get(&task_id).await.unwrap().unwrap();
                assert_eq!(record.status, TaskStatus::Pending, "bob changed nothing");
                assert!(!record.delivered);
            }
            // A fleet on one role: every session owns its tasks.
            OwnerScope::Role => assert_eq!(call("GET", read.clone(), Some(bob.clone())).await, 200),
        }
        assert_eq!(call("GET", read.clone(), Some(alice.clone())).await, 200);
        assert_eq!(
            call(
                "GET",
                read.clone(),
                Some("arn:aws:sts::123456789012:assumed-role/Other/alice@example.com".into())
            )
            .await,
            404
        );
        assert_eq!(
            call("GET", read.clone(), None).await,
            403,
            "no identity: refused, never served as anybody"
        );
        let user = url_event(
            "GET",
            "/",
            None,
            Some("arn:aws:iam::123456789012:user/alice"),
        );
        assert_eq!(
            function_url_caller(&user, scope)
                .unwrap()
                .unwrap()
                .principal,
            "arn:aws:iam::123456789012:user/alice"
        );
        assert_eq!(
            function_url_caller(&url_event("GET", "/", None, None), scope).unwrap(),
            None
        );
        // An ARN that cannot be an owner (a '#', which storage keys use) is refused, not truncated.
        let odd = url_event("GET", &read, None, Some("arn:aws:iam::1:user/a#b"));
        assert!(function_url_caller(&odd, scope).is_err());
        assert_eq!(handle_function_url(&d, odd).await.status_code, 403);
    }
}

// ---- The proptest over the HTTP API ----

#[derive(Debug, Clone)]
enum Segment {
    Word(&'static str),
    AliceTask(usize, Encoding),
    AliceConversation(usize, Encoding),
    Text(String),
    Escapes(Vec<u8>),
}

#[derive(Debug, Clone, Copy)]
enum Encoding {
    Raw,
    Full,
    Lower,
}

fn encode(text: &str, encoding: Encoding) -> String {
    match encoding {
        Encoding::Raw => text.to_string(),
        Encoding::Full => text.bytes().map(|b| format!("%{b:02X}")).collect(),
        Encoding::Lower => text.replace(':', "%3a"),
    }
}

fn encoding() -> impl Strategy<Value = Encoding> {
    prop_oneof![
        Just(Encoding::Raw),
        Just(Encoding::Full),
        Just(Encoding::Lower)
    ]
}

fn segment() -> impl Strategy<Value = Segment> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "tasks", "conversations", "consumers", "cancel", "delivered", "undelivered",
            "default", "shared", "", ".", "..", "TASKS", "tasks%2Fcancel",
        ])
        .prop_map(Segment::Word),
        3 => (0..5usize, encoding()).prop_map(|(i, e)| Segment::AliceTask(i, e)),
        2 => (0..2usize, encoding()).prop_map(|(i, e)| Segment::AliceConversation(i, e)),
        1 => "[ -~]{0,24}".prop_map(Segment::Text),
        1 => any::<String>().prop_map(Segment::Text),
        1 => prop::collection::vec(any::<u8>(), 1..6).prop_map(Segment::Escapes),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
        prop::sample::select(vec![
            "synthetic",
            "sentiment",
            "research",
            "default",
            "shared",
            ALICE_KEY,
            "alice:conv-1",
            "alice-conv-2",
            "a\u{FFFE}b",
            "",
        ])
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{0,10}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

#[derive(Debug, Clone)]
enum Body {
    None,
    /// A valid request to start from, then fields replaced, removed or added.
    Request(Vec<(String, Option<Value>)>),
    Text(String),
    Huge(usize),
    Deep(usize),
}

const REQUEST_FIELDS: [&str; 8] = [
    "version",
    "conversation_id",
    "tool",
    "arguments",
    "idempotency_key",
    "deadline_ms",
    "reply_to",
    "colour",
];

fn body() -> impl Strategy<Value = Body> {
    let mutation = (
        prop::sample::select(REQUEST_FIELDS.to_vec()).prop_map(str::to_string),
        prop::option::weighted(0.8, json_value()),
    );
    prop_oneof![
        2 => Just(Body::None),
        5 => prop::collection::vec(mutation, 0..4).prop_map(Body::Request),
        1 => ".{0,64}".prop_map(Body::Text),
        1 => prop::sample::select(vec![
            r#"{"conversation_id":"c","tool":"synthetic","arguments":{"echo":"\ud800"}}"#,
            r#"{"conversation_id":"c","tool":"synthetic","arguments":{"echo":"\ufffe\uffff"}}"#,
            r#"{"conversation_id":"c\u0000","tool":"synthetic"}"#,
            r#"{"conversation_id":"c","tool":"synthetic","deadline_ms":18446744073709551616}"#,
            r#"{"conversation_id":"c","tool":"synthetic","version":-1}"#,
            "", "null", "[]", "{}", "\u{feff}{}",
        ])
        .prop_map(|s| Body::Text(s.to_string())),
        1 => prop::sample::select(vec![MAX_REQUEST_BYTES + 1, 70_000, 2 * MAX_REQUEST_BYTES])
            .prop_map(Body::Huge),
        1 => (100..400usize).prop_map(Body::Deep),
    ]
}

#[derive(Debug, Clone)]
struct HttpRequest {
    method: &'static str,
    segments: Vec<Segment>,
    trailing_slash: bool,
    query: Vec<(&'static str, QueryValue)>,
    body: Body,
}

#[derive(Debug, Clone)]
enum QueryValue {
    Text(String),
    Number(i64),
    AliceCursor(usize),
}

/// A task id segment: Alice's (raw or percent-encoded), an unknown ULID, or junk.
fn id_segment() -> impl Strategy<Value = Segment> {
    prop_oneof![
        6 => (0..5usize, encoding()).prop_map(|(i, e)| Segment::AliceTask(i, e)),
        1 => Just(Segment::Word("01ARZ3NDEKTSV4RRFFQ69G5FAV")),
        1 => segment(),
    ]
}

fn conversation_segment() -> impl Strategy<Value = Segment> {
    prop_oneof![
        6 => (0..2usize, encoding()).prop_map(|(i, e)| Segment::AliceConversation(i, e)),
        1 => Just(Segment::Word("never-used")),
        1 => segment(),
    ]
}

fn consumer_segment() -> impl Strategy<Value = Segment> {
    prop_oneof![
        6 => prop::sample::select(vec!["default", "shared", "elsewhere"]).prop_map(Segment::Word),
        1 => segment(),
    ]
}

/// One of the API's routes with its usual method, filled with Alice's ids most of the time.
fn route_shaped() -> impl Strategy<Value = (&'static str, Vec<Segment>)> {
    let w = Segment::Word;
    prop_oneof![
        3 => Just(("POST", vec![w("tasks")])),
        3 => id_segment().prop_map(move |id| ("GET", vec![w("tasks"), id])),
        3 => id_segment().prop_map(move |id| ("POST", vec![w("tasks"), id, w("cancel")])),
        3 => id_segment().prop_map(move |id| ("POST", vec![w("tasks"), id, w("delivered")])),
        3 => conversation_segment()
            .prop_map(move |c| ("GET", vec![w("conversations"), c, w("tasks")])),
        2 => consumer_segment()
            .prop_map(move |c| ("GET", vec![w("consumers"), c, w("undelivered")])),
    ]
}

#[derive(Debug, Clone)]
enum Mutation {
    None,
    Method(&'static str),
    Replace(usize, Segment),
    Insert(usize, Segment),
    Drop(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        6 => Just(Mutation::None),
        1 => prop::sample::select(vec!["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "", "get"])
            .prop_map(Mutation::Method),
        1 => (0..4usize, segment()).prop_map(|(i, s)| Mutation::Replace(i, s)),
        1 => (0..4usize, segment()).prop_map(|(i, s)| Mutation::Insert(i, s)),
        1 => (0..4usize).prop_map(Mutation::Drop),
    ]
}

fn http_request() -> impl Strategy<Value = HttpRequest> {
    let random_method = prop::sample::select(vec![
        "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "", "get",
    ]);
    let shape = prop_oneof![
        // Route-shaped requests, then mutated: most reach the handlers.
        4 => (route_shaped(), prop::collection::vec(mutation(), 0..2)).prop_map(
            |((mut method, mut segments), mutations)| {
                for m in mutations {
                    match m {
                        Mutation::None => {}
                        Mutation::Method(other) => method = other,
                        Mutation::Replace(i, s) => {
                            let i = i % segments.len();
                            segments[i] = s;
                        }
                        Mutation::Insert(i, s) => {
                            let i = i % (segments.len() + 1);
                            segments.insert(i, s);
                        }
                        Mutation::Drop(i) => {
                            let i = i % segments.len();
                            segments.remove(i);
                            if segments.is_empty() {
                                segments.push(Segment::Word("tasks"));
                            }
                        }
                    }
                }
                (method, segments)
            }
        ),
        // Anything at all.
        1 => (random_method, prop::collection::vec(segment(), 0..5)),
    ];
    let query_value = prop_oneof![
        ".{0,16}".prop_map(QueryValue::Text),
        any::<i64>().prop_map(QueryValue::Number),
        (-2..120i64).prop_map(QueryValue::Number),
        (0..5usize).prop_map(QueryValue::AliceCursor),
    ];
    let query = prop::collection::vec(
        (
            prop::sample::select(vec!["limit", "cursor", "x"]),
            query_value,
        ),
        0..3,
    );
    (shape, any::<bool>(), query, body()).prop_map(
        |((method, segments), trailing_slash, query, body)| HttpRequest {
            method,
            segments,
            trailing_slash,
            query,
            body,
        },
    )
}

impl World {
    fn render(&self, request: &HttpRequest) -> (String, HashMap<String, String>, Option<String>) {
        let mut path = String::new();
        for segment in &request.segments {
            path.push('/');
            match segment {
                Segment::Word(w) => path.push_str(w),
                Segment::AliceTask(i, e) => path.push_str(&encode(&self.alice_tasks[*i], *e)),
                Segment::AliceConversation(i, e) => {
                    path.push_str(&encode(ALICE_CONVERSATIONS[*i], *e))
                }
                Segment::Text(t) => path.push_str(t),
                Segment::Escapes(bytes) => {
                    for b in bytes {
                        path.push_str(&format!("%{b:02X}"));
                    }
                }
            }
        }
        if request.trailing_slash || path.is_empty() {
            path.push('/');
        }
        let query = request
            .query
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    QueryValue::Text(t) => t.clone(),
                    QueryValue::Number(n) => n.to_string(),
                    QueryValue::AliceCursor(i) => self.cursors[*i].clone(),
                };
                (k.to_string(), v)
            })
            .collect();
        let body = match &request.body {
            Body::None => None,
            Body::Text(t) => Some(t.clone()),
            Body::Huge(n) => Some(format!(
                r#"{{"conversation_id":"c","tool":"synthetic","arguments":{{"echo":"{}"}}}}"#,
                "x".repeat(*n)
            )),
            Body::Deep(n) => Some(format!(
                r#"{{"conversation_id":"c","tool":"synthetic","arguments":{{"echo":{}{}}}}}"#,
                "[".repeat(*n),
                "]".repeat(*n)
            )),
            Body::Request(mutations) => {
                let mut base = json!({
                    "version": 1,
                    "conversation_id": ALICE_CONVERSATIONS[0],
                    "tool": "synthetic",
                    "arguments": {"echo": "pending"},
                    "idempotency_key": ALICE_KEY,
                    "deadline_ms": now_ms() + 3_600_000,
                });
                for (field, value) in mutations {
                    match value {
                        Some(v) => base[field.as_str()] = v.clone(),
                        None => {
                            base.as_object_mut().unwrap().remove(field);
                        }
                    }
                }
                Some(base.to_string())
            }
        };
        (path, query, body)
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Sends `requests` as `caller`; fails on any 5xx, or on an answer that is not an error object or
/// a success.
async fn send_all(
    w: &World,
    caller: &Caller,
    requests: &[HttpRequest],
) -> Result<(), TestCaseError> {
    for request in requests {
        let (path, query, body) = w.render(request);
        let reply = route(
            &w.dispatcher,
            Some(caller),
            request.method,
            &path,
            &query,
            body.as_deref(),
        )
        .await;
        prop_assert!(
            reply.status < 500,
            "{} {path} {query:?} {body:?} -> {} {}",
            request.method,
            reply.status,
            reply.body
        );
        prop_assert!(
            [200, 202, 400, 404, 405, 413].contains(&reply.status),
            "unexpected status {} for {} {path}",
            reply.status,
            request.method
        );
        if reply.status >= 400 {
            prop_assert!(reply.body["error"].is_string(), "{}", reply.body);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn another_owner_never_gets_a_5xx_nor_changes_a_task_it_does_not_own(
        requests in prop::collection::vec(http_request(), 1..6)
    ) {
        runtime().block_on(async {
            let w = World::new().await;
            let before = w.alice_snapshot().await;
            send_all(&w, &bob(), &requests).await?;
            prop_assert_eq!(w.alice_snapshot().await, before);
            // Bob's successful submits are his: none joined Alice's conversations.
            for conversation in ALICE_CONVERSATIONS {
                let page = w.backend.store.list_by_conversation(ALICE, conversation, 100, None).await.unwrap();
                prop_assert!(page.tasks.iter().all(|t| t.owner == ALICE));
            }
            Ok(())
        })?;
    }

    #[test]
    fn the_owner_never_gets_a_5xx_either(
        requests in prop::collection::vec(http_request(), 1..6)
    ) {
        runtime().block_on(async {
            let w = World::new().await;
            send_all(&w, &alice(), &requests).await?;
            // Whatever Alice did, her tasks are still hers and still legal records.
            for id in &w.alice_tasks {
                let record = w.backend.store.get(id).await.unwrap().unwrap();
                prop_assert_eq!(&record.owner, ALICE);
                prop_assert!(record.status != TaskStatus::Pending || record.attempts == 0);
            }
            Ok(())
        })?;
    }
}
