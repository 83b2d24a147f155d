//! `asynctools demo`: the seed's example end to end on the in-memory backend. The agent dispatches a
//! slow research call and a fast sentiment call, gets both acknowledgements at once, answers something
//! else meanwhile, and reports each result as it lands.

use crate::backend::Backend;
use crate::catalog::Catalog;
use crate::delivery::VecSink;
use crate::dispatcher::{Caller, DispatcherSettings};
use crate::poller::{PoolOptions, WorkerPool};
use crate::protocol::{ResultMessage, SubmitAck, TaskRequest};
use anyhow::{Context, Result};
use serde_json::json;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// How long the demo research call takes (the seed's example: 15 s).
    pub research_latency: Duration,
}

/// What happened, for tests: labels in the order they were printed, with their times.
#[derive(Debug, Clone, Default)]
pub struct DemoReport {
    pub events: Vec<(Duration, String)>,
    pub research_task_id: String,
    pub sentiment_task_id: String,
}

const REVIEW: &str = "The battery life is great, but the screen is awful and support was rude.";
const CONVERSATION: &str = "demo-conversation";
const DEMO_PRINCIPAL: &str = "local:demo";

struct Transcript<'a> {
    out: &'a mut (dyn Write + Send),
    started: Instant,
    report: DemoReport,
}

impl Transcript<'_> {
    fn say(&mut self, who: &str, event: &str, text: &str) -> Result<()> {
        let at = self.started.elapsed();
        writeln!(self.out, "[+{:>7.3}s] {who:<10} {text}", at.as_secs_f64())?;
        self.out.flush()?;
        self.report.events.push((at, event.to_string()));
        Ok(())
    }
}

pub async fn run_demo(out: &mut (dyn Write + Send), options: &DemoOptions) -> Result<DemoReport> {
    let catalog = Arc::new(Catalog::embedded().clone());
    let backend = Backend::in_memory(catalog.clone());
    let tools = crate::tools::for_catalog(&catalog, None).await?;
    let dispatcher = backend.dispatcher(tools.clone(), DispatcherSettings::default())?;
    let mut pool_options = PoolOptions::new("demo-worker");
    pool_options.wait = Duration::from_secs(1);
    let pool = WorkerPool::start(
        &backend,
        &tools,
        &catalog
            .names()
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>(),
        &pool_options,
    )?;
    let caller = Caller::new(DEMO_PRINCIPAL)?;
    let mut router = backend.router(DEMO_PRINCIPAL, crate::limits::DEFAULT_CONSUMER)?;
    let mut t = Transcript {
        out,
        started: Instant::now(),
        report: DemoReport::default(),
    };

    t.say(
        "user",
        "user",
        &format!(
            "Dig up what's known about solid-state batteries, and tell me how this review sounds: \"{REVIEW}\" \
             Oh, and what does SQS stand for?"
        ),
    )?;
    let latency_ms = options.research_latency.as_millis() as u64;
    let research_args = json!({ "topic": "solid-state batteries", "latency_ms": latency_ms });
    t.say(
        "agent",
        "call research",
        &format!("calls research({research_args})"),
    )?;
    let research = dispatcher
        .submit(
            &caller,
            TaskRequest::new(CONVERSATION, "research", research_args),
        )
        .await
        .context("submitting the research call")?;
    t.say("dispatcher", "ack research", &ack_line(&research))?;
    let sentiment_args = json!({ "text": REVIEW });
    t.say(
        "agent",
        "call sentiment",
        &format!("calls sentiment({sentiment_args})"),
    )?;
    let sentiment = dispatcher
        .submit(
            &caller,
            TaskRequest::new(CONVERSATION, "sentiment", sentiment_args),
        )
        .await
        .context("submitting the sentiment call")?;
    t.say("dispatcher", "ack sentiment", &ack_line(&sentiment))?;
    t.say("model sees", "model message", &sentiment.message)?;
    t.say(
        "agent",
        "answer meanwhile",
        "Both lookups are running in the background; I'll report each as it lands. Meanwhile: SQS stands \
         for Simple Queue Service, AWS's managed message queue.",
    )?;
    t.report.research_task_id = research.task_id.clone();
    t.report.sentiment_task_id = sentiment.task_id.clone();

    let give_up = Instant::now() + options.research_latency + Duration::from_secs(30);
    let mut pending = 2;
    while pending > 0 {
        if Instant::now() > give_up {
            anyhow::bail!("the demo's results did not arrive in time");
        }
        let mut sink = VecSink::default();
        router.poll(&mut sink, Duration::from_millis(500)).await?;
        for result in sink.0 {
            pending -= 1;
            let event = format!("result {}", result.tool);
            t.say("result", &event, &result_line(&result))?;
            let (text, event) = agent_reply(&result, pending);
            t.say("agent", event, &text)?;
        }
    }
    let total = t.started.elapsed().as_secs_f64();
    let first = t
        .report
        .events
        .iter()
        .find(|(_, e)| e == "answer meanwhile")
        .map_or(0.0, |(at, _)| at.as_secs_f64());
    writeln!(
        t.out,
        "\nThe user got a first answer at +{first:.3}s and every result as it landed; a synchronous tool loop \
         would have shown \"thinking...\" until +{total:.3}s."
    )?;
    pool.stop().await;
    Ok(t.report)
}

