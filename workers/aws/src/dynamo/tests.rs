//! Unit tests of `dynamo.rs` (kept beside it, out of its way).

use super::*;
use crate::record::{NewTask, Outcome};
use serde_json::json;

fn finished() -> TaskRecord {
    let arguments = json!({"x": [1, 2.5, "é"], "": null});
    let task = NewTask {
        idempotency_key: Some("k".into()),
        deadline_ms: Some(9_000),
        ..NewTask::new(
            "01ARZ3NDEKTSV4RRFFQ69G5FAV",
            "alice",
            "c1",
            "synthetic",
            arguments,
        )
    };
    let pending = TaskRecord::pending(task, 1_000, 1);
    pending
        .claim("w", 2_000, 30_000)
        .unwrap()
        .finish(
            Outcome::Succeeded(json!({"big": 12345678901234567u64})),
            3_000,
        )
        .unwrap()
}

#[test]
fn items_keep_their_stored_shape_and_read_back_exactly() {
    let record = finished();
    let item = to_item(&record).unwrap();
    let s = |name: &str| item[name].as_s().unwrap().clone();
    let n = |name: &str| item[name].as_n().unwrap().clone();
    assert_eq!(s("arguments_json"), record.arguments.to_string());
    assert_eq!(s("result_json"), r#"{"big":12345678901234567}"#);
    assert_eq!(s(CONVERSATION_KEY), "alice#c1");
    assert_eq!(s(OPEN_KEY), record.open_shard().unwrap().to_string());
    assert_eq!(s(UNDELIVERED_KEY), "alice#default");
    assert_eq!((n(CREATED_KEY), n("attempts")), ("1000".into(), "1".into()));
    assert_eq!(s("status"), "SUCCEEDED");
    assert!(item["result_published"].as_bool().is_ok());
    for absent in ["arguments", "result", "claim_message_id"] {
        assert!(!item.contains_key(absent), "{absent}");
    }
    assert_eq!(from_item(item).unwrap(), record);
    // Published and delivered: out of both sparse indexes.
    let settled = record.mark_published(4_000).mark_delivered(5_000);
    let item = to_item(&settled).unwrap();
    assert!(!item.contains_key(OPEN_KEY) && !item.contains_key(UNDELIVERED_KEY));
    assert_eq!(from_item(item).unwrap(), settled);
}

/// An item's size as DynamoDB counts it (its "Item sizes and formats" rules): attribute names
/// plus values; a number 1 byte per two significant digits plus 1; a map or list 3 bytes plus
/// 1 per element.
fn dynamo_item_size(item: &Item) -> usize {
    fn value(v: &AttributeValue) -> usize {
        match v {
            AttributeValue::S(s) => s.len(),
            AttributeValue::N(n) => {
                let digits = n.trim_start_matches('-').replace('.', "");
                let significant = digits.trim_start_matches('0').trim_end_matches('0');
                significant.len().max(1).div_ceil(2) + 1
            }
            AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
            AttributeValue::M(m) => {
                3 + m.iter().map(|(k, v)| k.len() + value(v) + 1).sum::<usize>()
            }
            AttributeValue::L(l) => 3 + l.iter().map(|v| value(v) + 1).sum::<usize>(),
            other => panic!("not in a task item: {other:?}"),
        }
    }
    item.iter().map(|(name, v)| name.len() + value(v)).sum()
}

/// `ports::stored_bytes`, which every store checks against `MAX_RECORD_BYTES`, never counts
/// less than DynamoDB does, whatever the text (escapes, U+FFFF, long errors, set aside).
#[test]
fn stored_bytes_bound_dynamodbs_item_size() {
    let base = finished();
    let mut records = vec![base.clone(), base.mark_published(4_000)];
    let mut awkward = base.clone();
    awkward.result =
        Some(json!({"s": "\u{ffff}\"\\\n\u{1}é".repeat(5_000), "n": [1, 2.5, -0.001]}));
    records.push(awkward);
    let pending = TaskRecord::pending(
        NewTask::new("01ARZ3NDEKTSV4RRFFQ69G5FAV", "é#x", "c", "t", json!({})),
        1,
        1,
    );
    records.push(pending.mark_set_aside(&"reason ".repeat(1_000), 2));
    let mut failed = pending.claim("w", 3, 10).unwrap();
    failed.error = Some(crate::record::TaskError::new(
        crate::record::ErrorKind::ToolFailed,
        "\u{0}".repeat(100_000),
    ));
    records.push(failed);
    for record in records {
        let item = to_item(&record).unwrap();
        let (ours, dynamo) = (ports::stored_bytes(&record), dynamo_item_size(&item));
        assert!(ours >= dynamo, "{ours} < {dynamo} for {:?}", record.status);
    }
}

#[test]
fn a_corrupt_item_names_its_key_and_field() {
    let mut item = to_item(&finished()).unwrap();
    item.insert("arguments_json".into(), AttributeValue::S("{".into()));
    let err = from_item(item).unwrap_err().to_string();
    assert!(
        err.starts_with("stored item 01ARZ3NDEKTSV4RRFFQ69G5FAV is corrupt: arguments_json:"),
        "{err}"
    );
}
