//! From one scenario's recording (moto's own request log) and the proxy's log of answers and
//! timings to counts, capacity units, billed SQS requests and Lambda figures.

use super::dynamo::{Capacity, Model, Outcome};
use super::http::{Exchange, ROLE_HEADER, SEQ_HEADER};
use super::moto::Recorded;
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};

/// SQS bills each 64 KB chunk of a request's payload as one request.
pub const SQS_CHUNK_BYTES: u64 = 64 * 1024;

/// One recorded request, with what the proxy saw of it.
#[derive(Debug, Clone)]
pub struct Call {
    pub role: String,
    pub service: &'static str,
    pub op: String,
    pub body: Value,
    /// moto's status; 0 when the proxy saw no answer (the process was killed during a long poll).
    pub status: u16,
    pub response: Value,
    pub latency_us: u64,
    pub start_us: u64,
}

/// Joins the recording with the proxy log (by the sequence header the proxy added). Returns the
/// calls in recorded order, and how many recorded requests had no proxy entry or the reverse.
pub fn join(recorded: &[Recorded], exchanges: &[Exchange]) -> (Vec<Call>, Vec<String>) {
    let by_seq: HashMap<u64, &Exchange> = exchanges.iter().map(|e| (e.seq, e)).collect();
    let mut notes = Vec::new();
    let mut calls = Vec::new();
    let mut seen = HashSet::new();
    let mut unproxied = 0;
    let mut unanswered = 0;
    for r in recorded {
        let Some(target) = r.header("X-Amz-Target") else {
            continue; // moto's own API, health checks
        };
        let (service, op) = match target.split_once('.') {
            Some((s, op)) if s.starts_with("DynamoDB") => ("DynamoDB", op),
            Some((s, op)) if s.starts_with("AmazonSQS") => ("SQS", op),
            Some((_, op)) => ("other", op),
            None => ("other", target),
        };
        let seq: Option<u64> = r.header(SEQ_HEADER).and_then(|s| s.parse().ok());
        let role = r.header(ROLE_HEADER).unwrap_or("unproxied").to_string();
        let exchange = seq.and_then(|s| by_seq.get(&s));
        if seq.is_none() {
            unproxied += 1;
        } else if exchange.is_none() {
            unanswered += 1;
        }
        if let Some(s) = seq {
            seen.insert(s);
        }
        calls.push(Call {
            role,
            service,
            op: op.to_string(),
            body: serde_json::from_slice(&r.body).unwrap_or(Value::Null),
            status: exchange.map(|e| e.status).unwrap_or(0),
            response: exchange
                .and_then(|e| serde_json::from_slice(&e.response).ok())
                .unwrap_or(Value::Null),
            latency_us: exchange.map(|e| e.end_us - e.start_us).unwrap_or(0),
            start_us: exchange.map(|e| e.start_us).unwrap_or(0),
        });
    }
    let missing = exchanges
        .iter()
        .filter(|e| !e.target.is_empty() && !seen.contains(&e.seq))
        .count();
    if unproxied > 0 {
        notes.push(format!(
            "{unproxied} recorded requests did not pass a proxy"
        ));
    }
    if unanswered > 0 {
        notes.push(format!(
            "{unanswered} recorded requests were still waiting for moto's answer when the scenario's processes were stopped (long polls; counted as empty receives)"
        ));
    }
    if missing > 0 {
        notes.push(format!(
            "{missing} requests the proxies forwarded are missing from moto's recording"
        ));
    }
    (calls, notes)
}

/// Why a request was made: by a task of the scenario, or by the pipeline's background work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Names one of the scenario's tasks, or carries its messages.
    Task,
    /// A ReceiveMessage that brought nothing.
    EmptyReceive,
    /// A worker process's Query and the BatchGetItem of what it listed (its sweeper).
    SweepQuery,
    /// A router's Query and BatchGetItem (its reconcile from the table).
    ReconcileQuery,
    /// A router's or worker's DynamoDB request on an item that is no task of the scenario (the
    /// routers' lease).
    OtherItem,
    /// Queue and table set-up calls (GetQueueUrl, GetQueueAttributes, Describe*).
    Setup,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::Task => "task",
            Kind::EmptyReceive => "empty receives",
            Kind::SweepQuery => "sweeper queries and reads (worker process)",
            Kind::ReconcileQuery => "reconcile queries and reads (router)",
            Kind::OtherItem => "router/worker items that are no task (leases)",
            Kind::Setup => "set-up calls (queue attributes, describe)",
        }
    }
}

/// A figure counted twice: everything, and only what tasks caused (`Kind::Task`).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Count {
    pub all: f64,
    pub task: f64,
}

impl Count {
    fn add(&mut self, value: f64, task: bool) {
        self.all += value;
        if task {
            self.task += value;
        }
    }
    pub fn per(self, n: f64) -> Count {
        Count {
            all: self.all / n,
            task: self.task / n,
        }
    }
}