fn ack_line(ack: &SubmitAck) -> String {
    format!("ack: task {} ({}) is {}", ack.task_id, ack.tool, ack.status)
}

fn result_line(result: &ResultMessage) -> String {
    let latency = result.finished_at_ms.saturating_sub(result.created_at_ms);
    let body = match (&result.result, &result.error) {
        (Some(value), _) => value.to_string(),
        (None, Some(error)) => error.message.clone(),
        (None, None) => String::new(),
    };
    format!(
        "task {} ({}) {} after {latency} ms: {body}",
        result.task_id, result.tool, result.status
    )
}

fn agent_reply(result: &ResultMessage, pending: usize) -> (String, &'static str) {
    let still = if pending > 0 {
        " The other result is still pending."
    } else {
        " That's everything."
    };
    let value = result.result.clone().unwrap_or_default();
    match result.tool.as_str() {
        "sentiment" => (
            format!(
                "The review reads {} (score {}): it praises \"{}\" but complains about \"{}\".{still}",
                value["sentiment"].as_str().unwrap_or("unclear"),
                value["score"],
                words(&value["positive_words"]),
                words(&value["negative_words"]),
            ),
            "agent on sentiment",
        ),
        _ => (
            format!(
                "The research call is back. Note: it is a demo tool, so it found nothing real: {}{still}",
                value["findings"].as_str().unwrap_or("(no findings)")
            ),
            "agent on research",
        ),
    }
}

fn words(list: &serde_json::Value) -> String {
    list.as_array()
        .map(|words| {
            words
                .iter()
                .filter_map(|w| w.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_demo_acks_at_once_and_prints_results_as_they_land() {
        let mut out = Vec::new();
        let report = run_demo(
            &mut out,
            &DemoOptions {
                research_latency: Duration::from_millis(300),
            },
        )
        .await
        .unwrap();
        let order: Vec<&str> = report.events.iter().map(|(_, e)| e.as_str()).collect();
        let at = |event: &str| {
            order
                .iter()
                .position(|e| *e == event)
                .unwrap_or_else(|| panic!("{event} missing: {order:?}"))
        };
        assert!(at("ack research") < at("ack sentiment"));
        assert!(at("ack sentiment") < at("answer meanwhile"));
        assert!(at("answer meanwhile") < at("result sentiment"));
        assert!(
            at("result sentiment") < at("result research"),
            "the fast result lands first"
        );
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("(sentiment) SUCCEEDED"), "{text}");
        assert!(text.contains("The review reads negative"), "{text}");
        assert!(text.contains("it is a demo tool"), "{text}");
    }
}
