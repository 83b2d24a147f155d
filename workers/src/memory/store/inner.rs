//! The store's state behind its lock: records with their sizes, the indexes the DynamoDB table has,
//! idempotency keys, leases, the expiry order, and the operations on them.

use super::*;

/// (created_at_ms, task_id): every index's sort order.
pub(super) type Index = BTreeSet<(u64, String)>;

pub(super) struct Held {
    pub(super) record: TaskRecord,
    pub(super) bytes: u64,
    /// Of `bytes`, its arguments' and result's: counted once, as neither changes.
    pub(super) json: u64,
}

#[derive(Default)]
pub(super) struct Inner {
    pub(super) tasks: HashMap<String, Held>,
    /// `(owner, conversation, key)` -> task id.
    pub(super) idempotency: HashMap<(String, String, String), String>,
    pub(super) by_owner_conversation: HashMap<String, Index>,
    pub(super) open: HashMap<u32, Index>,
    pub(super) undelivered: HashMap<String, Index>,
    /// Lease name -> (holder, held until, epoch ms). Few: one per router replica set and per
    /// principal's waiting slot.
    pub(super) leases: HashMap<String, (String, u64)>,
    /// Owner -> the task ids holding places among its open tasks (`TaskStore::take_open_place`);
    /// bounded by the quota's limit per owner, and an owner with none has no entry.
    pub(super) open_places: HashMap<String, BTreeSet<String>>,
    /// (expires_at, task_id): the order records expire in.
    pub(super) expiry: BTreeSet<(u64, String)>,
    pub(super) bytes: u64,
}

pub(super) fn index_insert<K: Hash + Eq>(
    map: &mut HashMap<K, Index>,
    key: K,
    entry: (u64, String),
) {
    map.entry(key).or_default().insert(entry);
}

/// Removes an entry, and the key once its set is empty: keys (conversations, consumers) come and go.
pub(super) fn index_remove<K, Q>(map: &mut HashMap<K, Index>, key: &Q, entry: &(u64, String))
where
    K: Hash + Eq + Borrow<Q>,
    Q: Hash + Eq + ?Sized,
{
    if let Some(set) = map.get_mut(key) {
        set.remove(entry);
        if set.is_empty() {
            map.remove(key);
        }
    }
}

/// What a JSON value holds, estimated without walking its text: its strings (keys included) and
/// a slot per element or entry. One step per node, however long its strings: a record's estimate
/// costs far less than serializing it.
pub(super) fn value_bytes(value: &serde_json::Value) -> u64 {
    use serde_json::Value;
    /// A `Value` in an array; an entry of a map (key, value and the map's own bookkeeping).
    const SLOT: u64 = std::mem::size_of::<Value>() as u64;
    const ENTRY: u64 = 2 * SLOT;
    match value {
        Value::Null | Value::Bool(_) | Value::Number(_) => 0,
        Value::String(s) => s.len() as u64,
        Value::Array(items) => items.iter().map(|v| SLOT + value_bytes(v)).sum(),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| ENTRY + k.len() as u64 + value_bytes(v))
            .sum(),
    }
}

/// What its arguments and result hold.
pub(super) fn json_of(r: &TaskRecord) -> u64 {
    value_bytes(&r.arguments) + r.result.as_ref().map_or(0, value_bytes)
}

/// The estimate of what a record holds (see `MemoryUsage::bytes`).
#[cfg(test)]
pub(super) fn estimated_bytes(r: &TaskRecord) -> u64 {
    fixed_bytes(r) + json_of(r)
}

/// The estimate without the JSON.
pub(super) fn fixed_bytes(r: &TaskRecord) -> u64 {
    let optional = |s: &Option<String>| s.as_ref().map_or(0, String::len);
    let strings = r.task_id.len() * 5 // the record's key, and one per index entry
        + r.owner.len() * 3
        + r.reply_to.len() * 2
        + r.conversation_id.len() * 2
        + r.tool.len()
        + optional(&r.idempotency_key) * 2
        + optional(&r.lease_owner)
        + optional(&r.claim_message_id)
        + r.error.as_ref().map_or(0, |e| e.message.len());
    RECORD_OVERHEAD_BYTES + strings as u64
}

