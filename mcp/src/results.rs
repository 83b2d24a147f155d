//! The results tools and the hand-over of finished results to the model.
//!
//! Where a conversation's finished results come from: a live session is offered them by the result
//! pump the moment they land (`Conversation::offer`); the table is the fallback and the truth (its
//! `undelivered` index, filtered to the conversation), read when a session starts collecting,
//! while `task_results` waits, and on every request of a stateless server. Either way a result is
//! shown only after its claim (`handover.rs`) is won.

use crate::agent_tools::{AgentCall, MAX_TASK_IDS};
use crate::conversation::handle_of_tasks;
use crate::errors;
use crate::handover::{Finished, MAX_RESULTS_PER_REPLY, RESULTS_META_KEY};
use crate::scope::{Place, Scope};
use crate::server::FrontDoor;
use crate::status::mcp_status;
use rmcp::ErrorData as McpError;
use rmcp::model::{CallToolResult, ContentBlock, MetaObject};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;
use workers::TaskRecord;
use workers::delivery::Claim;

/// How often a waiting `task_results` reads the table besides being woken: results the pump of
/// another replica took, or that finished while nobody listened.
const TABLE_EVERY: Duration = Duration::from_secs(1);
/// How often it reads the table where nothing wakes it (no pump: the stateless server).
const TABLE_EVERY_STATELESS: Duration = Duration::from_millis(200);
/// Pages of the `undelivered` index one look at the table reads at most.
const MAX_TABLE_PAGES: usize = 10;
const TABLE_PAGE: u32 = 100;

impl FrontDoor {
    pub(crate) async fn agent_call(
        &self,
        scope: &Scope,
        call: Result<AgentCall, String>,
    ) -> Result<CallToolResult, McpError> {
        let call = match call {
            Ok(call) => call,
            Err(message) => return Ok(refusal(message)),
        };
        let (scope, answer) = match call {
            AgentCall::Results {
                wait,
                task_ids,
                conversation,
            } => {
                let scope = match self.named(scope, conversation).await {
                    Ok(scope) => scope,
                    Err(message) => return Ok(refusal(message)),
                };
                let answer = self.task_results(&scope, wait, task_ids).await?;
                // Everything finished is in it already.
                return Ok(answer);
            }
            AgentCall::Status {
                task_id,
                conversation,
            } => {
                let scope = match self.named(scope, conversation).await {
                    Ok(scope) => scope,
                    Err(message) => return Ok(refusal(message)),
                };
                let answer = self.task_status(&scope, &task_id).await?;
                (scope, answer)
            }
            AgentCall::Cancel {
                task_id,
                conversation,
            } => {
                let scope = match self.named(scope, conversation).await {
                    Ok(scope) => scope,
                    Err(message) => return Ok(refusal(message)),
                };
                let answer = self.task_cancel(&scope, &task_id).await?;
                (scope, answer)
            }
        };
        let mut answer = answer;
        self.append_finished(&scope, &mut answer).await;
        Ok(answer)
    }

    /// The scope with the conversation a results tool named, if it named one: the caller's own
    /// session, or a conversation the caller has tasks in (a stateless server's, or a session's
    /// from before a reconnect). Anything else is refused, and says so.
    async fn named(&self, scope: &Scope, conversation: Option<String>) -> Result<Scope, String> {
        let Some(handle) = conversation else {
            return Ok(scope.clone());
        };
        if handle == scope.handle() {
            return Ok(scope.clone());
        }
        let page = self
            .inner
            .dispatcher
            .list(&scope.caller, &handle, 1, None)
            .await
            .map_err(|e| format!("conversation {handle}: {e}"))?;
        if page.tasks.is_empty() {
            return Err(format!(
                "unknown conversation {handle:?}: it is not a conversation of yours with tasks in \
                 it (use the handle from an acknowledgement, or leave it out)"
            ));
        }
        Ok(Scope {
            caller: scope.caller.clone(),
            place: match self.inner.hub.conversations.get(&handle) {
                Some(live) if live.owner().as_deref() == Some(&scope.caller.principal) => {
                    Place::Live(live)
                }
                _ => Place::Named(handle),
            },
        })
    }

