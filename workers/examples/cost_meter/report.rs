//! The cost table: one block per scenario, builds side by side (like `make bench`'s simulator rows),
//! then idle costs, a summary with the Step Functions reference and issue 25's targets.

use super::{BuildReport, IdleReport, Prices, ScenarioReport, TARGETS};
use std::collections::BTreeSet;
use std::fmt::Write;

const LABEL: usize = 62;
const CELL: usize = 14;

fn cell(v: Option<f64>, decimals: usize) -> String {
    match v {
        Some(v) => format!("{v:.decimals$}"),
        None => "-".to_string(),
    }
}

struct Table<'a> {
    out: String,
    builds: &'a [BuildReport],
}

impl Table<'_> {
    fn header(&mut self, title: &str) {
        let _ = writeln!(self.out, "\n== {title}");
        let mut line = format!("{:LABEL$}", "");
        for b in self.builds {
            let _ = write!(line, " {:>CELL$}", truncate(&b.label, CELL));
        }
        let _ = writeln!(self.out, "{line}");
    }

    fn section(&mut self, title: &str) {
        let _ = writeln!(self.out, "{title}");
    }

    fn row(&mut self, label: &str, values: Vec<Option<f64>>, decimals: usize) {
        let mut line = format!("  {:width$}", truncate(label, LABEL - 2), width = LABEL - 2);
        for v in values {
            let _ = write!(line, " {:>CELL$}", cell(v, decimals));
        }
        let _ = writeln!(self.out, "{line}");
    }

    fn text_row(&mut self, label: &str, values: Vec<String>) {
        let mut line = format!("  {:width$}", truncate(label, LABEL - 2), width = LABEL - 2);
        for v in values {
            let _ = write!(line, " {:>CELL$}", v);
        }
        let _ = writeln!(self.out, "{line}");
    }
}

fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_string()
    } else {
        let mut t: String = text.chars().take(width - 1).collect();
        t.push('…');
        t
    }
}

fn scenario<'a>(build: &'a BuildReport, key: &str) -> Option<&'a ScenarioReport> {
    build
        .scenarios
        .iter()
        .find(|s| s.key == key)
        .and_then(|s| s.report.as_ref())
}

/// Step Functions, the same work, $ per million tasks: (standard, express).
/// Standard: 2 state transitions (`RunTool`, a Lambda Task; `Deliver`, an SQS SendMessage Task).
/// Express: 1 request + 100 ms (the minimum billed) at 64 MB (the minimum). Both also pay the
/// tool's Lambda invocation and the SQS delivery (send, receive, delete), as ours does.
pub fn step_functions(prices: &Prices) -> (f64, f64) {
    let shared = prices.lambda_usd_per_request + 3.0 * prices.sqs_usd_per_request;
    let standard = 2.0 * prices.sfn_standard_usd_per_transition + shared;
    let express = prices.sfn_express_usd_per_request
        + 0.0625 * 0.1 * prices.sfn_express_usd_per_gb_s
        + shared;
    (standard * 1e6, express * 1e6)
}

pub fn render(builds: &[BuildReport]) -> String {
    let mut t = Table {
        out: String::new(),
        builds,
    };
    let _ = writeln!(
        t.out,
        "Cost meter: per task, counted from moto's request log (scripts: workers/examples/cost_meter.rs; model: docs/cost.md)."
    );
    for b in builds {
        let _ = writeln!(t.out, "{}: {} — {}", b.label, b.binary, b.table);
    }
    let keys: Vec<String> = builds
        .iter()
        .flat_map(|b| b.scenarios.iter().map(|s| s.key.clone()))
        .collect::<Vec<_>>()
        .into_iter()
        .fold(Vec::new(), |mut acc, k| {
            if !acc.contains(&k) {
                acc.push(k);
            }
            acc
        });
    for key in &keys {
        render_scenario(&mut t, key);
    }
    render_idle(&mut t);
    render_summary(&mut t, &keys);
    t.out
}

