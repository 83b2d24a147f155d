//! The agent-loop policies of the contract (`docs/agent-loop-model.md`).

use crate::model::time::Nanos;
use serde::Serialize;
use std::fmt;
use std::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicyKind {
    /// One call per turn: issue one ready call, wait for it, read it next turn.
    Sequential,
    /// Issue every ready call, wait for all of them, read them all next turn.
    Sync,
    /// Issue every ready call and return at once; read whatever has arrived whenever idle.
    Async,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    pub kind: PolicyKind,
    /// Async only: after the first waiting result, hold up to this long for more.
    pub batch_window: Nanos,
    /// Dispatch each call as soon as its part of the turn is generated (LLMCompiler, AsyncLM),
    /// not at the end of the turn.
    pub streamed: bool,
}

impl Policy {
    pub const SEQUENTIAL: Policy = Policy {
        kind: PolicyKind::Sequential,
        batch_window: 0,
        streamed: false,
    };
    pub const SYNC: Policy = Policy {
        kind: PolicyKind::Sync,
        batch_window: 0,
        streamed: false,
    };
    pub const ASYNC: Policy = Policy {
        kind: PolicyKind::Async,
        batch_window: 0,
        streamed: false,
    };

    pub fn with_batch_window(mut self, window: Nanos) -> Policy {
        if self.kind == PolicyKind::Async {
            self.batch_window = window;
        }
        self
    }

    /// Whether calls pay the synchronous invocation overhead (else dispatch + delivery).
    /// Whether the loop waits for its calls inside the turn that issued them. Exhaustive: a new
    /// kind must decide (it picks overheads, wake-ups and the pipeline's cost).
    pub fn is_blocking(&self) -> bool {
        match self.kind {
            PolicyKind::Sequential | PolicyKind::Sync => true,
            PolicyKind::Async => false,
        }
    }

    pub fn with_streaming(mut self, streamed: bool) -> Policy {
        self.streamed = streamed;
        self
    }

    /// Neither batched nor streamed: the kind as the contract first describes it.
    pub fn is_plain(&self) -> bool {
        self.batch_window == 0 && !self.streamed
    }

    /// Whether `baseline` against `candidate` is the comparison a report leads with: the plain
    /// sync loop against async in any form.
    pub fn is_headline(baseline: &Policy, candidate: &Policy) -> bool {
        baseline.kind.role() == PolicyRole::Baseline
            && baseline.is_plain()
            && candidate.kind.role() == PolicyRole::Candidate
    }

    /// Parses `sync`, `async`, `sequential`, each optionally followed by `+stream`.
    pub fn parse(text: &str) -> Result<Policy, String> {
        let (kind, streamed) = match text.trim().strip_suffix("+stream") {
            Some(k) => (k, true),
            None => (text.trim(), false),
        };
        Ok(Policy {
            kind: kind.parse()?,
            batch_window: 0,
            streamed,
        })
    }

    /// The policy's name in reports: `sync`, `async+stream`, or `async+batch(100ms)`.
    pub fn name(&self) -> String {
        let base = self.base_name();
        if self.streamed {
            format!("{base}+stream")
        } else {
            base
        }
    }

    /// Reads back exactly what [`Policy::name`] writes (results and reports keep policies by
    /// name, batch windows included, which [`Policy::parse`] does not take); `None` otherwise.
    pub fn from_name(name: &str) -> Option<Policy> {
        let (base, streamed) = match name.strip_suffix("+stream") {
            Some(base) => (base, true),
            None => (name, false),
        };
        let policy = match base
            .strip_prefix("async+batch(")
            .and_then(|w| w.strip_suffix(')'))
        {
            Some(window) => {
                let window = crate::model::duration::parse(window).ok()?.as_nanos();
                Policy::ASYNC.with_batch_window(Nanos::try_from(window).ok()?)
            }
            None => Policy {
                kind: base.parse().ok()?,
                batch_window: 0,
                streamed: false,
            },
        }
        .with_streaming(streamed);
        // Spellings `parse` forgives ("seq", spaces) are not names.
        (policy.name() == name).then_some(policy)
    }