impl Inner {
    /// Moves `record` in the sparse indexes from where `old` had it.
    pub(super) fn reindex(&mut self, old: Option<&TaskRecord>, record: &TaskRecord) {
        let key = (record.created_at_ms, record.task_id.clone());
        if let Some(shard) = old.and_then(TaskRecord::open_shard) {
            index_remove(&mut self.open, &shard, &key);
        }
        if let Some(shard) = record.open_shard() {
            index_insert(&mut self.open, shard, key.clone());
        }
        let undelivered = TaskRecord::undelivered_key(&record.owner, &record.reply_to);
        if old.is_some_and(TaskRecord::awaits_delivery) {
            index_remove(&mut self.undelivered, undelivered.as_str(), &key);
        }
        if record.awaits_delivery() {
            index_insert(&mut self.undelivered, undelivered, key);
        }
    }

    /// Stores a new record of `json` bytes of arguments and result (its idempotency key, if any,
    /// is already reserved).
    pub(super) fn insert(&mut self, record: TaskRecord, json: u64) {
        let key = (record.created_at_ms, record.task_id.clone());
        index_insert(
            &mut self.by_owner_conversation,
            TaskRecord::owner_conversation_key(&record.owner, &record.conversation_id),
            key,
        );
        self.reindex(None, &record);
        self.expiry
            .insert((record.expires_at, record.task_id.clone()));
        let bytes = fixed_bytes(&record) + json;
        self.bytes += bytes;
        self.tasks.insert(
            record.task_id.clone(),
            Held {
                record,
                bytes,
                json,
            },
        );
    }

    /// Replaces a stored record with its successor.
    pub(super) fn replace(&mut self, next: TaskRecord) {
        let Some(old) = self.tasks.remove(&next.task_id) else {
            let json = json_of(&next);
            return self.insert(next, json);
        };
        self.reindex(Some(&old.record), &next);
        if old.record.expires_at != next.expires_at {
            self.expiry
                .remove(&(old.record.expires_at, old.record.task_id.clone()));
            self.expiry.insert((next.expires_at, next.task_id.clone()));
        }
        let json = match (&old.record.result, &next.result) {
            // Arguments never change (`check_successor`), nor does a result once written.
            (None, None) | (Some(_), Some(_)) => old.json,
            (None, Some(result)) => old.json + value_bytes(result),
            (Some(_), None) => json_of(&next),
        };
        let bytes = fixed_bytes(&next) + json;
        self.bytes = self.bytes - old.bytes + bytes;
        self.tasks.insert(
            next.task_id.clone(),
            Held {
                record: next,
                bytes,
                json,
            },
        );
    }

    /// Drops a record with everything that points at it.
    pub(super) fn remove(&mut self, task_id: &str) {
        let Some(held) = self.tasks.remove(task_id) else {
            return;
        };
        let record = &held.record;
        let key = (record.created_at_ms, record.task_id.clone());
        index_remove(
            &mut self.by_owner_conversation,
            TaskRecord::owner_conversation_key(&record.owner, &record.conversation_id).as_str(),
            &key,
        );
        if let Some(shard) = record.open_shard() {
            index_remove(&mut self.open, &shard, &key);
        }
        if record.awaits_delivery() {
            let undelivered = TaskRecord::undelivered_key(&record.owner, &record.reply_to);
            index_remove(&mut self.undelivered, undelivered.as_str(), &key);
        }
        self.expiry.remove(&(record.expires_at, key.1));
        if let Some(idempotency_key) = &record.idempotency_key {
            let idem = (
                record.owner.clone(),
                record.conversation_id.clone(),
                idempotency_key.clone(),
            );
            if self.idempotency.get(&idem) == Some(&record.task_id) {
                self.idempotency.remove(&idem);
            }
        }
        if record.holds_open_place {
            let owner = record.owner.clone();
            self.release_open_place(&owner, task_id);
        }
        self.bytes -= held.bytes;
    }

