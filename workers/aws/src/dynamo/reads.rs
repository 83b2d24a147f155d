//! The table's reads beyond one item: a page of an index (KEYS_ONLY: the keys, then the records by
//! `BatchGetItem`), and the run-time scan's items.

use super::{CREATED_KEY, DynamoStore, Item, backend, from_item};
use crate::error::StoreError;
use crate::ports::{self, Cursor, RunTime, TaskPage};
use crate::record::TaskRecord;
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;

/// A Scan item projected to `task_id`, `started_at_ms`, `finished_at_ms`.
pub(super) fn run_time(item: Item) -> Result<RunTime, StoreError> {
    let task_id = match item.get("task_id") {
        Some(AttributeValue::S(id)) => id.clone(),
        _ => "<no task_id>".to_string(),
    };
    let number = |name: &str| -> Result<u64, StoreError> {
        match item.get(name) {
            Some(AttributeValue::N(n)) => n.parse().map_err(|e| StoreError::Corrupt {
                key: task_id.clone(),
                message: format!("{name} = {n:?}: {e}"),
            }),
            _ => Err(StoreError::Corrupt {
                key: task_id.clone(),
                message: format!("a SUCCEEDED task without a numeric {name}"),
            }),
        }
    };
    Ok(RunTime {
        started_at_ms: number("started_at_ms")?,
        finished_at_ms: number("finished_at_ms")?,
        task_id: task_id.clone(),
    })
}

impl DynamoStore {
    /// One page of a GSI partition, oldest first. The index is read eventually consistently: a task
    /// written a moment ago may be missing, and a listed one may have moved on (callers re-read).
    pub(super) async fn query_index(
        &self,
        index: &str,
        key_name: &str,
        key: &str,
        limit: u32,
        cursor: Option<&Cursor>,
    ) -> Result<TaskPage, StoreError> {
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index)
            .key_condition_expression("#k = :k")
            .expression_attribute_names("#k", key_name)
            .expression_attribute_values(":k", AttributeValue::S(key.to_string()))
            .scan_index_forward(true)
            .limit(limit as i32);
        if let Some(cursor) = cursor {
            query = query
                .exclusive_start_key(key_name, AttributeValue::S(key.to_string()))
                .exclusive_start_key(
                    CREATED_KEY,
                    AttributeValue::N(cursor.created_at_ms.to_string()),
                )
                .exclusive_start_key("task_id", AttributeValue::S(cursor.task_id.clone()));
        }
        let out = query
            .send()
            .await
            .map_err(|e| backend("Query", aws_sdk_dynamodb::Error::from(e)))?;
        // The indexes project keys only (a write that changes no key then costs no index write):
        // the page's records are read from the table, in the index's order.
        let ids: Vec<String> = out
            .items
            .unwrap_or_default()
            .iter()
            .filter_map(|item| item.get("task_id").and_then(|v| v.as_s().ok()).cloned())
            .collect();
        let mut records = self.batch_get(&ids).await?;
        let tasks = ids.iter().filter_map(|id| records.remove(id)).collect();
        let next_cursor = match out.last_evaluated_key {
            Some(key) => {
                let created = key
                    .get(CREATED_KEY)
                    .and_then(|v| v.as_n().ok())
                    .and_then(|n| n.parse().ok());
                let task_id = key.get("task_id").and_then(|v| v.as_s().ok());
                match (created, task_id) {
                    (Some(created_at_ms), Some(task_id)) => Some(
                        Cursor {
                            created_at_ms,
                            task_id: task_id.clone(),
                        }
                        .encode(),
                    ),
                    _ => {
                        return Err(StoreError::Backend(anyhow::anyhow!(
                            "Query {index}: LastEvaluatedKey without created_at_ms and task_id"
                        )));
                    }
                }
            }
            None => None,
        };
        Ok(TaskPage { tasks, next_cursor })
    }

    /// The records of `ids` (a page: at most 100), read eventually consistently as the index they
    /// were listed from is; ids whose item is gone (expired) are left out.
    async fn batch_get(&self, ids: &[String]) -> Result<HashMap<String, TaskRecord>, StoreError> {
        use aws_sdk_dynamodb::types::KeysAndAttributes;
        let mut found = HashMap::with_capacity(ids.len());
        if ids.is_empty() {
            return Ok(found);
        }
        debug_assert!(ids.len() <= ports::MAX_BATCH_GET);
        let keys: Vec<Item> = ids
            .iter()
            .map(|id| HashMap::from([("task_id".to_string(), AttributeValue::S(id.clone()))]))
            .collect();
        let mut wanted = KeysAndAttributes::builder()
            .set_keys(Some(keys))
            .build()
            .map_err(|e| backend("building BatchGetItem", e))?;
        for attempt in 0..BATCH_GET_ATTEMPTS {
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, wanted)
                .send()
                .await
                .map_err(|e| backend("BatchGetItem", aws_sdk_dynamodb::Error::from(e)))?;
            for item in out
                .responses
                .unwrap_or_default()
                .remove(&self.table)
                .unwrap_or_default()
            {
                let record = from_item(item)?;
                found.insert(record.task_id.clone(), record);
            }
            match out
                .unprocessed_keys
                .and_then(|mut left| left.remove(&self.table))
                .filter(|left| !left.keys().is_empty())
            {
                Some(left) => {
                    wanted = left;
                    tokio::time::sleep(std::time::Duration::from_millis(20 << attempt)).await;
                }
                None => return Ok(found),
            }
        }
        Err(StoreError::Backend(anyhow::anyhow!(
            "BatchGetItem left keys unprocessed after {BATCH_GET_ATTEMPTS} attempts"
        )))
    }
}

/// Rounds of a `BatchGetItem` whose keys come back unprocessed (throttling) before giving up.
const BATCH_GET_ATTEMPTS: u32 = 5;
