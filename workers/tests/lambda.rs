//! The Lambda glue driven with real event payloads on the in-memory backend.

mod common;

use aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlRequest;
use aws_lambda_events::event::sqs::SqsEvent;
use base64::Engine;
use common::*;
use serde_json::{Value, json};
use std::time::Duration;
use workers::lambda::http::handle_function_url;
use workers::lambda::sqs::handle_sqs_event;
use workers::{Backend, DispatcherSettings, TaskStatus, ToolBox, WorkerSettings};

fn url_event(
    method: &str,
    path: &str,
    query: Value,
    body: Option<&str>,
    base64: bool,
) -> LambdaFunctionUrlRequest {
    let body = body.map(|b| {
        if base64 {
            base64::engine::general_purpose::STANDARD.encode(b)
        } else {
            b.to_string()
        }
    });
    serde_json::from_value(json!({
        "version": "2.0",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "queryStringParameters": query,
        "requestContext": {
            "accountId": "123456789012",
            "requestId": "r1",
            "domainName": "x.lambda-url.us-east-1.on.aws",
            "domainPrefix": "x",
            "time": "22/Nov/2026:00:00:00 +0000",
            "timeEpoch": 0,
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "t"},
            "authorizer": {"iam": {"accessKey": "AKIA", "accountId": "123456789012", "callerId": "AIDA",
                                   "userArn": BOB, "userId": "AIDA"}}
        },
        "body": body,
        "isBase64Encoded": base64
    }))
    .expect("a Function URL event")
}

