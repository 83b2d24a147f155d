//! DynamoDB capacity, computed rather than read from moto (which does not report index capacity
//! faithfully): the recorded requests are replayed in order against an in-memory copy of each table,
//! so every write knows the item before and after it, and each GSI's entry before and after.
//! The model is written down in docs/cost.md; in short:
//!
//! - item size = Σ over attributes of (UTF-8 length of the name + size of the value); a string is
//!   its UTF-8 length, a number ⌈significant digits / 2⌉ + 1 bytes (+1 if negative), a binary its
//!   raw length, a boolean or null 1 byte, a list or map 3 bytes + Σ (element + 1 byte) (a map
//!   element also counts its name), a set the Σ of its elements;
//! - a write (PutItem, UpdateItem, DeleteItem, each item of BatchWriteItem) consumes ⌈max(size
//!   before, size after) / 1 KB⌉ write units on the table (minimum 1), twice that in
//!   TransactWriteItems; a conditional write whose condition fails still consumes ⌈size of the
//!   existing item / 1 KB⌉ (minimum 1) and writes no index;
//! - each GSI: an item entering the index costs ⌈entry / 1 KB⌉, leaving it ⌈old entry / 1 KB⌉, a
//!   change of the index's keys both, a change of a projected attribute ⌈max(old, new entry) / 1 KB⌉,
//!   no change nothing; entry = table keys + index keys + projected attributes (ALL: the item);
//! - reads: GetItem ⌈size / 4 KB⌉ read units (minimum 1; eventually consistent half), Query
//!   ⌈Σ returned entries / 4 KB⌉ (minimum 1; GSIs are eventually consistent: half).
//!
//! Whether a conditional write succeeded is not guessed: the proxy logged moto's answer.

use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};

mod schema;
mod size;

pub use schema::{Index, Projection, Schema};
use size::units;
pub use size::{item_size, to_item};

pub use super::Item;

pub const WRITE_UNIT_BYTES: u64 = 1024;
pub const READ_UNIT_BYTES: u64 = 4096;

// ---------------------------------------------------------------------------------------------
// The tables

/// What one request consumed.
#[derive(Debug, Clone, Default)]
pub struct Capacity {
    /// Write units by "table" or "index NAME".
    pub write_units: BTreeMap<String, f64>,
    /// Read units by "table" or "index NAME".
    pub read_units: BTreeMap<String, f64>,
    /// Partition keys (first key attribute, as text) of the items the request touched.
    pub items: Vec<String>,
    /// Items written per request, and index entries written (for the report).
    pub index_writes: u64,
}

impl Capacity {
    fn write(&mut self, target: &str, units: f64) {
        if units > 0.0 {
            *self.write_units.entry(target.to_string()).or_default() += units;
        }
    }
    fn read(&mut self, target: &str, units: f64) {
        *self.read_units.entry(target.to_string()).or_default() += units;
    }
}

/// How moto answered a request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outcome {
    Ok,
    /// ConditionalCheckFailedException, or TransactionCanceledException.
    ConditionFailed,
    /// Anything else (validation, moto's own 500s): not billed.
    Error,
}

struct Table {
    schema: Schema,
    items: HashMap<String, Item>,
}

impl Table {
    fn key_of(&self, item: &Item) -> Result<String, String> {
        let mut parts = Vec::new();
        for key in &self.schema.keys {
            parts.push(
                item.get(key)
                    .ok_or_else(|| format!("item without key attribute {key}"))?
                    .clone(),
            );
        }
        Ok(Value::Array(parts).to_string())
    }

