//! Items beside the tasks, each with no task attributes (so no index and no `get` sees it) and a
//! TTL: idempotency keys (`task_id = "idem#<owner>#<conversation>#<key>"`, naming the task a key
//! created), leases (`task_id = "lease#<name>"`, `TaskStore::acquire_lease`), and a principal's
//! open-task places (`task_id = "open#<owner>"`, `TaskStore::take_open_place`): a string set of the
//! task ids holding places, so a take is one conditional `UpdateItem` whatever the limit, and
//! giving a place back twice changes nothing.

use super::{DynamoStore, IdempotencyItem, conditional_write};
use crate::error::StoreError;
use crate::ports::{CreateOutcome, TaskStore};
use crate::record::TaskRecord;
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;

const PLACES: &str = "open_task_ids";

fn places_key(owner: &str) -> String {
    format!("open#{owner}")
}

fn places_item(owner: &str) -> AttributeValue {
    AttributeValue::S(places_key(owner))
}

pub(super) fn idempotency_key_item(owner: &str, conversation_id: &str, key: &str) -> String {
    format!("idem#{owner}#{conversation_id}#{key}")
}

fn lease_item(name: &str) -> String {
    format!("lease#{name}")
}

impl DynamoStore {
    pub(super) async fn existing_for_key(
        &self,
        record: &TaskRecord,
        key: &str,
    ) -> Result<CreateOutcome, StoreError> {
        let idem_key = idempotency_key_item(&record.owner, &record.conversation_id, key);
        let existing = self
            .keyed_task(&idem_key)
            .await?
            .ok_or_else(|| StoreError::Corrupt {
                key: idem_key.clone(),
                message: "the idempotency write was refused but the item is missing".into(),
            })?;
        Ok(CreateOutcome::Existing(Box::new(existing)))
    }

    /// The task an idempotency item (`idem_key`) points at; `None` without the item.
    pub(super) async fn keyed_task(
        &self,
        idem_key: &str,
    ) -> Result<Option<TaskRecord>, StoreError> {
        let Some(item) = self.get_raw(idem_key).await? else {
            return Ok(None);
        };
        let idem: IdempotencyItem =
            serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt {
                key: idem_key.to_string(),
                message: e.to_string(),
            })?;
        let existing =
            self.get(&idem.target_task_id)
                .await?
                .ok_or_else(|| StoreError::Corrupt {
                    key: idem_key.to_string(),
                    message: format!("points at missing task {}", idem.target_task_id),
                })?;
        Ok(Some(existing))
    }

    pub(super) async fn lease(
        &self,
        name: &str,
        holder: &str,
        now_ms: u64,
        until_ms: u64,
    ) -> Result<bool, StoreError> {
        // Gone a day after its last holder let it lapse.
        let item = HashMap::from([
            ("task_id".to_string(), AttributeValue::S(lease_item(name))),
            ("holder".to_string(), AttributeValue::S(holder.to_string())),
            (
                "held_until_ms".to_string(),
                AttributeValue::N(until_ms.to_string()),
            ),
            (
                "expires_at".to_string(),
                AttributeValue::N((until_ms / 1000 + 86_400).to_string()),
            ),
        ]);
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(
                "attribute_not_exists(task_id) OR held_until_ms <= :now OR holder = :holder",
            )
            .expression_attribute_values(":now", AttributeValue::N(now_ms.to_string()))
            .expression_attribute_values(":holder", AttributeValue::S(holder.to_string()))
            .send()
            .await;
        conditional_write(put, "PutItem (lease)")
    }

    pub(super) async fn take_place(
        &self,
        owner: &str,
        task_id: &str,
        limit: u32,
        expires_at: u64,
    ) -> Result<bool, StoreError> {
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("task_id", places_item(owner))
            .update_expression("ADD #places :id SET expires_at = :expires")
            // `size` of a string set is its number of ids; the id already present is a retry.
            .condition_expression(
                "attribute_not_exists(#places) OR size(#places) < :limit OR contains(#places, :one)",
            )
            .expression_attribute_names("#places", PLACES)
            .expression_attribute_values(":id", AttributeValue::Ss(vec![task_id.to_string()]))
            .expression_attribute_values(":one", AttributeValue::S(task_id.to_string()))
            .expression_attribute_values(":limit", AttributeValue::N(limit.to_string()))
            .expression_attribute_values(":expires", AttributeValue::N(expires_at.to_string()))
            .send()
            .await;
        conditional_write(update, "UpdateItem (open places)")
    }

    pub(super) async fn release_places(
        &self,
        owner: &str,
        task_ids: &[String],
    ) -> Result<(), StoreError> {
        if task_ids.is_empty() {
            return Ok(());
        }
        // Conditional on the item, so giving back a place of an owner with none creates nothing.
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("task_id", places_item(owner))
            .update_expression("DELETE #places :ids")
            .condition_expression("attribute_exists(task_id)")
            .expression_attribute_names("#places", PLACES)
            .expression_attribute_values(":ids", AttributeValue::Ss(task_ids.to_vec()))
            .send()
            .await;
        // A refused write: the owner holds no places.
        conditional_write(update, "UpdateItem (open places)").map(drop)
    }

    pub(super) async fn places(&self, owner: &str) -> Result<Vec<String>, StoreError> {
        let key = places_key(owner);
        let item = self.get_raw(&key).await?;
        Ok(match item.as_ref().and_then(|item| item.get(PLACES)) {
            Some(AttributeValue::Ss(ids)) => ids.clone(),
            None => Vec::new(),
            Some(_) => {
                return Err(StoreError::Corrupt {
                    key,
                    message: format!("{PLACES} is not a string set"),
                });
            }
        })
    }
}