    pub(super) fn release_open_place(&mut self, owner: &str, task_id: &str) {
        if let Some(places) = self.open_places.get_mut(owner) {
            places.remove(task_id);
            if places.is_empty() {
                self.open_places.remove(owner);
            }
        }
    }

    /// Drops up to `max` records expired at `now_ms`, earliest first; returns how many.
    pub(super) fn expire(&mut self, now_ms: u64, max: usize) -> usize {
        let mut dropped = 0;
        while dropped < max {
            let Some((expires_at, task_id)) = self.expiry.first() else {
                break;
            };
            if expires_at.saturating_mul(1000) > now_ms {
                break;
            }
            let task_id = task_id.clone();
            self.remove(&task_id);
            dropped += 1;
        }
        if dropped > 0 {
            self.shrink();
        }
        dropped
    }

    /// Gives memory back after a large part of the maps expired (amortised: a map shrinks only
    /// once it is a quarter full, to half its capacity).
    pub(super) fn shrink(&mut self) {
        fn shrink_map<K: Hash + Eq, V>(map: &mut HashMap<K, V>) {
            if map.capacity() > 1024 && map.len() * 4 < map.capacity() {
                map.shrink_to(map.len() * 2);
            }
        }
        shrink_map(&mut self.tasks);
        shrink_map(&mut self.idempotency);
        shrink_map(&mut self.by_owner_conversation);
        shrink_map(&mut self.undelivered);
    }

    /// The record, unless it is missing or expired at `now_ms` (then it is dropped here).
    pub(super) fn live(&mut self, task_id: &str, now_ms: u64) -> Option<&TaskRecord> {
        if self
            .tasks
            .get(task_id)
            .is_some_and(|h| h.record.expired(now_ms))
        {
            self.remove(task_id);
        }
        self.tasks.get(task_id).map(|h| &h.record)
    }

    /// A page of `index`, skipping expired records; also returns the expired ids it met, for the
    /// caller to drop.
    pub(super) fn page(
        &self,
        index: Option<&Index>,
        limit: u32,
        cursor: Option<&Cursor>,
        now_ms: u64,
    ) -> (TaskPage, Vec<String>) {
        let Some(index) = index else {
            return (TaskPage::new(vec![], false), vec![]);
        };
        let mut keys: Box<dyn Iterator<Item = &(u64, String)>> =
            match cursor {
                Some(c) => Box::new(index.range((c.created_at_ms, c.task_id.clone())..).filter(
                    move |(created, id)| !(*created == c.created_at_ms && *id == c.task_id),
                )),
                None => Box::new(index.iter()),
            };
        let mut tasks = Vec::new();
        let mut expired = Vec::new();
        while tasks.len() < limit as usize {
            let Some((_, id)) = keys.next() else {
                break;
            };
            match self.tasks.get(id) {
                Some(held) if held.record.expired(now_ms) => expired.push(id.clone()),
                Some(held) => tasks.push(held.record.clone()),
                None => {}
            }
        }
        let more = tasks.len() == limit as usize
            && keys.any(|(_, id)| {
                self.tasks
                    .get(id)
                    .is_some_and(|h| !h.record.expired(now_ms))
            });
        (TaskPage::new(tasks, more), expired)
    }

    pub(super) fn usage(&self) -> MemoryUsage {
        let entries = |m: &HashMap<_, Index>| m.values().map(BTreeSet::len).sum::<usize>();
        MemoryUsage {
            tasks: self.tasks.len(),
            bytes: self.bytes,
            idempotency_keys: self.idempotency.len(),
            index_entries: entries(&self.by_owner_conversation)
                + self.open.values().map(BTreeSet::len).sum::<usize>()
                + entries(&self.undelivered)
                + self.expiry.len(),
        }
    }
}