    fn partition(&self, item: &Item) -> String {
        self.schema
            .keys
            .first()
            .and_then(|k| item.get(k))
            .and_then(|v| v.as_object())
            .and_then(|o| o.values().next())
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string())
            })
            .unwrap_or_default()
    }

    /// The entry an item has in an index, or none (sparse index, key attribute missing).
    fn entry(&self, index: &Index, item: Option<&Item>) -> Option<Item> {
        let item = item?;
        if !index.keys.iter().all(|k| item.contains_key(k)) {
            return None;
        }
        Some(match &index.projection {
            Projection::All => item.clone(),
            projection => item
                .iter()
                .filter(|(name, _)| {
                    self.schema.keys.contains(name)
                        || index.keys.contains(name)
                        || matches!(projection, Projection::Include(a) if a.contains(name))
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        })
    }

    /// Index writes of one item changing from `old` to `new`.
    fn index_cost(
        &self,
        old: Option<&Item>,
        new: Option<&Item>,
        capacity: &mut Capacity,
    ) -> Result<(), String> {
        for index in &self.schema.indexes {
            let target = format!("index {}", index.name);
            let (before, after) = (self.entry(index, old), self.entry(index, new));
            let cost = match (&before, &after) {
                (None, None) => 0.0,
                (None, Some(n)) => {
                    capacity.index_writes += 1;
                    units(item_size(n)?, WRITE_UNIT_BYTES)
                }
                (Some(o), None) => {
                    capacity.index_writes += 1;
                    units(item_size(o)?, WRITE_UNIT_BYTES)
                }
                (Some(o), Some(n)) => {
                    let keys_changed = index.keys.iter().any(|k| o.get(k) != n.get(k));
                    if keys_changed {
                        capacity.index_writes += 2;
                        units(item_size(o)?, WRITE_UNIT_BYTES)
                            + units(item_size(n)?, WRITE_UNIT_BYTES)
                    } else if o != n {
                        capacity.index_writes += 1;
                        units(item_size(o)?.max(item_size(n)?), WRITE_UNIT_BYTES)
                    } else {
                        0.0
                    }
                }
            };
            capacity.write(&target, cost);
        }
        Ok(())
    }

    /// One item write (put, update result or delete) that succeeded.
    fn commit(
        &mut self,
        key: String,
        new: Option<Item>,
        factor: f64,
        capacity: &mut Capacity,
    ) -> Result<(), String> {
        let old = self.items.get(&key).cloned();
        let old_size = old.as_ref().map(item_size).transpose()?.unwrap_or(0);
        let new_size = new.as_ref().map(item_size).transpose()?.unwrap_or(0);
        capacity.write(
            "table",
            factor * units(old_size.max(new_size), WRITE_UNIT_BYTES),
        );
        self.index_cost(old.as_ref(), new.as_ref(), capacity)?;
        if let Some(item) = old.as_ref().or(new.as_ref()) {
            capacity.items.push(self.partition(item));
        }
        match new {
            Some(item) => {
                self.items.insert(key, item);
            }
            None => {
                self.items.remove(&key);
            }
        }
        Ok(())
    }

    /// A write whose condition failed: the existing item's size, no index.
    fn refused(&self, key: &str, factor: f64, capacity: &mut Capacity) -> Result<(), String> {
        let existing = self.items.get(key);
        let size = existing.map(item_size).transpose()?.unwrap_or(0);
        capacity.write("table", factor * units(size, WRITE_UNIT_BYTES));
        if let Some(item) = existing {
            capacity.items.push(self.partition(item));
        }
        Ok(())
    }
}

/// Every table the recording created, with its items.
#[derive(Default)]
pub struct Model {
    tables: BTreeMap<String, Table>,
}

/// The parts of a write request that name an item.
enum Write {
    Put(Item),
    Update {
        key: Item,
        expression: String,
        names: Map<String, Value>,
        values: Map<String, Value>,
    },
    Delete(Item),
    Check(Item),
}

fn write_of(kind: &str, body: &Value) -> Result<Write, String> {
    let names = body["ExpressionAttributeNames"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let values = body["ExpressionAttributeValues"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    Ok(match kind {
        "Put" => Write::Put(to_item(&body["Item"])?),
        "Update" => {
            if body.get("AttributeUpdates").is_some_and(|v| !v.is_null()) {
                return Err("UpdateItem with legacy AttributeUpdates is not modelled".into());
            }
            Write::Update {
                key: to_item(&body["Key"])?,
                expression: body["UpdateExpression"]
                    .as_str()
                    .ok_or("UpdateItem without UpdateExpression")?
                    .to_string(),
                names,
                values,
            }
        }
        "Delete" => Write::Delete(to_item(&body["Key"])?),
        "ConditionCheck" => Write::Check(to_item(&body["Key"])?),
        other => return Err(format!("unknown write {other}")),
    })
}

impl Model {
    pub fn create_table(&mut self, body: &Value) -> Result<Schema, String> {
        let schema = Schema::from_create_table(body)?;
        self.tables.insert(
            schema.table.clone(),
            Table {
                schema: schema.clone(),
                items: HashMap::new(),
            },
        );
        Ok(schema)
    }

    pub fn schemas(&self) -> Vec<&Schema> {
        self.tables.values().map(|t| &t.schema).collect()
    }

    /// Forget the items (moto was reset), keep the schemas.
    pub fn clear_items(&mut self) {
        for table in self.tables.values_mut() {
            table.items.clear();
        }
    }

    fn table(&mut self, body: &Value) -> Result<&mut Table, String> {
        let name = body["TableName"].as_str().unwrap_or_default();
        self.tables
            .get_mut(name)
            .ok_or_else(|| format!("request for table {name:?}, which the recording never created"))
    }

    fn one_write(
        &mut self,
        table_body: &Value,
        write: Write,
        outcome: Outcome,
        factor: f64,
        capacity: &mut Capacity,
    ) -> Result<(), String> {
        let table = self.table(table_body)?;
        let key_item = match &write {
            Write::Put(item) => item.clone(),
            Write::Update { key, .. } | Write::Delete(key) | Write::Check(key) => key.clone(),
        };
        let key = table.key_of(&key_item)?;
        if outcome == Outcome::ConditionFailed || matches!(write, Write::Check(_)) {
            return table.refused(&key, factor, capacity);
        }
        let new = match write {
            Write::Put(item) => Some(item),
            Write::Delete(_) | Write::Check(_) => None,
            Write::Update {
                key: key_attrs,
                expression,
                names,
                values,
            } => {
                let base = table.items.get(&key).cloned().unwrap_or(key_attrs);
                Some(super::expr::apply_update(
                    &base,
                    &expression,
                    &names,
                    &values,
                )?)
            }
        };
        table.commit(key, new, factor, capacity)
    }

    /// Applies one recorded DynamoDB request; `response` is moto's answer (JSON, or Null).
    pub fn apply(
        &mut self,
        op: &str,
        body: &Value,
        outcome: Outcome,
        response: &Value,
    ) -> Result<Capacity, String> {
        let mut capacity = Capacity::default();
        if outcome == Outcome::Error {
            return Ok(capacity);
        }
        match op {
            "PutItem" | "UpdateItem" | "DeleteItem" => {
                let kind = op.trim_end_matches("Item");
                let write = write_of(kind, body)?;
                self.one_write(body, write, outcome, 1.0, &mut capacity)?;
            }
            "TransactWriteItems" => {
                for action in body["TransactItems"].as_array().into_iter().flatten() {
                    let (kind, inner) = action
                        .as_object()
                        .and_then(|o| o.iter().next())
                        .ok_or("empty TransactItems entry")?;
                    let write = write_of(kind, inner)?;
                    self.one_write(inner, write, outcome, 2.0, &mut capacity)?;
                }
            }
            "BatchWriteItem" => {
                if outcome != Outcome::Ok {
                    return Ok(capacity);
                }
                let unprocessed = response["UnprocessedItems"].to_string();
                for (table, requests) in body["RequestItems"].as_object().into_iter().flatten() {
                    let table_body = serde_json::json!({ "TableName": table });
                    for request in requests.as_array().into_iter().flatten() {
                        if unprocessed.contains(&request.to_string()) {
                            continue;
                        }
                        let write = if let Some(put) = request.get("PutRequest") {
                            Write::Put(to_item(&put["Item"])?)
                        } else if let Some(delete) = request.get("DeleteRequest") {
                            Write::Delete(to_item(&delete["Key"])?)
                        } else {
                            return Err(format!("unknown BatchWriteItem request {request}"));
                        };
                        self.one_write(&table_body, write, Outcome::Ok, 1.0, &mut capacity)?;
                    }
                }
            }
            "GetItem" => {
                let projected = body
                    .get("ProjectionExpression")
                    .is_some_and(|v| !v.is_null())
                    || body.get("AttributesToGet").is_some_and(|v| !v.is_null());
                let consistent = body["ConsistentRead"].as_bool() == Some(true);
                let table = self.table(body)?;
                let key = table.key_of(&to_item(&body["Key"])?)?;
                // The item as moto returned it, or (with a projection) as the model holds it.
                let item = if projected {
                    table.items.get(&key).cloned()
                } else {
                    response.get("Item").map(to_item).transpose()?
                };
                let size = item.as_ref().map(item_size).transpose()?.unwrap_or(0);
                if let Some(item) = &item {
                    capacity.items.push(table.partition(item));
                }
                let factor = if consistent { 1.0 } else { 0.5 };
                capacity.read("table", factor * units(size, READ_UNIT_BYTES));
            }
            "Query" => {
                if body.get("FilterExpression").is_some_and(|v| !v.is_null())
                    || body.get("QueryFilter").is_some_and(|v| !v.is_null())
                {
                    return Err("Query with a filter is not modelled (read units count the items read before the filter)".into());
                }
                let projected = body
                    .get("ProjectionExpression")
                    .is_some_and(|v| !v.is_null())
                    || body["Select"]
                        .as_str()
                        .is_some_and(|s| s != "ALL_ATTRIBUTES");
                let index_name = body["IndexName"].as_str().map(str::to_string);
                let consistent = body["ConsistentRead"].as_bool() == Some(true);
                let table = self.table(body)?;
                let index = match &index_name {
                    Some(name) => Some(
                        table
                            .schema
                            .indexes
                            .iter()
                            .find(|i| &i.name == name)
                            .cloned()
                            .ok_or_else(|| format!("Query on unknown index {name}"))?,
                    ),
                    None => None,
                };
                let mut total = 0;
                for returned in response["Items"].as_array().into_iter().flatten() {
                    let returned = to_item(returned)?;
                    let full = if projected {
                        let key = table.key_of(&returned).map_err(|e| {
                            format!("a projected Query result without the table key: {e}")
                        })?;
                        table.items.get(&key).cloned().unwrap_or(returned)
                    } else {
                        returned
                    };
                    let entry = match &index {
                        Some(index) => table.entry(index, Some(&full)).unwrap_or(full),
                        None => full,
                    };
                    total += item_size(&entry)?;
                }
                let target = match &index_name {
                    Some(name) => format!("index {name}"),
                    None => "table".to_string(),
                };
                let factor = if consistent && index.is_none() {
                    1.0
                } else {
                    0.5
                };
                capacity.read(&target, factor * units(total, READ_UNIT_BYTES));
            }
            "BatchGetItem" => {
                for (table_name, request) in body["RequestItems"].as_object().into_iter().flatten()
                {
                    let consistent = request["ConsistentRead"].as_bool() == Some(true);
                    let factor = if consistent { 1.0 } else { 0.5 };
                    let returned = response["Responses"][table_name.as_str()]
                        .as_array()
                        .cloned()
                        .unwrap_or_default();
                    let table = self.table(&serde_json::json!({ "TableName": table_name }))?;
                    for key in request["Keys"].as_array().into_iter().flatten() {
                        let key = table.key_of(&to_item(key)?)?;
                        let size = table
                            .items
                            .get(&key)
                            .filter(|item| {
                                returned.iter().any(|r| {
                                    to_item(r)
                                        .ok()
                                        .and_then(|r| table.key_of(&r).ok())
                                        .is_some_and(|k| k == key)
                                        && !item.is_empty()
                                })
                            })
                            .map(item_size)
                            .transpose()?
                            .unwrap_or(0);
                        capacity.read("table", factor * units(size, READ_UNIT_BYTES));
                    }
                }
            }
            "Scan"
            | "TransactGetItems"
            | "ExecuteStatement"
            | "BatchExecuteStatement"
            | "ExecuteTransaction" => {
                return Err(format!("DynamoDB {op} is not modelled"));
            }
            // Control plane (CreateTable, DescribeTable, DescribeTimeToLive, ...): no capacity.
            _ => {}
        }
        Ok(capacity)
    }

    /// Compares the model's items with the table as moto holds it now: (items compared, keys
    /// only one side has or whose sizes differ).
    pub fn check_against(
        &self,
        table: &str,
        scanned: &[Value],
    ) -> Result<(usize, Vec<String>), String> {
        let table = self
            .tables
            .get(table)
            .ok_or_else(|| format!("no table {table} in the model"))?;
        let mut differences = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for item in scanned {
            let item = to_item(item)?;
            let key = table.key_of(&item)?;
            match table.items.get(&key) {
                None => differences.push(format!("{key}: only in moto")),
                Some(model) => {
                    let (a, b) = (item_size(model)?, item_size(&item)?);
                    if a != b {
                        differences.push(format!("{key}: {a} bytes in the model, {b} in moto"));
                    }
                }
            }
            seen.insert(key);
        }
        for key in table.items.keys() {
            if !seen.contains(key) {
                differences.push(format!("{key}: only in the model"));
            }
        }
        Ok((scanned.len(), differences))
    }
}

#[cfg(test)]
mod tests;