/// What one scenario sent and consumed, in total.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Tally {
    /// Requests by "DynamoDB PutItem", "SQS SendMessage", ... (as sent: one batch call is one).
    pub requests: BTreeMap<String, Count>,
    /// Background requests by kind.
    pub background: BTreeMap<String, f64>,
    /// Requests by the process that sent them.
    pub by_role: BTreeMap<String, f64>,
    /// DynamoDB write units by "table" / "index NAME".
    pub write_units: BTreeMap<String, Count>,
    /// DynamoDB read units by "table" / "index NAME".
    pub read_units: BTreeMap<String, Count>,
    /// Index entries written (a key change counts 2).
    pub index_entry_writes: Count,
    /// SQS requests as billed (64 KB chunks), by operation.
    pub sqs_billed: BTreeMap<String, Count>,
    /// Conditional writes moto refused (they still consume write units).
    pub refused_writes: f64,
    /// Answers that are neither success nor a refused condition (moto's own 500s, validation):
    /// counted as requests, not as capacity.
    pub errors: BTreeMap<String, f64>,
    /// Σ of moto's answer times on loopback by role and operation, seconds.
    pub seconds: BTreeMap<String, f64>,
    /// Non-empty receives per role (batches handed to a handler) and messages they brought.
    pub batches: BTreeMap<String, (f64, f64)>,
    /// Each role's share.
    pub roles: BTreeMap<String, RoleTally>,
    /// CLI processes run to completion per role (the meter fills it: one dispatcher invocation
    /// per `tasks submit` or `tasks cancel`).
    pub processes: BTreeMap<String, f64>,
}

/// What one role (CLI process kind) sent and consumed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RoleTally {
    pub requests: BTreeMap<String, f64>,
    pub write_units: f64,
    pub read_units: f64,
    pub sqs_billed: f64,
    pub seconds: f64,
}

impl Tally {
    pub fn dynamo_writes(&self) -> Count {
        self.sum(|k| {
            [
                "PutItem",
                "UpdateItem",
                "DeleteItem",
                "TransactWriteItems",
                "BatchWriteItem",
            ]
            .iter()
            .any(|op| k == format!("DynamoDB {op}"))
        })
    }

    pub fn dynamo_reads(&self) -> Count {
        self.sum(|k| {
            [
                "GetItem",
                "BatchGetItem",
                "Query",
                "Scan",
                "TransactGetItems",
            ]
            .iter()
            .any(|op| k == format!("DynamoDB {op}"))
        })
    }

    /// Sends, deletes and visibility changes: the issue's "SQS sends, deletes and visibility
    /// changes" (requests as sent).
    pub fn sqs_moves(&self) -> Count {
        self.sum(|k| {
            [
                "SendMessage",
                "SendMessageBatch",
                "DeleteMessage",
                "DeleteMessageBatch",
                "ChangeMessageVisibility",
                "ChangeMessageVisibilityBatch",
            ]
            .iter()
            .any(|op| k == format!("SQS {op}"))
        })
    }

    fn sum(&self, matches: impl Fn(&str) -> bool) -> Count {
        let mut total = Count::default();
        for (k, c) in &self.requests {
            if matches(k) {
                total.all += c.all;
                total.task += c.task;
            }
        }
        total
    }

    pub fn total_write_units(&self) -> Count {
        sum_counts(self.write_units.values())
    }

    pub fn total_read_units(&self) -> Count {
        sum_counts(self.read_units.values())
    }

    pub fn total_sqs_billed(&self) -> Count {
        sum_counts(self.sqs_billed.values())
    }

    /// Σ seconds of the given role's answers, optionally only some operations.
    pub fn role_seconds(&self, role: &str, keep: impl Fn(&str) -> bool) -> f64 {
        self.seconds
            .iter()
            .filter(|(k, _)| {
                k.split_once(' ')
                    .is_some_and(|(r, op)| r == role && keep(op))
            })
            .map(|(_, s)| s)
            .sum()
    }
}

fn sum_counts<'a>(counts: impl Iterator<Item = &'a Count>) -> Count {
    let mut total = Count::default();
    for c in counts {
        total.all += c.all;
        total.task += c.task;
    }
    total
}

fn outcome(call: &Call) -> Outcome {
    match call.status {
        200 => Outcome::Ok,
        // The process was stopped while waiting: only long polls are ever in flight then.
        0 => Outcome::Ok,
        400 => {
            let kind = call.response["__type"].as_str().unwrap_or_default();
            if kind.contains("ConditionalCheckFailed") || kind.contains("TransactionCanceled") {
                Outcome::ConditionFailed
            } else {
                Outcome::Error
            }
        }
        _ => Outcome::Error,
    }
}

fn sqs_payload(message: &Value) -> u64 {
    let body = message["MessageBody"]
        .as_str()
        .or_else(|| message["Body"].as_str())
        .map(str::len)
        .unwrap_or(0) as u64;
    let attributes: u64 = message["MessageAttributes"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, v)| {
            name.len() as u64
                + v["DataType"].as_str().map(str::len).unwrap_or(0) as u64
                + v["StringValue"].as_str().map(str::len).unwrap_or(0) as u64
                + v["BinaryValue"]
                    .as_str()
                    .map(|b| b.len() * 3 / 4)
                    .unwrap_or(0) as u64
        })
        .sum();
    body + attributes
}

