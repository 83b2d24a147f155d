//! Event payloads as the AWS services send them to the functions: an SQS event source batch, a
//! Function URL request (payload version 2.0, AWS_IAM auth) and an EventBridge scheduled event.

use aws_sdk_sqs::types::Message;
use serde_json::{Map, Value, json};

pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";

/// The SQS event source's batch for messages received from the queue `queue_arn`: each record
/// carries the message's own id, receipt handle, body, MD5 and system attributes.
pub fn sqs_batch(messages: &[&Message], queue_arn: &str) -> Value {
    let records: Vec<Value> = messages
        .iter()
        .map(|m| {
            let attributes: Map<String, Value> = m
                .attributes
                .iter()
                .flatten()
                .map(|(k, v)| (k.as_str().to_string(), Value::String(v.clone())))
                .collect();
            json!({
                "messageId": m.message_id,
                "receiptHandle": m.receipt_handle,
                "body": m.body,
                "attributes": attributes,
                "messageAttributes": {},
                "md5OfBody": m.md5_of_body,
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": REGION,
            })
        })
        .collect();
    json!({ "Records": records })
}

/// A Function URL request. `caller_arn` is the IAM principal Lambda authenticated (`None`: the
/// request context has no authorizer at all).
pub fn function_url(
    method: &str,
    path: &str,
    caller_arn: Option<&str>,
    body: Option<&str>,
) -> Value {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64;
    let url_id = "abcdefghijklmnopqrstuvwxyz012345";
    let mut context = json!({
        "accountId": "anonymous",
        "apiId": url_id,
        "domainName": format!("{url_id}.lambda-url.{REGION}.on.aws"),
        "domainPrefix": url_id,
        "http": {
            "method": method,
            "path": path,
            "protocol": "HTTP/1.1",
            "sourceIp": "203.0.113.7",
            "userAgent": "asynctools-test"
        },
        "requestId": ulid::Ulid::generate().to_string().to_lowercase(),
        "routeKey": "$default",
        "stage": "$default",
        "time": "01/Dec/2026:10:00:00 +0000",
        "timeEpoch": now
    });
    if let Some(arn) = caller_arn {
        context["accountId"] = json!(ACCOUNT);
        context["authorizer"] = json!({
            "iam": {
                "accessKey": "ASIAEXAMPLEEXAMPLE00",
                "accountId": ACCOUNT,
                "callerId": "AROAEXAMPLEEXAMPLE000:session",
                "cognitoIdentity": null,
                "principalOrgId": null,
                "userArn": arn,
                "userId": "AROAEXAMPLEEXAMPLE000:session"
            }
        });
    }
    let mut headers = json!({
        "host": format!("{url_id}.lambda-url.{REGION}.on.aws"),
        "user-agent": "asynctools-test",
        "x-amzn-trace-id": "Root=1-00000000-000000000000000000000000",
        "x-forwarded-proto": "https"
    });
    if body.is_some() {
        headers["content-type"] = json!("application/json");
    }
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": context,
        "body": body,
        "isBase64Encoded": false
    })
}

/// What EventBridge sends on a schedule (the sweeper ignores its content).
pub fn scheduled(rule: &str) -> Value {
    json!({
        "version": "0",
        "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": "2026-12-01T10:00:00Z",
        "region": REGION,
        "resources": [format!("arn:aws:events:{REGION}:{ACCOUNT}:rule/{rule}")],
        "detail": {}
    })
}
