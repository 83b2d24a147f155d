//! Unit tests of `dynamo.rs` (kept beside it, out of its way).

use super::size::{number_size, value_size};
use super::*;
use serde_json::json;

#[test]
fn sizes_follow_the_documented_rules() {
    assert_eq!(number_size("1"), 2);
    assert_eq!(number_size("1700000000123"), 8);
    assert_eq!(number_size("100"), 2);
    // Three significant digits (two bytes), one byte more, one more for the sign.
    assert_eq!(number_size("-12.50"), 4);
    assert_eq!(value_size(&json!({"S": "héllo"})).unwrap(), 6);
    assert_eq!(value_size(&json!({"BOOL": true})).unwrap(), 1);
    // 3 + (1 + 1) + (2 + 1)
    assert_eq!(
        value_size(&json!({"L": [{"S": "a"}, {"N": "12"}]})).unwrap(),
        8
    );
    // 3 + (1 + 1 + 1)
    assert_eq!(value_size(&json!({"M": {"k": {"S": "v"}}})).unwrap(), 6);
    let item = to_item(&json!({"task_id": {"S": "abc"}, "n": {"N": "5"}})).unwrap();
    assert_eq!(item_size(&item).unwrap(), 7 + 3 + 1 + 2);
}

fn schema() -> Value {
    json!({
        "TableName": "T",
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
        "GlobalSecondaryIndexes": [
            {"IndexName": "open", "KeySchema": [{"AttributeName": "shard", "KeyType": "HASH"}],
             "Projection": {"ProjectionType": "ALL"}},
            {"IndexName": "slim", "KeySchema": [{"AttributeName": "owner", "KeyType": "HASH"}],
             "Projection": {"ProjectionType": "KEYS_ONLY"}}
        ]
    })
}

#[test]
fn index_writes_follow_membership_and_key_changes() {
    let mut model = Model::default();
    model.create_table(&schema()).unwrap();
    let put = json!({"TableName": "T", "Item": {"id": {"S": "a"}, "shard": {"S": "1"}, "owner": {"S": "o"}}});
    let c = model
        .apply("PutItem", &put, Outcome::Ok, &Value::Null)
        .unwrap();
    assert_eq!(c.write_units["table"], 1.0);
    assert_eq!(c.write_units["index open"], 1.0);
    assert_eq!(c.write_units["index slim"], 1.0);
    // A change of a projected attribute: the ALL index is written, the KEYS_ONLY one is not.
    let update = json!({"TableName": "T", "Key": {"id": {"S": "a"}},
        "UpdateExpression": "SET #v = :v", "ExpressionAttributeNames": {"#v": "v"},
        "ExpressionAttributeValues": {":v": {"N": "2"}}});
    let c = model
        .apply("UpdateItem", &update, Outcome::Ok, &Value::Null)
        .unwrap();
    assert_eq!(c.write_units.get("index open"), Some(&1.0));
    assert_eq!(c.write_units.get("index slim"), None);
    // Changing the index key: a delete and a put.
    let update = json!({"TableName": "T", "Key": {"id": {"S": "a"}},
        "UpdateExpression": "SET shard = :s", "ExpressionAttributeValues": {":s": {"S": "2"}}});
    let c = model
        .apply("UpdateItem", &update, Outcome::Ok, &Value::Null)
        .unwrap();
    assert_eq!(c.write_units["index open"], 2.0);
    // Leaving the index.
    let update =
        json!({"TableName": "T", "Key": {"id": {"S": "a"}}, "UpdateExpression": "REMOVE shard"});
    let c = model
        .apply("UpdateItem", &update, Outcome::Ok, &Value::Null)
        .unwrap();
    assert_eq!(c.write_units["index open"], 1.0);
    // A refused conditional write: the table only.
    let c = model
        .apply("PutItem", &put, Outcome::ConditionFailed, &Value::Null)
        .unwrap();
    assert_eq!(c.write_units.len(), 1);
    let put_big = json!({"TableName": "T", "Item": {"id": {"S": "b"}, "shard": {"S": "1"}, "x": {"S": "y".repeat(3000)}}});
    let c = model
        .apply(
            "TransactWriteItems",
            &json!({"TransactItems": [{"Put": put_big}]}),
            Outcome::Ok,
            &Value::Null,
        )
        .unwrap();
    assert_eq!(c.write_units["table"], 6.0);
    assert_eq!(c.write_units["index open"], 3.0);
}
