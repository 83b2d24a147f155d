//! The task store on DynamoDB: one item per task (key `task_id`), TTL on `expires_at`, three GSIs
//! sorted by `created_at_ms` — `by_owner_conversation` (`owner_conversation` = `<owner>#<conversation>`),
//! and two sparse ones whose key attribute is present only while it applies: `open_tasks`
//! (`open_shard`, until the result is published; the sweeper's) and `undelivered` (`undelivered_to` =
//! `<owner>#<consumer>`, terminal until handed over; the routers') — and idempotency items
//! (`task_id = "idem#<owner>#<conversation>#<key>"`) that carry none of those, so they stay out of the GSIs.

use crate::error::StoreError;
use crate::ports::{self, CreateOutcome, Cursor, RunPage, TaskPage, TaskStore};
use crate::record::TaskRecord;
use crate::state::TaskStatus;
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::HashMap;

pub const CONVERSATION_INDEX: &str = "by_owner_conversation";
pub const CONVERSATION_KEY: &str = "owner_conversation";
pub const OPEN_INDEX: &str = "open_tasks";
pub const OPEN_KEY: &str = "open_shard";
pub const UNDELIVERED_INDEX: &str = "undelivered";
pub const UNDELIVERED_KEY: &str = "undelivered_to";
pub const CREATED_KEY: &str = "created_at_ms";

pub struct DynamoStore {
    client: Client,
    table: String,
    /// Items a `finished_runs` Scan request reads at most (DynamoDB's `Limit`); `None`: 1 MB pages.
    scan_page_items: Option<i32>,
}

/// The stored shape is the record's own JSON fields, except that the arguments and the result are
/// JSON text (`arguments_json`, `result_json`), so any JSON (nesting depth, number precision, empty
/// keys) round-trips exactly and sizes are what the limits say; plus the keys of the indexes
/// (`owner_conversation`, and the sparse `open_shard` and `undelivered_to` while they apply).
const ARGUMENTS: (&str, &str) = ("arguments", "arguments_json");
const RESULT: (&str, &str) = ("result", "result_json");

#[derive(Debug, Serialize, Deserialize)]
struct IdempotencyItem {
    task_id: String,
    target_task_id: String,
    expires_at: u64,
}

type Item = HashMap<String, AttributeValue>;

fn to_item(record: &TaskRecord) -> Result<Item, StoreError> {
    let encoding =
        |e: String| StoreError::Backend(anyhow::anyhow!("encoding task {}: {e}", record.task_id));
    let Value::Object(mut fields) =
        serde_json::to_value(record).map_err(|e| encoding(e.to_string()))?
    else {
        return Err(encoding("not a JSON object".into()));
    };
    for (name, stored) in [ARGUMENTS, RESULT] {
        if let Some(value) = fields.remove(name) {
            fields.insert(stored.into(), Value::String(value.to_string()));
        }
    }
    let owner_conversation =
        TaskRecord::owner_conversation_key(&record.owner, &record.conversation_id);
    fields.insert(CONVERSATION_KEY.into(), Value::String(owner_conversation));
    if let Some(shard) = record.open_shard() {
        fields.insert(OPEN_KEY.into(), Value::String(shard.to_string()));
    }
    if record.awaits_delivery() {
        let key = TaskRecord::undelivered_key(&record.owner, &record.reply_to);
        fields.insert(UNDELIVERED_KEY.into(), Value::String(key));
    }
    serde_dynamo::to_item(fields).map_err(|e| encoding(e.to_string()))
}

