//! What sessions share inside one world: the model's turn slots (and rate limit), and each
//! tool's instances with their FIFO queue and warm pool.

use super::events::{Events, Tagged};
use crate::model::agent::Event;
use crate::model::time::Nanos;
use std::collections::VecDeque;

pub(super) struct ModelPool {
    pub capacity: u32,
    pub busy: u32,
    pub gap: Nanos,
    pub next_start: Nanos,
    pub waiting: VecDeque<u32>,
    pub tick_pending: bool,
    pub turns: u64,
}

impl ModelPool {
    pub fn new(capacity: Option<u32>, gap: Option<Nanos>) -> ModelPool {
        ModelPool {
            capacity: capacity.unwrap_or(u32::MAX),
            busy: 0,
            gap: gap.unwrap_or(0),
            next_start: 0,
            waiting: VecDeque::new(),
            tick_pending: false,
            turns: 0,
        }
    }

    #[inline]
    pub fn may_start(&self, now: Nanos) -> bool {
        self.busy < self.capacity && now >= self.next_start
    }

    #[inline]
    pub fn grant(&mut self, now: Nanos) {
        self.busy += 1;
        self.turns += 1;
        self.next_start = now + self.gap;
    }

    /// Grants waiting turns while capacity and the rate allow; else arms a tick for the rate.
    pub fn pump(&mut self, now: Nanos, queue: &mut Events) {
        while let Some(&slot) = self.waiting.front() {
            if self.may_start(now) {
                self.waiting.pop_front();
                self.grant(now);
                queue.push(now, Tagged::session(slot, Event::TurnGranted));
            } else {
                if self.busy < self.capacity && !self.tick_pending {
                    self.tick_pending = true;
                    queue.push(self.next_start, Tagged::MODEL_TICK);
                }
                break;
            }
        }
    }
}

pub(super) struct Queued {
    pub slot: u32,
    pub call: u32,
    pub run: Nanos,
    pub cold: Nanos,
    pub since: Nanos,
}

pub(super) struct ToolPool {
    pub capacity: u32,
    pub busy: u32,
    pub waiting: VecDeque<Queued>,
    /// Warm instances by the time they went idle, oldest first (so the newest is reused, and
    /// if the newest has expired, all have).
    pub idle_since: Vec<Nanos>,
    pub keep_warm: Nanos,
    pub has_cold_starts: bool,
    pub busy_ns: u128,
    pub attempts: u64,
    pub cold_starts: u64,
}

impl ToolPool {
    pub fn new(tool: &crate::model::scenario::Tool) -> ToolPool {
        ToolPool {
            capacity: tool.concurrency.unwrap_or(u32::MAX),
            busy: 0,
            waiting: VecDeque::new(),
            idle_since: Vec::new(),
            keep_warm: tool.keep_warm,
            has_cold_starts: tool.cold_start.is_some(),
            busy_ns: 0,
            attempts: 0,
            cold_starts: 0,
        }
    }

    /// Starts an attempt now; returns its duration and whether it started cold.
    #[inline]
    pub fn start(&mut self, now: Nanos, q: &Queued) -> (Nanos, bool) {
        let cold = self.has_cold_starts
            && match self.idle_since.pop() {
                Some(t) if now - t <= self.keep_warm => false,
                Some(_) => {
                    self.idle_since.clear();
                    true
                }
                None => true,
            };
        let duration = q.run + if cold { q.cold } else { 0 };
        self.busy += 1;
        self.busy_ns += duration as u128;
        self.attempts += 1;
        self.cold_starts += cold as u64;
        (duration, cold)
    }

    #[inline]
    pub fn release(&mut self, now: Nanos) {
        self.busy -= 1;
        if self.has_cold_starts {
            self.idle_since.push(now);
        }
    }
}