    /// `task_results`: every finished result of the conversation not yet handed over (of
    /// `task_ids` if given), waiting up to `wait` for the first one.
    async fn task_results(
        &self,
        scope: &Scope,
        wait: Duration,
        task_ids: Option<Vec<String>>,
    ) -> Result<CallToolResult, McpError> {
        let only: Option<BTreeSet<String>> = match &task_ids {
            Some(ids) => {
                if let Err(message) = self.check_own_tasks(scope, ids).await {
                    return Ok(refusal(message));
                }
                Some(ids.iter().cloned().collect())
            }
            None => None,
        };
        let _waiting = if wait.is_zero() {
            None
        } else {
            match self.waiting_call(&scope.caller, Some(wait)).await {
                Ok(waiting) => Some(waiting),
                Err(message) => return Ok(refusal(message)),
            }
        };
        let started = tokio::time::Instant::now();
        let mut read_table_at = started;
        let answer = loop {
            // Armed before looking, so an offer between the look and the wait is not missed.
            let offered = scope.live().map(|c| c.offered());
            let mut named = match scope.live() {
                Some(_) => None,
                None => Some(self.inner.hub.conversation_waiter(scope.handle())),
            };
            let use_table = tokio::time::Instant::now() >= read_table_at;
            let handed = self.hand_over(scope, only.as_ref(), use_table).await?;
            if use_table {
                read_table_at = tokio::time::Instant::now()
                    + if scope.live().is_some() {
                        TABLE_EVERY
                    } else {
                        TABLE_EVERY_STATELESS
                    };
            }
            let left = wait.saturating_sub(started.elapsed());
            if !handed.is_empty() || left.is_zero() {
                let pending = self.pending(scope, only.as_ref()).await;
                break results_answer(scope.handle(), handed, pending);
            }
            let nap =
                left.min(read_table_at.saturating_duration_since(tokio::time::Instant::now()));
            match (offered, named.as_mut()) {
                (Some(offered), _) => {
                    let _ = tokio::time::timeout(nap, offered).await;
                }
                // Woken by the pump where one runs; the table is read next either way.
                (None, Some(named)) => {
                    if tokio::time::timeout(nap, named.changed()).await.is_ok() {
                        read_table_at = tokio::time::Instant::now();
                    }
                }
                (None, None) => tokio::time::sleep(nap).await,
            }
        };
        if scope.live().is_none() {
            self.inner.hub.release_conversation_waiter(scope.handle());
        }
        Ok(answer)
    }

    /// Refuses task ids that are not the caller's or not in this conversation; reads nothing else.
    async fn check_own_tasks(&self, scope: &Scope, ids: &[String]) -> Result<(), String> {
        debug_assert!(ids.len() <= MAX_TASK_IDS);
        for id in ids {
            match self.inner.dispatcher.get(&scope.caller, id).await {
                Ok(record) if in_conversation(&record, scope.handle()) => {}
                Ok(_) | Err(_) => {
                    return Err(format!(
                        "unknown task {id}: it is not a task of this conversation (use the task id \
                         from an acknowledgement)"
                    ));
                }
            }
        }
        Ok(())
    }

    /// Claims and returns what is ready: offered tasks, and (when `use_table`) what the table holds
    /// undelivered for the conversation.
    async fn hand_over(
        &self,
        scope: &Scope,
        only: Option<&BTreeSet<String>>,
        use_table: bool,
    ) -> Result<Vec<Finished>, McpError> {
        let mut candidates: Vec<String> = Vec::new();
        if let Some(conversation) = scope.live() {
            candidates.extend(conversation.take_offered(MAX_RESULTS_PER_REPLY, only));
        }
        if use_table || scope.live().is_none() {
            for record in self.undelivered(scope).await? {
                let held = scope.live().is_some_and(|c| c.is_held(&record.task_id));
                if !held
                    && only.is_none_or(|o| o.contains(&record.task_id))
                    && !candidates.contains(&record.task_id)
                {
                    candidates.push(record.task_id);
                }
            }
        }
        candidates.sort();
        let mut handed = Vec::new();
        let mut left_over = Vec::new();
        for task_id in candidates {
            if handed.len() >= MAX_RESULTS_PER_REPLY {
                left_over.push(task_id);
                continue;
            }
            if let Some(record) = self.claim(scope, &task_id).await {
                handed.push(Finished::of(&record));
            }
        }
        if let Some(conversation) = scope.live() {
            conversation.reoffer(left_over);
        }
        Ok(handed)
    }