fn from_item(item: Item) -> Result<TaskRecord, StoreError> {
    let key = item
        .get("task_id")
        .and_then(|v| v.as_s().ok())
        .cloned()
        .unwrap_or_else(|| "<no task_id>".into());
    let corrupt = |message: String| StoreError::Corrupt {
        key: key.clone(),
        message,
    };
    let mut fields: Map<String, Value> =
        serde_dynamo::from_item(item).map_err(|e| corrupt(e.to_string()))?;
    for index_key in [CONVERSATION_KEY, OPEN_KEY, UNDELIVERED_KEY] {
        fields.remove(index_key);
    }
    for (name, stored) in [ARGUMENTS, RESULT] {
        match fields.remove(stored) {
            Some(Value::String(text)) => {
                let value =
                    serde_json::from_str(&text).map_err(|e| corrupt(format!("{stored}: {e}")))?;
                fields.insert(name.into(), value);
            }
            Some(other) => return Err(corrupt(format!("{stored}: {other} is not JSON text"))),
            None => {}
        }
    }
    serde_json::from_value(Value::Object(fields)).map_err(|e| corrupt(e.to_string()))
}

/// DynamoDB refused an item for its size (`ValidationException: Item size has exceeded the maximum
/// allowed size`, also moto's wording).
fn is_item_too_large<R>(
    e: &aws_sdk_dynamodb::error::SdkError<aws_sdk_dynamodb::operation::put_item::PutItemError, R>,
) -> bool {
    use aws_sdk_dynamodb::error::ProvideErrorMetadata;
    e.as_service_error().is_some_and(|s| {
        s.code() == Some("ValidationException")
            && s.message()
                .is_some_and(|m| m.to_ascii_lowercase().contains("item size"))
    })
}

fn backend(context: &str, e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Backend(anyhow::Error::new(e).context(context.to_string()))
}

type UpdateResult = Result<
    aws_sdk_dynamodb::operation::update_item::UpdateItemOutput,
    aws_sdk_dynamodb::error::SdkError<aws_sdk_dynamodb::operation::update_item::UpdateItemError>,
>;

/// A conditional write's answer (PutItem or UpdateItem) when the item written is not wanted: true
/// when it wrote, false when its condition refused the write.
fn conditional_write<O, E>(answer: Result<O, E>, context: &str) -> Result<bool, StoreError>
where
    aws_sdk_dynamodb::Error: From<E>,
{
    match answer.map_err(aws_sdk_dynamodb::Error::from) {
        Ok(_) => Ok(true),
        Err(aws_sdk_dynamodb::Error::ConditionalCheckFailedException(_)) => Ok(false),
        Err(e) => Err(backend(context, e)),
    }
}