fn render_scenario(t: &mut Table, key: &str) {
    let reports: Vec<Option<&ScenarioReport>> = t.builds.iter().map(|b| scenario(b, key)).collect();
    let title = reports
        .iter()
        .flatten()
        .next()
        .map(|r| r.title.clone())
        .unwrap_or_else(|| key.to_string());
    t.header(&format!("cost per task — {title}"));
    let v = |f: &dyn Fn(&ScenarioReport) -> f64| -> Vec<Option<f64>> {
        reports.iter().map(|r| r.map(f)).collect()
    };
    let keys_of = |f: &dyn Fn(&ScenarioReport) -> Vec<String>| -> BTreeSet<String> {
        reports.iter().flatten().flat_map(|r| f(r)).collect()
    };
    t.text_row(
        "tasks; wall time (s)",
        reports
            .iter()
            .map(|r| r.map_or("-".into(), |r| format!("{}; {:.0}", r.tasks, r.wall_s)))
            .collect(),
    );
    t.section(" requests per task, as sent (a batch call counts once)");
    for name in keys_of(&|r| r.per_task.requests.keys().cloned().collect()) {
        t.row(
            &name,
            v(&|r| r.per_task.requests.get(&name).map_or(0.0, |c| c.all)),
            2,
        );
    }
    t.section(" the issue's measures, per task (all, then excluding background)");
    t.row(
        "DynamoDB write requests",
        v(&|r| r.per_task.dynamodb_write_requests.all),
        2,
    );
    t.row(
        "  excluding background",
        v(&|r| r.per_task.dynamodb_write_requests.task),
        2,
    );
    t.row(
        "DynamoDB read requests",
        v(&|r| r.per_task.dynamodb_read_requests.all),
        2,
    );
    t.row(
        "  excluding background",
        v(&|r| r.per_task.dynamodb_read_requests.task),
        2,
    );
    t.row(
        "SQS sends + deletes + visibility changes",
        v(&|r| r.per_task.sqs_sends_deletes_visibility.all),
        2,
    );
    t.row(
        "  excluding background",
        v(&|r| r.per_task.sqs_sends_deletes_visibility.task),
        2,
    );
    t.section(" of which not caused by a task (background), per task");
    for kind in keys_of(&|r| r.per_task.background.keys().cloned().collect()) {
        t.row(
            &kind,
            v(&|r| r.per_task.background.get(&kind).copied().unwrap_or(0.0)),
            2,
        );
    }
    t.section(" DynamoDB capacity units per task (computed: docs/cost.md)");
    for target in keys_of(&|r| r.per_task.write_units.keys().cloned().collect()) {
        t.row(
            &format!("write units, {target}"),
            v(&|r| r.per_task.write_units.get(&target).map_or(0.0, |c| c.all)),
            2,
        );
    }
    t.row(
        "write units, total incl. indexes",
        v(&|r| r.per_task.write_units_total.all),
        2,
    );
    t.row(
        "  excluding background",
        v(&|r| r.per_task.write_units_total.task),
        2,
    );
    t.row(
        "index entries written (a key change counts 2)",
        v(&|r| r.per_task.index_entry_writes.all),
        2,
    );
    for target in keys_of(&|r| r.per_task.read_units.keys().cloned().collect()) {
        t.row(
            &format!("read units, {target}"),
            v(&|r| r.per_task.read_units.get(&target).map_or(0.0, |c| c.all)),
            2,
        );
    }
    t.row(
        "read units, total",
        v(&|r| r.per_task.read_units_total.all),
        2,
    );
    t.row(
        "conditional writes refused (still billed)",
        v(&|r| r.per_task.refused_writes),
        2,
    );
    t.section(" SQS requests billed per task (64 KB chunks; empty receives too)");
    for op in keys_of(&|r| r.per_task.sqs_billed.keys().cloned().collect()) {
        t.row(
            &op,
            v(&|r| r.per_task.sqs_billed.get(&op).map_or(0.0, |c| c.all)),
            2,
        );
    }
    t.row("total", v(&|r| r.per_task.sqs_billed_total.all), 2);
    t.section(" Lambda per task (GB-s: memory × moto's answer times on loopback, not AWS's)");
    t.row(
        "dispatcher invocations (256 MB)",
        v(&|r| r.per_task.dispatcher_invocations),
        2,
    );
    t.row("dispatcher GB-s", v(&|r| r.per_task.dispatcher_gb_s), 5);
    t.row(
        "worker invocations (one per batch received)",
        v(&|r| r.per_task.worker_invocations),
        2,
    );
    t.row(
        "  mean batch (messages)",
        v(&|r| r.per_task.worker_batch_size),
        2,
    );
    t.row(
        "worker GB-s (tool's memory_mb)",
        v(&|r| r.per_task.worker_gb_s),
        5,
    );
    t.row(
        "settler invocations (consumer mcp only)",
        v(&|r| r.per_task.settler_invocations),
        2,
    );
    t.section(" $ per million tasks (us-east-1 list; the tool's own compute excluded)");
    t.row(
        "DynamoDB",
        v(&|r| r.per_task.usd_per_million.dynamodb.all),
        2,
    );
    t.row("SQS", v(&|r| r.per_task.usd_per_million.sqs.all), 2);
    t.row(
        "Lambda (arm64)",
        v(&|r| r.per_task.usd_per_million.lambda),
        2,
    );
    t.row("total", v(&|r| r.per_task.usd_per_million.total.all), 2);
    t.row(
        "total excluding background",
        v(&|r| r.per_task.usd_per_million.total.task),
        2,
    );
    for (b, r) in t.builds.iter().zip(&reports) {
        let entry = b.scenarios.iter().find(|s| s.key == key);
        if let Some(error) = entry.and_then(|e| e.error.as_ref()) {
            let _ = writeln!(t.out, "  {}: FAILED: {error}", b.label);
        }
        if let Some(r) = r {
            if r.model_check.mismatched > 0 {
                let _ = writeln!(
                    t.out,
                    "  {}: the table model differs from moto's table on {} of {} items (e.g. {}): capacity figures are suspect",
                    b.label,
                    r.model_check.mismatched,
                    r.model_check.items,
                    r.model_check.examples.join("; ")
                );
            }
            for note in &r.notes {
                let _ = writeln!(t.out, "  {}: {note}", b.label);
            }
            for (error, n) in &r.tally.errors {
                let _ = writeln!(
                    t.out,
                    "  {}: {n} × {error} answered with an error (not billed)",
                    b.label
                );
            }
        }
    }
}