    fn base_name(&self) -> String {
        match (self.kind, self.batch_window) {
            (PolicyKind::Sequential, _) => "sequential".into(),
            (PolicyKind::Sync, _) => "sync".into(),
            (PolicyKind::Async, 0) => "async".into(),
            (PolicyKind::Async, w) => format!(
                "async+batch({})",
                crate::model::duration::format(&std::time::Duration::from_nanos(w))
            ),
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// A kind's side in the comparison this project is about: does async beat the usual sync loop?
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyRole {
    Baseline,
    Candidate,
    Neither,
}

impl PolicyKind {
    /// Exhaustive, so a new kind must decide which side of the headline it takes.
    pub fn role(self) -> PolicyRole {
        match self {
            PolicyKind::Sync => PolicyRole::Baseline,
            PolicyKind::Async => PolicyRole::Candidate,
            PolicyKind::Sequential => PolicyRole::Neither,
        }
    }
}

impl FromStr for PolicyKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "sequential" | "seq" => Ok(PolicyKind::Sequential),
            "sync" => Ok(PolicyKind::Sync),
            "async" => Ok(PolicyKind::Async),
            other => Err(format!(
                "unknown policy \"{other}\"; the policies are sequential, sync and async, \
                 each optionally with +stream"
            )),
        }
    }
}

/// More policies than anyone compares at once; bounds the pairwise comparisons (n·(n−1)/2).
pub const MAX_POLICIES: usize = 8;

/// Why a list of policies to compare cannot be run.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum PolicyListError {
    #[error("give between 1 and {MAX_POLICIES} policies, got {0}")]
    Count(usize),
    #[error("policy {0} is listed twice")]
    Duplicate(String),
}

/// Checks a list of policies to run side by side: 1 to [`MAX_POLICIES`], each once.
pub fn check_list(policies: &[Policy]) -> Result<(), PolicyListError> {
    if policies.is_empty() || policies.len() > MAX_POLICIES {
        return Err(PolicyListError::Count(policies.len()));
    }
    match policies
        .iter()
        .enumerate()
        .find(|(i, p)| policies[..*i].contains(p))
    {
        Some((_, p)) => Err(PolicyListError::Duplicate(p.name())),
        None => Ok(()),
    }
}

/// Every pair (baseline, candidate) of `n` policies: each later one against each earlier one.
pub fn pairs(n: usize) -> Vec<(usize, usize)> {
    (0..n)
        .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Nanos = 1_000_000;

    #[test]
    fn every_name_reads_back_as_its_policy() {
        let batched = Policy::ASYNC.with_batch_window(100 * MS);
        let odd_window = Policy::ASYNC.with_batch_window(1_500 * MS);
        for p in [
            Policy::SEQUENTIAL,
            Policy::SYNC,
            Policy::ASYNC,
            batched.clone(),
            odd_window,
        ] {
            for p in [p.clone(), p.with_streaming(true)] {
                assert_eq!(
                    Policy::from_name(&p.name()),
                    Some(p.clone()),
                    "{}",
                    p.name()
                );
            }
        }
        assert_eq!(batched.name(), "async+batch(100ms)");
        // What `parse` forgives, or nothing writes, is not a name.
        for text in [
            "seq",
            " sync",
            "async+batch(0s)",
            "async+batch(soon)",
            "async+",
            "",
            "x",
        ] {
            assert_eq!(Policy::from_name(text), None, "{text:?}");
        }
    }

    #[test]
    fn the_headline_is_plain_sync_against_any_async() {
        let sync_stream = Policy::SYNC.with_streaming(true);
        let batched = Policy::ASYNC
            .with_batch_window(100 * MS)
            .with_streaming(true);
        assert!(Policy::is_headline(&Policy::SYNC, &Policy::ASYNC));
        assert!(Policy::is_headline(&Policy::SYNC, &batched));
        assert!(!Policy::is_headline(&sync_stream, &Policy::ASYNC));
        assert!(!Policy::is_headline(&Policy::ASYNC, &Policy::SYNC));
        assert!(!Policy::is_headline(&Policy::SEQUENTIAL, &Policy::ASYNC));
        assert!(!Policy::is_headline(&Policy::SYNC, &Policy::SEQUENTIAL));
    }
}