    /// The conversation's task with its hand-over claimed, if this call won it.
    async fn claim(&self, scope: &Scope, task_id: &str) -> Option<TaskRecord> {
        let record = self
            .inner
            .dispatcher
            .get(&scope.caller, task_id)
            .await
            .ok()?;
        if record.conversation_id != scope.handle()
            || !record.status.is_terminal()
            || record.delivered
        {
            return None;
        }
        match self
            .inner
            .dispatcher
            .claim_delivery(&scope.caller, record)
            .await
        {
            Ok(Claim::Won(record)) => {
                // What a conversation is handed is its caller's, of this conversation, finished.
                debug_assert!(
                    scope.caller.owns(&record)
                        && record.conversation_id == scope.handle()
                        && record.status.is_terminal()
                        && record.delivered
                );
                self.inner.hub.latencies.record(&record);
                Some(record)
            }
            Ok(Claim::Lost(_)) => None,
            Err(e) => {
                tracing::warn!(%task_id, error = %e, "could not claim a result's hand-over");
                // Offered again: the next look retries it.
                if let Some(conversation) = scope.live() {
                    conversation.reoffer([task_id.to_string()]);
                }
                None
            }
        }
    }

    /// The conversation's finished, undelivered tasks, per the table (oldest first, bounded).
    async fn undelivered(&self, scope: &Scope) -> Result<Vec<TaskRecord>, McpError> {
        let consumer = &self.inner.settings.consumer;
        let mut found = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_TABLE_PAGES {
            let page = self
                .inner
                .dispatcher
                .undelivered(&scope.caller, consumer, TABLE_PAGE, cursor.as_deref())
                .await
                .map_err(errors::pipeline)?;
            found.extend(
                page.tasks
                    .into_iter()
                    .filter(|r| r.conversation_id == scope.handle() && !r.delivered),
            );
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        Ok(found)
    }

    /// The conversation's tasks still running (of `only`, if given): named in the answer, so the
    /// model knows what it is still waiting for. Best effort, one page.
    async fn pending(&self, scope: &Scope, only: Option<&BTreeSet<String>>) -> Vec<Value> {
        let mut pending = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_TABLE_PAGES {
            let Ok(page) = self
                .inner
                .dispatcher
                .list(&scope.caller, scope.handle(), TABLE_PAGE, cursor.as_deref())
                .await
            else {
                break;
            };
            pending.extend(
                page.tasks
                    .iter()
                    .filter(|r| !r.status.is_terminal())
                    .filter(|r| only.is_none_or(|o| o.contains(&r.task_id)))
                    .map(|r| json!({"taskId": r.task_id, "tool": r.tool, "status": "working"})),
            );
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        pending
    }

    /// `task_status`: the task's state, and its result once finished (shown again on request,
    /// and claimed, so it is not handed over a second time).
    async fn task_status(&self, scope: &Scope, task_id: &str) -> Result<CallToolResult, McpError> {
        let record = match self.own_task(scope, task_id).await {
            Ok(record) => record,
            Err(message) => return Ok(refusal(message)),
        };
        if !record.status.is_terminal() {
            let text = format!(
                "{} (task {task_id}) is still running ({}). Its result will be delivered in a \
                 later message; do not guess it.",
                record.tool,
                record.status.as_str().to_lowercase()
            );
            let mut answer = CallToolResult::success(vec![ContentBlock::text(text)]);
            answer.structured_content =
                Some(json!({"taskId": task_id, "tool": record.tool, "status": "working"}));
            return Ok(answer);
        }
        let record = match self
            .inner
            .dispatcher
            .claim_delivery(&scope.caller, record)
            .await
        {
            Ok(Claim::Won(record) | Claim::Lost(record)) => record,
            Err(e) => return Err(errors::lookup(task_id, e)),
        };
        // Answered inline only to its owner, and only once it is finished.
        debug_assert!(scope.caller.owns(&record) && record.status.is_terminal());
        let finished = Finished::of(&record);
        let mut answer = CallToolResult::success(vec![ContentBlock::text(finished.text)]);
        answer.structured_content = Some(finished.json);
        Ok(answer)
    }

    async fn task_cancel(&self, scope: &Scope, task_id: &str) -> Result<CallToolResult, McpError> {
        if let Err(message) = self.own_task(scope, task_id).await {
            return Ok(refusal(message));
        }
        let outcome = self
            .inner
            .dispatcher
            .cancel(&scope.caller, task_id)
            .await
            .map_err(|e| errors::lookup(task_id, e))?;
        let record = &outcome.record;
        let status = crate::handover::status_name(mcp_status(record.status, record.error.as_ref()));
        let text = if outcome.cancelled {
            format!(
                "{} (task {task_id}) is cancelled: it will not produce a result.",
                record.tool
            )
        } else {
            format!(
                "{} (task {task_id}) had already finished ({status}); nothing was cancelled. \
                 task_status gives its result.",
                record.tool
            )
        };
        let mut answer = CallToolResult::success(vec![ContentBlock::text(text)]);
        answer.structured_content =
            Some(json!({"taskId": task_id, "status": status, "cancelled": outcome.cancelled}));
        Ok(answer)
    }

    /// The caller's task in this conversation (or in its task conversation), or why not.
    async fn own_task(&self, scope: &Scope, task_id: &str) -> Result<TaskRecord, String> {
        let unknown = || {
            format!(
                "unknown task {task_id}: it is not a task of this conversation (use the task id \
                 from an acknowledgement)"
            )
        };
        match self.lookup(&scope.caller, task_id).await {
            Ok(record)
                if in_conversation(&record, scope.handle())
                    || handle_of_tasks(&record.conversation_id) == Some(scope.handle()) =>
            {
                Ok(record)
            }
            _ => Err(unknown()),
        }
    }

    /// Appends the conversation's finished, not yet handed over results to `answer`: a model that
    /// keeps working sees them without asking. Never fails the answer it rides on.
    pub(crate) async fn append_finished(&self, scope: &Scope, answer: &mut CallToolResult) {
        let handed = match self.hand_over(scope, None, scope.live().is_none()).await {
            Ok(handed) => handed,
            Err(e) => {
                tracing::warn!(error = %e.message, "could not look for finished results");
                return;
            }
        };
        if handed.is_empty() {
            return;
        }
        let listed: Vec<Value> = handed.iter().map(|f| f.json.clone()).collect();
        for finished in handed {
            answer.content.push(ContentBlock::text(finished.text));
        }
        let meta = answer
            .meta
            .get_or_insert_with(|| MetaObject(Default::default()));
        meta.0
            .insert(RESULTS_META_KEY.to_string(), Value::Array(listed));
    }

    /// A task read through the tasks protocol once finished has reached its client: noted in the
    /// table, so it is not reconciled again. Not a claim: a task's result may be read any number
    /// of times.
    pub(crate) async fn note_read(&self, scope: &Scope, record: &TaskRecord) {
        if record.status.is_terminal()
            && !record.delivered
            && let Err(e) = self
                .inner
                .dispatcher
                .claim_delivery(&scope.caller, record.clone())
                .await
        {
            tracing::debug!(task_id = %record.task_id, error = %e, "could not note a read result");
        }
    }
}

fn in_conversation(record: &TaskRecord, handle: &str) -> bool {
    record.conversation_id == handle
}

/// A results tool's refusal: an error result the model can read and correct.
fn refusal(message: String) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message)])
}