fn render_idle(t: &mut Table) {
    let idles: Vec<Option<&IdleReport>> = t
        .builds
        .iter()
        .map(|b| b.idle.as_ref().and_then(|i| i.as_ref().ok()))
        .collect();
    if idles.iter().all(Option::is_none) && t.builds.iter().all(|b| b.idle.is_none()) {
        return;
    }
    t.header("idle cost per hour: a router (`tasks watch`) and the sweeper, nothing to do");
    let v = |f: &dyn Fn(&IdleReport) -> Option<f64>| -> Vec<Option<f64>> {
        idles.iter().map(|i| i.and_then(f)).collect()
    };
    t.row("measured interval (s)", v(&|i| Some(i.interval_s)), 0);
    t.section(" router (`tasks watch --consumer default --out FILE`), per hour");
    let names: BTreeSet<String> = idles
        .iter()
        .flatten()
        .flat_map(|i| i.router.requests.keys().cloned())
        .collect();
    for name in &names {
        t.row(
            name,
            v(&|i| Some(i.router.requests.get(name).copied().unwrap_or(0.0))),
            0,
        );
    }
    t.row("read units", v(&|i| Some(i.router.read_units)), 1);
    t.row("write units", v(&|i| Some(i.router.write_units)), 1);
    t.row("SQS requests billed", v(&|i| Some(i.router.sqs_billed)), 0);
    t.row("$ per hour", v(&|i| Some(i.router.usd)), 5);
    t.section(" sweeper (one `tasks sweep` measured × 60 an hour, as the 256 MB function)");
    let names: BTreeSet<String> = idles
        .iter()
        .flatten()
        .filter_map(|i| i.sweeper.as_ref())
        .flat_map(|s| s.requests.keys().cloned())
        .collect();
    for name in &names {
        t.row(
            name,
            v(&|i| {
                i.sweeper
                    .as_ref()
                    .map(|s| s.requests.get(name).copied().unwrap_or(0.0))
            }),
            0,
        );
    }
    t.row(
        "read units",
        v(&|i| i.sweeper.as_ref().map(|s| s.read_units)),
        1,
    );
    t.row(
        "Lambda invocations",
        v(&|i| i.sweeper.as_ref().map(|s| s.lambda_invocations)),
        0,
    );
    t.row(
        "Lambda GB-s",
        v(&|i| i.sweeper.as_ref().map(|s| s.lambda_gb_s)),
        4,
    );
    t.row("$ per hour", v(&|i| i.sweeper.as_ref().map(|s| s.usd)), 5);
    t.section(" local `asynctools worker` (receive loops + its sweeper every 30 s), for reference");
    t.row(
        "requests per hour",
        v(&|i| Some(i.local_worker.requests.values().sum())),
        0,
    );
    t.row("$ per hour", v(&|i| Some(i.local_worker.usd)), 5);
    for (b, i) in t.builds.iter().zip(&idles) {
        if let Some(Err(e)) = &b.idle {
            let _ = writeln!(t.out, "  {}: FAILED: {e}", b.label);
        }
        for note in i.map(|i| i.notes.as_slice()).unwrap_or_default() {
            let _ = writeln!(t.out, "  {}: {note}", b.label);
        }
    }
}