#[tokio::test]
async fn the_function_url_routes_work_end_to_end() {
    let backend = Backend::in_memory(test_catalog());
    let d = backend
        .dispatcher(ToolBox::builtin(), DispatcherSettings::default())
        .unwrap();
    let call = |method: &str, path: &str, query: Value, body: Option<&str>, base64: bool| {
        let event = url_event(method, path, query, body, base64);
        let d = &d;
        async move {
            let response = handle_function_url(d, event).await;
            let body: Value = serde_json::from_str(response.body.as_deref().unwrap()).unwrap();
            (response.status_code, body)
        }
    };
    let request =
        r#"{"conversation_id": "c1", "tool": "sentiment", "arguments": {"text": "great"}}"#;
    let (status, ack) = call("POST", "/tasks", json!({}), Some(request), true).await;
    assert_eq!(status, 202, "{ack}");
    let task_id = ack["task_id"].as_str().unwrap().to_string();
    let (status, record) = call("GET", &format!("/tasks/{task_id}"), json!({}), None, false).await;
    assert_eq!((status, record["status"].as_str()), (200, Some("PENDING")));
    let (status, page) = call(
        "GET",
        "/conversations/c1/tasks",
        json!({"limit": "5"}),
        None,
        false,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(page["tasks"][0]["task_id"], task_id.as_str());
    // The same routes, through the store: the caller's IAM ARN is the owner.
    assert_eq!(
        backend.store.get(&task_id).await.unwrap().unwrap().owner,
        BOB
    );
    let (status, cancelled) = call(
        "POST",
        &format!("/tasks/{task_id}/cancel"),
        json!({}),
        None,
        false,
    )
    .await;
    assert_eq!(
        (status, cancelled["cancelled"].as_bool()),
        (200, Some(true))
    );
    let (status, undelivered) = call(
        "GET",
        "/consumers/default/undelivered",
        json!({"limit": "10"}),
        None,
        false,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(undelivered["tasks"][0]["task_id"], task_id.as_str());
    assert_eq!(undelivered["tasks"][0]["status"], "CANCELLED");
    let (status, delivered) = call(
        "POST",
        &format!("/tasks/{task_id}/delivered"),
        json!({}),
        None,
        false,
    )
    .await;
    assert_eq!(
        (status, delivered["delivered"].as_bool()),
        (200, Some(true))
    );
    let (_, undelivered) = call(
        "GET",
        "/consumers/default/undelivered",
        json!({}),
        None,
        false,
    )
    .await;
    assert_eq!(undelivered["tasks"], json!([]));

    let unknown = ulid::Ulid::generate().to_string();
    let cases = [
        (
            "POST",
            "/tasks".to_string(),
            json!({}),
            Some("{"),
            400,
            "request: is not a valid task request",
        ),
        (
            "POST",
            "/tasks".to_string(),
            json!({}),
            Some(r#"{"conversation_id":"c","tool":"nope"}"#),
            400,
            "tool: \"nope\" is not in the tool catalog",
        ),
        (
            "GET",
            format!("/tasks/{unknown}"),
            json!({}),
            None,
            404,
            "not found",
        ),
        (
            "GET",
            "/tasks/nope".to_string(),
            json!({}),
            None,
            400,
            "is not a ULID task id",
        ),
        (
            "GET",
            "/conversations/c1/tasks".to_string(),
            json!({"limit": "x"}),
            None,
            400,
            "limit: must be a whole number",
        ),
        (
            "GET",
            "/conversations/c1/tasks".to_string(),
            json!({"limit": "500"}),
            None,
            400,
            "limit: 500 is outside 1..=100",
        ),
        (
            "DELETE",
            "/tasks".to_string(),
            json!({}),
            None,
            405,
            "method DELETE is not allowed",
        ),
        (
            "GET",
            "/elsewhere".to_string(),
            json!({}),
            None,
            404,
            "no route for GET /elsewhere",
        ),
        (
            "GET",
            "/consumers/Nope/undelivered".to_string(),
            json!({}),
            None,
            400,
            "reply_to: \"Nope\" must be",
        ),
        (
            "PUT",
            "/consumers/default/undelivered".to_string(),
            json!({}),
            None,
            405,
            "method PUT is not allowed",
        ),
    ];
    for (method, path, query, body, expected_status, expected_text) in cases {
        let (status, body) = call(method, &path, query, body, false).await;
        assert_eq!(status, expected_status, "{method} {path}: {body}");
        assert!(
            body["error"].as_str().unwrap().contains(expected_text),
            "{method} {path}: {body}"
        );
    }
    let huge = format!(
        r#"{{"conversation_id":"c","tool":"synthetic","arguments":{{"echo":"{}"}}}}"#,
        "x".repeat(100_000)
    );
    let (status, body) = call("POST", "/tasks", json!({}), Some(&huge), false).await;
    assert_eq!(status, 413, "{body}");
}

#[tokio::test]
async fn an_sqs_event_reports_only_retryable_failures() {
    let backend = Backend::in_memory(test_catalog());
    let d = backend
        .dispatcher(ToolBox::builtin(), DispatcherSettings::default())
        .unwrap();
    let ack = d
        .submit(
            &alice(),
            workers::TaskRequest::new("c1", "sentiment", json!({"text": "awful"})),
        )
        .await
        .unwrap();
    let body = backend.work_queues["sentiment"]
        .receive(1, Duration::ZERO, None)
        .await
        .unwrap()
        .remove(0)
        .body;
    let event: SqsEvent = serde_json::from_value(json!({
        "Records": [
            {"messageId": "m1", "receiptHandle": "h1", "body": body, "attributes": {"ApproximateReceiveCount": "1"},
             "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs", "eventSourceARN": "arn", "awsRegion": "us-east-1"},
            {"messageId": "m2", "receiptHandle": "h2", "body": "garbage", "attributes": {"ApproximateReceiveCount": "2"},
             "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs", "eventSourceARN": "arn", "awsRegion": "us-east-1"}
        ]
    }))
    .unwrap();
    let worker = backend
        .worker(
            "sentiment",
            &ToolBox::builtin(),
            WorkerSettings::new("lambda:test"),
        )
        .unwrap();
    let deadline = workers::clock::now_ms() + 60_000;
    let response = handle_sqs_event(&worker, event, Some(deadline)).await;
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, vec!["m2"]);
    let record = backend.store.get(&ack.task_id).await.unwrap().unwrap();
    assert_eq!(record.status, TaskStatus::Succeeded);
    assert_eq!(record.result.unwrap()["sentiment"], "negative");
    let serialized = serde_json::to_value(&response).unwrap();
    assert_eq!(
        serialized,
        json!({"batchItemFailures": [{"itemIdentifier": "m2"}]})
    );
}