fn results_answer(handle: &str, handed: Vec<Finished>, pending: Vec<Value>) -> CallToolResult {
    let listed: Vec<Value> = handed.iter().map(|f| f.json.clone()).collect();
    let mut content: Vec<ContentBlock> = handed
        .into_iter()
        .map(|f| ContentBlock::text(f.text))
        .collect();
    let names = |items: &[Value]| {
        items
            .iter()
            .map(|p| {
                format!(
                    "{} (task {})",
                    p["tool"].as_str().unwrap_or("?"),
                    p["taskId"].as_str().unwrap_or("?")
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let summary = match (listed.len(), pending.is_empty()) {
        (0, true) => {
            "No results are waiting, and no task of this conversation is running.".to_string()
        }
        (0, false) => format!(
            "No results are ready yet. Still running: {}. Do not guess their results; call \
             task_results with wait_s to wait for them.",
            names(&pending)
        ),
        (n, true) => format!("{n} result(s) above; no other task of this conversation is running."),
        (n, false) => format!(
            "{n} result(s) above. Still running: {}; their results come later.",
            names(&pending)
        ),
    };
    content.push(ContentBlock::text(summary));
    let mut answer = CallToolResult::success(content);
    answer.structured_content = Some(json!({
        "results": listed,
        "pending": pending,
        "conversation": handle,
    }));
    answer
}
