//! A world's events: packed small, and those of the current instant kept out of the heap.

use crate::model::agent::Event;
use crate::model::engine::Entry;
use crate::model::quad_heap::QuadHeap;
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

/// A world's event queue: [`EventQueue`](crate::model::engine::EventQueue)'s order (time, then
/// insertion), with the events scheduled for the instant being run (a result delivered with no
/// delay, a granted turn) in a FIFO beside the heap rather than through it. They were scheduled
/// after every event of that instant already in the heap (those were scheduled before the clock
/// reached it), so they come after them, in the order scheduled: the same order, at a fraction
/// of the cost.
///
/// The rest wait in a 4-ary heap: a world keeps a few hundred events pending, where a binary
/// heap's sift (one dependent load and compare per level) was a quarter of a world's time.
/// (A session on its own keeps a few: `EventQueue`'s sorted vector suits those.)
#[derive(Default)]
pub(super) struct Events {
    heap: QuadHeap<Entry<Tagged>>,
    /// Heap entries scheduled so far: ties in time pop in scheduling order.
    next_seq: u64,
    /// Events at `now`, scheduled while `now` was the current instant.
    instant: VecDeque<Tagged>,
    now: Nanos,
}

impl Events {
    /// Schedules `event` at `time`, which must not be before the current instant.
    #[inline]
    pub fn push(&mut self, time: Nanos, event: Tagged) {
        if time == self.now {
            self.instant.push_back(event);
        } else {
            assert!(
                time > self.now,
                "event scheduled at {time} ns, before the current time {} ns",
                self.now
            );
            let seq = self.next_seq;
            self.next_seq += 1;
            self.heap.push(Entry { time, seq, event });
        }
    }

    #[inline]
    pub fn pop(&mut self) -> Option<(Nanos, Tagged)> {
        if self.heap_time() != Some(self.now)
            && let Some(event) = self.instant.pop_front()
        {
            return Some((self.now, event));
        }
        let Entry { time, event, .. } = self.heap.pop()?;
        debug_assert!(time >= self.now, "time went backwards");
        self.now = time;
        Some((time, event))
    }

    #[inline]
    pub fn peek_time(&self) -> Option<Nanos> {
        if self.instant.is_empty() {
            self.heap_time()
        } else {
            Some(self.now)
        }
    }

    #[inline]
    fn heap_time(&self) -> Option<Nanos> {
        self.heap.peek().map(|e| e.time)
    }

    /// The time of the event popped last.
    #[cfg(test)]
    pub fn now(&self) -> Nanos {
        self.now
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::engine::EventQueue;

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

    #[test]
    fn pops_in_the_order_of_the_engine_queue() {
        // a pseudo-random mix of pushes (many at the current instant) and pops, checked
        // against EventQueue itself
        let mut events = Events::default();
        let mut reference: EventQueue<Tagged> = EventQueue::default();
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut pushed = 0u32;
        for _ in 0..200_000 {
            let r = next();
            if r % 5 < 3 {
                let at = match r % 4 {
                    0 | 1 => events.now(),
                    2 => events.now() + (r >> 8) % 3,
                    _ => events.now() + (r >> 8) % 1000,
                };
                let e = Tagged::session(pushed % 1000, Event::Arrive(pushed));
                pushed += 1;
                events.push(at, e);
                reference.push(at, e);
            } else {
                assert_eq!(events.peek_time(), reference.peek_time());
                assert_eq!(events.pop(), reference.pop());
            }
        }
        while let Some(e) = reference.pop() {
            assert_eq!(events.pop(), Some(e));
        }
        assert_eq!(events.pop(), None);
    }
}
