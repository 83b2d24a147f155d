//! The event queue: a min-heap ordered by (time, insertion sequence).
//!
//! Ties are broken by insertion order, so a run is a pure function of its inputs. The queue
//! refuses to schedule into the past: simulated time never goes backwards.

use crate::model::quad_heap::Keyed;
use crate::model::time::Nanos;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// An event scheduled at `time`, the `seq`-th scheduled: ties pop in scheduling order. The
/// shared worlds' queue (`run/world/events.rs`) keeps these too.
#[derive(Clone, Copy)]
pub(crate) struct Entry<E> {
    pub(crate) time: Nanos,
    pub(crate) seq: u64,
    pub(crate) event: E,
}

impl<E: Copy> Keyed for Entry<E> {
    /// (time, seq) as one number: compared without branches, so that a heap's choice between
    /// children is not a mispredicted jump.
    #[inline]
    fn key(&self) -> u128 {
        (self.time as u128) << 64 | self.seq as u128
    }
}

impl<E: Copy> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}
impl<E: Copy> Eq for Entry<E> {}
impl<E: Copy> PartialOrd for Entry<E> {
    #[inline]
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }

    #[inline]
    fn le(&self, other: &Self) -> bool {
        other.key() <= self.key()
    }
}

impl<E: Copy> Ord for Entry<E> {
    // BinaryHeap is a max-heap: reverse so the earliest (time, seq) pops first.
    #[inline]
    fn cmp(&self, other: &Self) -> Ordering {
        other.key().cmp(&self.key())
    }
}

/// Up to this many pending events live in a sorted vector (pop is O(1); a push is usually an
/// append, since most events are scheduled after those pending, else a few entries move back),
/// which beats a heap's sifts at the sizes one session has; beyond it, a binary heap (until it
/// empties: a queue that has grown, a shared world's, stays in the heap).
const SMALL: usize = 32;

pub struct EventQueue<E> {
    /// Sorted earliest first from `head`; the entries before `head` have been popped.
    small: Vec<Entry<E>>,
    head: usize,
    heap: BinaryHeap<Entry<E>>,
    next_seq: u64,
    now: Nanos,
}

impl<E: Copy> Default for EventQueue<E> {
    fn default() -> Self {
        EventQueue {
            small: Vec::with_capacity(2 * SMALL),
            head: 0,
            heap: BinaryHeap::new(),
            next_seq: 0,
            now: 0,
        }
    }
}

impl<E: Copy> EventQueue<E> {
    /// Empties the queue and rewinds the clock to 0, keeping the allocation.
    pub fn reset(&mut self) {
        self.small.clear();
        self.head = 0;
        self.heap.clear();
        self.next_seq = 0;
        self.now = 0;
    }

    /// The time of the event popped last.
    pub fn now(&self) -> Nanos {
        self.now
    }

    /// Schedules `event` at `time`, which must not be before [`EventQueue::now`].
    #[inline]
    pub fn push(&mut self, time: Nanos, event: E) {
        assert!(
            time >= self.now,
            "event scheduled at {time} ns, before the current time {} ns",
            self.now
        );
        let entry = Entry {
            time,
            seq: self.next_seq,
            event,
        };
        self.next_seq += 1;
        if !self.heap.is_empty() {
            // (the vector is empty while the heap holds events: pops take the vector first)
            self.heap.push(entry);
            return;
        }
        if self.small.len() - self.head >= SMALL {
            self.heap.extend(self.small.drain(self.head..));
            self.small.clear();
            self.head = 0;
            self.heap.push(entry);
            return;
        }
        if self.head >= SMALL {
            // a queue that never empties (a shared world) must not grow its popped prefix
            self.small.drain(..self.head);
            self.head = 0;
        }
        // The new entry has the highest seq, so it goes after every entry at or before its time.
        // Appended, then moved back past the later entries: a few steps at these sizes, where
        // a binary search and a memmove (a library call) cost more.
        self.small.push(entry);
        let mut at = self.small.len() - 1;
        while at > self.head && self.small[at - 1].time > time {
            self.small[at] = self.small[at - 1];
            at -= 1;
        }
        self.small[at] = entry;
    }

    #[inline]
    pub fn pop(&mut self) -> Option<(Nanos, E)> {
        let entry = if self.head < self.small.len() {
            let e = self.small[self.head];
            self.head += 1;
            if self.head == self.small.len() {
                self.small.clear();
                self.head = 0;
            }
            e
        } else {
            self.heap.pop()?
        };
        debug_assert!(entry.time >= self.now, "time went backwards");
        self.now = entry.time;
        Some((entry.time, entry.event))
    }

    #[inline]
    pub fn peek_time(&self) -> Option<Nanos> {
        match self.small.get(self.head) {
            Some(e) => Some(e.time),
            None => self.heap.peek().map(|e| e.time),
        }
    }

    pub fn len(&self) -> usize {
        self.small.len() - self.head + self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_in_time_then_insertion_order() {
        let mut q = EventQueue::default();
        q.push(5, 'a');
        q.push(1, 'b');
        q.push(5, 'c');
        q.push(1, 'd');
        let order: Vec<char> = std::iter::from_fn(|| q.pop().map(|(_, e)| e)).collect();
        assert_eq!(order, vec!['b', 'd', 'a', 'c']);
        assert_eq!(q.now(), 5);
    }

    #[test]
    fn large_queues_keep_the_same_order() {
        // past the small-vector size the heap takes over; the order must not change
        let mut q = EventQueue::default();
        let times: Vec<u64> = (0..200u64).map(|i| (i * 7919) % 50).collect();
        for (i, &t) in times.iter().enumerate() {
            q.push(t, i);
        }
        let mut expected: Vec<(u64, usize)> = times.iter().copied().zip(0..).collect();
        expected.sort();
        let got: Vec<(u64, usize)> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(got, expected);
    }

    proptest::proptest! {
        /// Pushes and pops interleaved, through the vector (appends, inserts, the popped prefix
        /// compacted) and the heap: the order is always (time, insertion), as a sorted reference.
        #[test]
        fn interleaved_pushes_and_pops_keep_time_then_insertion_order(
            steps in proptest::collection::vec((0u64..40, 0usize..3), 1..400)
        ) {
            let mut q = EventQueue::default();
            let mut reference = std::collections::BTreeSet::new();
            for (i, &(ahead, pops)) in steps.iter().enumerate() {
                let t = q.now() + ahead;
                q.push(t, i);
                reference.insert((t, i));
                for _ in 0..pops {
                    let want = reference.pop_first();
                    proptest::prop_assert_eq!(q.pop(), want);
                    proptest::prop_assert_eq!(q.len(), reference.len());
                }
            }
            while let Some(want) = reference.pop_first() {
                proptest::prop_assert_eq!(q.peek_time(), Some(want.0));
                proptest::prop_assert_eq!(q.pop(), Some(want));
            }
            proptest::prop_assert!(q.is_empty() && q.pop().is_none());
        }
    }

    #[test]
    #[should_panic(expected = "before the current time")]
    fn refuses_the_past() {
        let mut q = EventQueue::default();
        q.push(10, ());
        q.pop();
        q.push(9, ());
    }
}