/// Requests SQS bills for one call.
fn sqs_billed(call: &Call) -> f64 {
    let chunks = |bytes: u64| bytes.div_ceil(SQS_CHUNK_BYTES).max(1) as f64;
    match call.op.as_str() {
        "SendMessage" => chunks(sqs_payload(&call.body)),
        "SendMessageBatch" => chunks(
            call.body["Entries"]
                .as_array()
                .into_iter()
                .flatten()
                .map(sqs_payload)
                .sum(),
        ),
        "ReceiveMessage" => chunks(
            call.response["Messages"]
                .as_array()
                .into_iter()
                .flatten()
                .map(sqs_payload)
                .sum(),
        ),
        _ => 1.0,
    }
}

fn received(call: &Call) -> usize {
    call.response["Messages"]
        .as_array()
        .map(Vec::len)
        .unwrap_or(0)
}

/// Replays the calls through the model and counts. `tasks` are the scenario's task ids.
pub fn tally(calls: &[Call], model: &mut Model, tasks: &HashSet<String>) -> Result<Tally, String> {
    let mut t = Tally::default();
    let mentions_task = |body: &Value| {
        let text = body.to_string();
        tasks.iter().any(|id| text.contains(id.as_str()))
    };
    for call in calls {
        let outcome = outcome(call);
        let capacity = if call.service == "DynamoDB" {
            model
                .apply(&call.op, &call.body, outcome, &call.response)
                .map_err(|e| format!("DynamoDB {} by {}: {e}", call.op, call.role))?
        } else {
            Capacity::default()
        };
        let kind = classify(call, mentions_task(&call.body));
        let is_task = kind == Kind::Task;
        let name = format!("{} {}", call.service, call.op);
        t.requests
            .entry(name.clone())
            .or_default()
            .add(1.0, is_task);
        if !is_task {
            *t.background.entry(kind.label().to_string()).or_default() += 1.0;
        }
        *t.by_role.entry(call.role.clone()).or_default() += 1.0;
        *t.seconds
            .entry(format!("{} {}", call.role, call.op))
            .or_default() += call.latency_us as f64 / 1e6;
        match outcome {
            Outcome::ConditionFailed => t.refused_writes += 1.0,
            Outcome::Error => {
                *t.errors
                    .entry(format!("{name} ({})", call.status))
                    .or_default() += 1.0
            }
            Outcome::Ok => {}
        }
        for (target, units) in &capacity.write_units {
            t.write_units
                .entry(target.clone())
                .or_default()
                .add(*units, is_task);
        }
        for (target, units) in &capacity.read_units {
            t.read_units
                .entry(target.clone())
                .or_default()
                .add(*units, is_task);
        }
        t.index_entry_writes
            .add(capacity.index_writes as f64, is_task);
        let role = t.roles.entry(call.role.clone()).or_default();
        *role.requests.entry(name.clone()).or_default() += 1.0;
        role.write_units += capacity.write_units.values().sum::<f64>();
        role.read_units += capacity.read_units.values().sum::<f64>();
        role.seconds += call.latency_us as f64 / 1e6;
        if call.service == "SQS" && outcome != Outcome::Error {
            let billed = sqs_billed(call);
            role.sqs_billed += billed;
            t.sqs_billed
                .entry(call.op.clone())
                .or_default()
                .add(billed, is_task);
        }
        if call.op == "ReceiveMessage" && received(call) > 0 {
            let entry = t.batches.entry(call.role.clone()).or_default();
            entry.0 += 1.0;
            entry.1 += received(call) as f64;
        }
    }
    Ok(t)
}

fn classify(call: &Call, mentions_task: bool) -> Kind {
    let background_role = call.role == "worker" || call.role == "router";
    match (call.service, call.op.as_str()) {
        ("SQS", "ReceiveMessage") if received(call) == 0 => Kind::EmptyReceive,
        ("SQS", "ReceiveMessage") => Kind::Task,
        ("SQS", op)
            if op.starts_with("Get") || op.starts_with("List") || op.starts_with("Create") =>
        {
            Kind::Setup
        }
        ("DynamoDB", op)
            if op.starts_with("Describe") || op.starts_with("List") || op.starts_with("Create") =>
        {
            Kind::Setup
        }
        // A BatchGetItem only ever reads the records a Query of an index listed (KEYS_ONLY).
        ("DynamoDB", "Query" | "Scan" | "BatchGetItem") if call.role == "worker" => {
            Kind::SweepQuery
        }
        ("DynamoDB", "Query" | "Scan" | "BatchGetItem") if call.role == "router" => {
            Kind::ReconcileQuery
        }
        ("DynamoDB", _) if background_role && !mentions_task => Kind::OtherItem,
        _ => Kind::Task,
    }
}
