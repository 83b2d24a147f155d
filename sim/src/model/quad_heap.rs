//! A 4-ary min-heap of unique keys: half the levels of a binary heap.
//!
//! A shared world's queue holds a few hundred events, and a pop's sift is a chain of dependent
//! loads and compares, one link per level. Four children per node halve the links; the smallest
//! of four is picked without jumps (two pairs, then their winners), so the extra compares run
//! side by side instead of as mispredicted branches. Keys are unique (the queue's sequence
//! numbers make them so), so any correct heap pops in the same order.

/// An item with its key; a smaller key pops first.
pub trait Keyed: Copy {
    fn key(&self) -> u128;
}

const ARITY: usize = 4;

#[derive(Debug, Clone)]
pub struct QuadHeap<T> {
    items: Vec<T>,
}

impl<T> Default for QuadHeap<T> {
    fn default() -> Self {
        QuadHeap { items: Vec::new() }
    }
}

impl<T: Keyed> QuadHeap<T> {
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The smallest item.
    pub fn peek(&self) -> Option<&T> {
        self.items.first()
    }

    #[inline]
    pub fn push(&mut self, item: T) {
        let key = item.key();
        let mut at = self.items.len();
        self.items.push(item);
        while at > 0 {
            let parent = (at - 1) / ARITY;
            if self.items[parent].key() <= key {
                break;
            }
            self.items[at] = self.items[parent];
            at = parent;
        }
        self.items[at] = item;
    }

    /// Removes and returns the smallest item.
    #[inline]
    pub fn pop(&mut self) -> Option<T> {
        let last = self.items.pop()?;
        let Some(&top) = self.items.first() else {
            return Some(last);
        };
        // Floyd's: move the hole at the root down to a leaf along the smallest children (the
        // last item, from the bottom, nearly always belongs there), then sift `last` up.
        let items = &mut self.items[..];
        let len = items.len();
        let mut hole = 0;
        loop {
            let first = ARITY * hole + 1;
            if first + ARITY > len {
                break;
            }
            let smallest = smallest_of_four(items, first);
            items[hole] = items[smallest];
            hole = smallest;
        }
        // a last family of fewer than four children
        let first = ARITY * hole + 1;
        if first < len {
            let mut smallest = first;
            for child in first + 1..len {
                if items[child].key() < items[smallest].key() {
                    smallest = child;
                }
            }
            items[hole] = items[smallest];
            hole = smallest;
        }
        let key = last.key();
        while hole > 0 {
            let parent = (hole - 1) / ARITY;
            if items[parent].key() <= key {
                break;
            }
            items[hole] = items[parent];
            hole = parent;
        }
        items[hole] = last;
        Some(top)
    }
}

/// The index of the smallest of `items[first..first + 4]`, without jumps.
#[inline]
fn smallest_of_four<T: Keyed>(items: &[T], first: usize) -> usize {
    let four = &items[first..first + ARITY];
    let (k0, k1, k2, k3) = (four[0].key(), four[1].key(), four[2].key(), four[3].key());
    let (a, ka) = if k1 < k0 { (1, k1) } else { (0, k0) };
    let (b, kb) = if k3 < k2 { (3, k3) } else { (2, k2) };
    first + if kb < ka { b } else { a }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    impl Keyed for (u64, u64) {
        fn key(&self) -> u128 {
            (self.0 as u128) << 64 | self.1 as u128
        }
    }

    proptest! {
        /// Interleaved pushes and pops, against a sorted reference: every family size at the
        /// bottom (1–4 children), heaps up to a few hundred items.
        #[test]
        fn pops_smallest_first(steps in prop::collection::vec((0u64..50, 0usize..3), 1..600)) {
            let mut heap = QuadHeap::default();
            let mut reference = std::collections::BTreeSet::new();
            for (seq, &(time, pops)) in steps.iter().enumerate() {
                heap.push((time, seq as u64));
                reference.insert((time, seq as u64));
                for _ in 0..pops {
                    prop_assert_eq!(heap.pop(), reference.pop_first());
                    prop_assert_eq!(heap.len(), reference.len());
                    prop_assert_eq!(heap.peek().copied(), reference.first().copied());
                }
            }
            while let Some(want) = reference.pop_first() {
                prop_assert_eq!(heap.pop(), Some(want));
            }
            prop_assert!(heap.is_empty() && heap.pop().is_none());
        }
    }
}
