//! What sessions share inside one world: the model's turn slots (and rate limit), each tool's
//! instances with their FIFO queue and warm pool; and the world's events, packed small.

use crate::model::agent::Event;
use crate::model::engine::EventQueue;
use crate::model::time::Nanos;
use std::collections::VecDeque;

/// An event of one world, packed into 8 bytes (a queue entry is then 24 bytes, not 32: the
/// heap moves entries on every push and pop). `head` holds the session's slot above
/// [`KIND_BITS`] bits of kind; `arg` the call of call events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Tagged {
    head: u32,
    arg: u32,
}

const KIND_BITS: u32 = 4;
/// Slots must fit above the kind (`MAX_ACTIVE_SESSIONS` is far below).
pub(super) const MAX_SLOTS: u64 = 1 << (32 - KIND_BITS);

/// A world event, unpacked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum WorldEvent {
    Session(u32, Event),
    Arrival,
    ModelTick,
}

const TURN_END: u32 = 0;
const TURN_GRANTED: u32 = 1;
const ARRIVE: u32 = 2;
const ALL_ARRIVED: u32 = 3;
const HOLD_EXPIRED: u32 = 4;
const FOLLOW_UP: u32 = 5;
const AT_TOOL: u32 = 6;
const ATTEMPT_DONE: u32 = 7;
const ARRIVAL: u32 = 8;
const MODEL_TICK: u32 = 9;

impl Tagged {
    pub(super) const ARRIVAL: Tagged = Tagged {
        head: ARRIVAL,
        arg: 0,
    };
    pub(super) const MODEL_TICK: Tagged = Tagged {
        head: MODEL_TICK,
        arg: 0,
    };

    #[inline]
    pub(super) fn session(slot: u32, event: Event) -> Tagged {
        debug_assert!((slot as u64) < MAX_SLOTS);
        let (kind, arg) = match event {
            Event::TurnEnd => (TURN_END, 0),
            Event::TurnGranted => (TURN_GRANTED, 0),
            Event::Arrive(call) => (ARRIVE, call),
            Event::AllArrived => (ALL_ARRIVED, 0),
            Event::HoldExpired => (HOLD_EXPIRED, 0),
            Event::FollowUp => (FOLLOW_UP, 0),
            Event::AtTool(call) => (AT_TOOL, call),
            Event::AttemptDone(call) => (ATTEMPT_DONE, call),
        };
        Tagged {
            head: slot << KIND_BITS | kind,
            arg,
        }
    }

    #[inline]
    pub(super) fn unpack(self) -> WorldEvent {
        let slot = self.head >> KIND_BITS;
        let event = match self.head & ((1 << KIND_BITS) - 1) {
            TURN_END => Event::TurnEnd,
            TURN_GRANTED => Event::TurnGranted,
            ARRIVE => Event::Arrive(self.arg),
            ALL_ARRIVED => Event::AllArrived,
            HOLD_EXPIRED => Event::HoldExpired,
            FOLLOW_UP => Event::FollowUp,
            AT_TOOL => Event::AtTool(self.arg),
            ATTEMPT_DONE => Event::AttemptDone(self.arg),
            ARRIVAL => return WorldEvent::Arrival,
            _ => return WorldEvent::ModelTick,
        };
        WorldEvent::Session(slot, event)
    }
}

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
    pub fn pump(&mut self, now: Nanos, queue: &mut EventQueue<Tagged>) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_through_the_packing() {
        let slot = (MAX_SLOTS - 1) as u32;
        for event in [
            Event::TurnEnd,
            Event::TurnGranted,
            Event::Arrive(u32::MAX),
            Event::AllArrived,
            Event::HoldExpired,
            Event::FollowUp,
            Event::AtTool(7),
            Event::AttemptDone(0),
        ] {
            for s in [0, 1, slot] {
                assert_eq!(
                    Tagged::session(s, event).unpack(),
                    WorldEvent::Session(s, event)
                );
            }
        }
        assert_eq!(Tagged::ARRIVAL.unpack(), WorldEvent::Arrival);
        assert_eq!(Tagged::MODEL_TICK.unpack(), WorldEvent::ModelTick);
        assert_eq!(std::mem::size_of::<Tagged>(), 8);
    }
}