fn render_summary(t: &mut Table, keys: &[String]) {
    t.header("summary: $ per million tasks (tool compute excluded) and issue 25's targets");
    for key in keys {
        let values: Vec<Option<f64>> = t
            .builds
            .iter()
            .map(|b| scenario(b, key).map(|r| r.per_task.usd_per_million.total.all))
            .collect();
        let title = t
            .builds
            .iter()
            .find_map(|b| scenario(b, key))
            .map(|r| r.title.split(':').next().unwrap_or(key).to_string())
            .unwrap_or_else(|| key.clone());
        t.row(&title, values, 2);
    }
    let idle = |f: &dyn Fn(&IdleReport) -> Option<f64>| -> Vec<Option<f64>> {
        t.builds
            .iter()
            .map(|b| b.idle.as_ref().and_then(|i| i.as_ref().ok()).and_then(f))
            .collect()
    };
    let router = idle(&|i| Some(i.router.usd));
    let sweeper = idle(&|i| i.sweeper.as_ref().map(|s| s.usd));
    t.row("idle: a router, $ per hour", router, 5);
    t.row("idle: the sweeper, $ per hour", sweeper, 5);
    let prices = Prices::default();
    let (standard, express) = step_functions(&prices);
    let same = |x: f64| t.builds.iter().map(|_| Some(x)).collect::<Vec<_>>();
    t.row(
        "reference: Step Functions Standard, same work (docs/cost.md)",
        same(standard),
        2,
    );
    t.row(
        "reference: Step Functions Express, same work (docs/cost.md)",
        same(express),
        2,
    );
    t.section(
        " issue 25's targets on the happy path, per task, excluding background (tests/cost.rs)",
    );
    type Figure<'a> = &'a dyn Fn(&ScenarioReport) -> f64;
    let targets: [(&str, f64, Figure, &str); 4] = [
        (
            "DynamoDB write requests",
            TARGETS.dynamodb_write_requests,
            &|r| r.per_task.dynamodb_write_requests.task,
            "happy",
        ),
        (
            "DynamoDB read requests",
            TARGETS.dynamodb_read_requests,
            &|r| r.per_task.dynamodb_read_requests.task,
            "happy",
        ),
        (
            "SQS sends + deletes + visibility changes",
            TARGETS.sqs_sends_deletes_visibility,
            &|r| r.per_task.sqs_sends_deletes_visibility.task,
            "happy",
        ),
        (
            "write units incl. indexes, 1 KiB task",
            TARGETS.write_units_1kib,
            &|r| r.per_task.write_units_total.task,
            "kib1",
        ),
    ];
    for (label, limit, figure, key) in targets {
        let cells: Vec<String> = t
            .builds
            .iter()
            .map(|b| match scenario(b, key) {
                Some(r) => {
                    let value = figure(r);
                    format!(
                        "{value:.2} {}",
                        if value <= limit + 1e-9 { "ok" } else { "OVER" }
                    )
                }
                None => "-".into(),
            })
            .collect();
        t.text_row(&format!("{label} (≤ {limit})"), cells);
    }
}