/// A conditional UpdateItem's answer (asked with `ReturnValue::AllNew`): the record written, or
/// `None` when its condition refused the write.
fn conditional_update(
    answer: UpdateResult,
    context: &str,
) -> Result<Option<TaskRecord>, StoreError> {
    match answer {
        Ok(out) => out.attributes.map(from_item).transpose(),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
        {
            Ok(None)
        }
        Err(e) => Err(backend(context, aws_sdk_dynamodb::Error::from(e))),
    }
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoStore {
            client,
            table: table.into(),
            scan_page_items: None,
        }
    }

    /// Makes each `finished_runs` Scan request read at most `items` items instead of 1 MB: tests use
    /// it to cross page boundaries with a small table.
    pub fn with_scan_page_items(mut self, items: u32) -> Self {
        self.scan_page_items = Some(i32::try_from(items.max(1)).unwrap_or(i32::MAX));
        self
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    async fn get_raw(&self, key: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("task_id", AttributeValue::S(key.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| backend("GetItem", aws_sdk_dynamodb::Error::from(e)))?;
        Ok(out.item)
    }
}

#[async_trait]
impl TaskStore for DynamoStore {
    async fn create(&self, record: &TaskRecord) -> Result<CreateOutcome, StoreError> {
        let item = to_item(record)?;
        let Some(key) = &record.idempotency_key else {
            let put = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(task_id)")
                .send()
                .await;
            return match put {
                Ok(_) => Ok(CreateOutcome::Created),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
                {
                    let existing = self
                        .get(&record.task_id)
                        .await?
                        .ok_or_else(|| StoreError::Conflict(record.task_id.clone()))?;
                    Ok(CreateOutcome::Existing(Box::new(existing)))
                }
                Err(e) => Err(backend("PutItem", aws_sdk_dynamodb::Error::from(e))),
            };
        };
        let idem: Item = serde_dynamo::to_item(IdempotencyItem {
            task_id: idempotency_key_item(&record.owner, &record.conversation_id, key),
            target_task_id: record.task_id.clone(),
            expires_at: record.expires_at,
        })
        .map_err(|e| StoreError::Backend(anyhow::anyhow!("encoding idempotency item: {e}")))?;
        let put = |item: Item| -> Result<TransactWriteItem, StoreError> {
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(task_id)")
                .build()
                .map_err(|e| backend("building Put", e))?;
            Ok(TransactWriteItem::builder().put(put).build())
        };
        let result = self
            .client
            .transact_write_items()
            .transact_items(put(idem)?)
            .transact_items(put(item)?)
            .send()
            .await;
        match result {
            Ok(_) => Ok(CreateOutcome::Created),
            Err(e) => {
                if let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
                    e.as_service_error()
                {
                    let failed = |i: usize| {
                        cancelled
                            .cancellation_reasons()
                            .get(i)
                            .and_then(|r| r.code())
                            .is_some_and(|code| code == "ConditionalCheckFailed")
                    };
                    if failed(0) {
                        return self.existing_for_key(record, key).await;
                    }
                    if failed(1) {
                        let existing = self
                            .get(&record.task_id)
                            .await?
                            .ok_or_else(|| StoreError::Conflict(record.task_id.clone()))?;
                        return Ok(CreateOutcome::Existing(Box::new(existing)));
                    }
                }
                Err(backend(
                    "TransactWriteItems",
                    aws_sdk_dynamodb::Error::from(e),
                ))
            }
        }
    }

    async fn get(&self, task_id: &str) -> Result<Option<TaskRecord>, StoreError> {
        match self.get_raw(task_id).await? {
            Some(item) if item.contains_key("conversation_id") => from_item(item).map(Some),
            // An idempotency item is not a task.
            _ => Ok(None),
        }
    }

    async fn transition(&self, current: &TaskRecord, next: &TaskRecord) -> Result<(), StoreError> {
        ports::check_transition(current, next)?;
        let status = serde_dynamo::to_attribute_value(current.status)
            .map_err(|e| StoreError::Backend(anyhow::anyhow!("encoding status: {e}")))?;
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(next)?))
            .condition_expression("revision = :revision AND #status = :status")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(
                ":revision",
                AttributeValue::N(current.revision.to_string()),
            )
            .expression_attribute_values(":status", status)
            .send()
            .await;
        match put {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Err(StoreError::Conflict(current.task_id.clone()))
            }
            // `check_transition` measured the record under the limit, so this is only a backstop:
            // DynamoDB's ValidationException has no typed form, so its code and message decide.
            Err(e) if is_item_too_large(&e) => Err(StoreError::TooLarge {
                task_id: next.task_id.clone(),
                bytes: ports::stored_bytes(next),
                limit: crate::limits::MAX_RECORD_BYTES,
            }),
            Err(e) => Err(backend(
                "PutItem (transition)",
                aws_sdk_dynamodb::Error::from(e),
            )),
        }
    }

    async fn list_by_conversation(
        &self,
        owner: &str,
        conversation_id: &str,
        limit: u32,
        cursor: Option<&Cursor>,
    ) -> Result<TaskPage, StoreError> {
        let key = TaskRecord::owner_conversation_key(owner, conversation_id);
        self.query_index(CONVERSATION_INDEX, CONVERSATION_KEY, &key, limit, cursor)
            .await
    }

    async fn list_open(
        &self,
        shard: u32,
        limit: u32,
        cursor: Option<&Cursor>,
    ) -> Result<TaskPage, StoreError> {
        self.query_index(OPEN_INDEX, OPEN_KEY, &shard.to_string(), limit, cursor)
            .await
    }

    async fn claim_pending(
        &self,
        claim: &ports::PendingClaim<'_>,
    ) -> Result<Option<TaskRecord>, StoreError> {
        // `PendingClaim::apply`, as one UpdateItem: the same conditions, the same changes
        // (`TaskRecord::claim`). A PENDING task has no lease and no start time yet; its index keys
        // do not change (it stays open, in the same shard).
        let n = |v: u64| AttributeValue::N(v.to_string());
        let s = |v: &str| AttributeValue::S(v.to_string());
        let status = |v: TaskStatus| {
            serde_dynamo::to_attribute_value(v)
                .map_err(|e| StoreError::Backend(anyhow::anyhow!("encoding status: {e}")))
        };
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("task_id", s(claim.task_id))
            .update_expression(
                "SET #status = :running, #revision = #revision + :one, #updated = :now, \
                 #attempts = #attempts + :one, #lease_owner = :worker, #lease_until = :until, \
                 #claim_message = :message, #started = if_not_exists(#started, :now)",
            )
            .condition_expression(
                "attribute_exists(#conversation) AND #status = :pending AND #tool = :tool \
                 AND #attempts < :max AND attribute_not_exists(#set_aside) \
                 AND (attribute_not_exists(#deadline) OR #deadline > :now) \
                 AND #updated <= :now",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#revision", "revision")
            .expression_attribute_names("#updated", "updated_at_ms")
            .expression_attribute_names("#attempts", "attempts")
            .expression_attribute_names("#lease_owner", "lease_owner")
            .expression_attribute_names("#lease_until", "lease_expires_at_ms")
            .expression_attribute_names("#claim_message", "claim_message_id")
            .expression_attribute_names("#started", "started_at_ms")
            .expression_attribute_names("#conversation", "conversation_id")
            .expression_attribute_names("#tool", "tool")
            .expression_attribute_names("#set_aside", "set_aside")
            .expression_attribute_names("#deadline", "deadline_ms")
            .expression_attribute_values(":running", status(TaskStatus::Running)?)
            .expression_attribute_values(":pending", status(TaskStatus::Pending)?)
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", n(claim.now_ms))
            .expression_attribute_values(":worker", s(claim.worker_id))
            .expression_attribute_values(":until", n(claim.now_ms + claim.lease_ms))
            .expression_attribute_values(":message", s(claim.message_id))
            .expression_attribute_values(":tool", s(claim.tool))
            .expression_attribute_values(":max", n(u64::from(claim.max_attempts)))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await;
        conditional_update(update, "UpdateItem (claim)")
    }

    async fn deliver(
        &self,
        task_id: &str,
        owner: &str,
        now_ms: u64,
    ) -> Result<Option<TaskRecord>, StoreError> {
        // `ports::delivered`, as one UpdateItem; the task leaves the `undelivered` index.
        let terminal = [
            TaskStatus::Succeeded,
            TaskStatus::Failed,
            TaskStatus::TimedOut,
            TaskStatus::Cancelled,
        ];
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("task_id", AttributeValue::S(task_id.to_string()))
            .update_expression(
                "SET #delivered = :yes, #revision = #revision + :one, #updated = :now \
                 REMOVE #undelivered",
            )
            .condition_expression(
                "attribute_exists(#conversation) AND #owner = :owner AND #delivered = :no \
                 AND #status IN (:t0, :t1, :t2, :t3) AND #updated <= :now",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_names("#delivered", "delivered")
            .expression_attribute_names("#revision", "revision")
            .expression_attribute_names("#updated", "updated_at_ms")
            .expression_attribute_names("#conversation", "conversation_id")
            .expression_attribute_names("#undelivered", UNDELIVERED_KEY)
            .expression_attribute_values(":yes", AttributeValue::Bool(true))
            .expression_attribute_values(":no", AttributeValue::Bool(false))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":now", AttributeValue::N(now_ms.to_string()))
            .expression_attribute_values(":owner", AttributeValue::S(owner.to_string()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew);
        for (i, status) in terminal.into_iter().enumerate() {
            let value = serde_dynamo::to_attribute_value(status)
                .map_err(|e| StoreError::Backend(anyhow::anyhow!("encoding status: {e}")))?;
            update = update.expression_attribute_values(format!(":t{i}"), value);
        }
        conditional_update(update.send().await, "UpdateItem (delivered)")
    }

    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        now_ms: u64,
        until_ms: u64,
    ) -> Result<bool, StoreError> {
        self.lease(name, holder, now_ms, until_ms).await
    }

    async fn task_for_key(
        &self,
        owner: &str,
        conversation_id: &str,
        key: &str,
    ) -> Result<Option<TaskRecord>, StoreError> {
        self.keyed_task(&idempotency_key_item(owner, conversation_id, key))
            .await
    }

    async fn take_open_place(
        &self,
        owner: &str,
        task_id: &str,
        limit: u32,
        expires_at: u64,
    ) -> Result<bool, StoreError> {
        self.take_place(owner, task_id, limit, expires_at).await
    }

    async fn release_open_places(
        &self,
        owner: &str,
        task_ids: &[String],
    ) -> Result<(), StoreError> {
        self.release_places(owner, task_ids).await
    }

    async fn open_places(&self, owner: &str) -> Result<Vec<String>, StoreError> {
        self.places(owner).await
    }

    async fn list_undelivered(
        &self,
        owner: &str,
        consumer: &str,
        limit: u32,
        cursor: Option<&Cursor>,
    ) -> Result<TaskPage, StoreError> {
        let key = TaskRecord::undelivered_key(owner, consumer);
        self.query_index(UNDELIVERED_INDEX, UNDELIVERED_KEY, &key, limit, cursor)
            .await
    }

    /// One Scan request (a page of at most 1 MB of the table, read eventually consistently): the
    /// filter runs after the read, so every item read is paid for, matching or not. Only the three
    /// attributes a run time needs come back. When the page holds more than `limit` matching runs
    /// the rest is left for the next page, which starts after the last run returned.
    async fn finished_runs(
        &self,
        tool: &str,
        since_ms: u64,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<RunPage, StoreError> {
        let succeeded = serde_dynamo::to_attribute_value(TaskStatus::Succeeded)
            .map_err(|e| StoreError::Backend(anyhow::anyhow!("encoding status: {e}")))?;
        let out = self
            .client
            .scan()
            .table_name(&self.table)
            .filter_expression(
                "#tool = :tool AND #status = :succeeded AND #attempts = :one \
                 AND #finished >= :since",
            )
            .projection_expression("#task_id, #started, #finished")
            .expression_attribute_names("#tool", "tool")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#attempts", "attempts")
            .expression_attribute_names("#finished", "finished_at_ms")
            .expression_attribute_names("#started", "started_at_ms")
            .expression_attribute_names("#task_id", "task_id")
            .expression_attribute_values(":tool", AttributeValue::S(tool.to_string()))
            .expression_attribute_values(":succeeded", succeeded)
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":since", AttributeValue::N(since_ms.to_string()))
            .set_limit(self.scan_page_items)
            .set_exclusive_start_key(cursor.map(|c| {
                HashMap::from([("task_id".to_string(), AttributeValue::S(c.to_string()))])
            }))
            .send()
            .await
            .map_err(|e| backend("Scan", aws_sdk_dynamodb::Error::from(e)))?;
        let mut runs = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(run_time)
            .collect::<Result<Vec<_>, _>>()?;
        let next_cursor = if runs.len() > limit as usize {
            runs.truncate(limit as usize);
            runs.last().map(|r| r.task_id.clone())
        } else {
            match out
                .last_evaluated_key
                .as_ref()
                .and_then(|k| k.get("task_id"))
            {
                Some(AttributeValue::S(key)) => Some(key.clone()),
                Some(other) => {
                    return Err(StoreError::Backend(anyhow::anyhow!(
                        "Scan: LastEvaluatedKey.task_id is not a string: {other:?}"
                    )));
                }
                None => None,
            }
        };
        Ok(RunPage { runs, next_cursor })
    }
}

mod reads;
mod side_items;

use side_items::idempotency_key_item;

use reads::run_time;

#[cfg(test)]
mod tests;
