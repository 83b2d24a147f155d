//! A session's values under each policy, held until every policy's world has finished it.

use crate::run::metrics::SessionValues;
use std::collections::HashMap;

/// The ring's largest size: past it, the oldest entries (sessions held up in some world, e.g.
/// behind a heavy-tailed call) move to a map, so one straggler cannot stretch the ring over every
/// session that finished after it. 65,536 entries × 64 bytes a policy.
const RING_MAX: usize = 1 << 16;

/// Sessions some world has finished and some has not, in a ring indexed by session id minus
/// the oldest such id: no allocation, no hashing per session. The ring spans the ids from the
/// oldest session not finished by every world to the newest finished by any (it grows, by
/// doubling, only when that span does, up to [`RING_MAX`]; older unfinished sessions then wait
/// in a map).
pub(super) struct Pending {
    policies: usize,
    /// The id at ring index `head`: every older session is paired.
    base: u64,
    head: usize,
    /// Ids `base..base + len` have an entry; every count outside them is 0.
    len: usize,
    /// Per entry: how many policies have finished the session.
    counts: Vec<u32>,
    /// Per entry, `policies` values.
    values: Vec<SessionValues>,
    /// Sessions older than `base` that some world has not finished: (count, values).
    stragglers: HashMap<u64, (u32, Vec<SessionValues>)>,
}

impl Pending {
    pub fn new(policies: usize) -> Pending {
        let mut p = Pending {
            policies,
            base: 0,
            head: 0,
            len: 0,
            counts: Vec::new(),
            values: Vec::new(),
            stragglers: HashMap::new(),
        };
        p.grow(1024);
        p
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0 && self.stragglers.is_empty()
    }

    /// Ring entries allocated (for tests of the bound).
    #[cfg(test)]
    pub fn capacity(&self) -> usize {
        self.counts.len()
    }

    /// Adds policy `p`'s values of finished sessions; appends the values (all policies, in
    /// order) of each session that is now finished everywhere to `complete`.
    pub fn add(
        &mut self,
        p: usize,
        finished: &[(u64, SessionValues)],
        complete: &mut Vec<SessionValues>,
    ) {
        let n = self.policies;
        for &(id, values) in finished {
            if id < self.base {
                self.add_straggler(p, id, values, complete);
                continue;
            }
            if id - self.base >= RING_MAX as u64 {
                self.spill((id - self.base) as usize + 1 - RING_MAX);
            }
            let off = (id - self.base) as usize;
            if off >= self.counts.len() {
                self.grow(off + 1);
            }
            self.len = self.len.max(off + 1);
            let i = (self.head + off) & (self.counts.len() - 1);
            self.values[i * n + p] = values;
            self.counts[i] += 1;
            if self.counts[i] as usize == n {
                complete.extend_from_slice(&self.values[i * n..(i + 1) * n]);
            }
        }
        let mask = self.counts.len() - 1;
        while self.len > 0 && self.counts[self.head] as usize == n {
            self.counts[self.head] = 0;
            self.head = (self.head + 1) & mask;
            self.base += 1;
            self.len -= 1;
        }
    }

    fn add_straggler(
        &mut self,
        p: usize,
        id: u64,
        values: SessionValues,
        complete: &mut Vec<SessionValues>,
    ) {
        let n = self.policies;
        let (count, held) = self
            .stragglers
            .entry(id)
            .or_insert_with(|| (0, vec![SessionValues::default(); n]));
        held[p] = values;
        *count += 1;
        if *count as usize == n {
            complete.extend_from_slice(held);
            self.stragglers.remove(&id);
        }
    }

    /// Moves the `k` oldest entries out of the ring: those some world but not every world has
    /// finished go to the stragglers' map (complete ones were handed out already).
    fn spill(&mut self, k: usize) {
        let n = self.policies;
        let mask = self.counts.len() - 1;
        for _ in 0..k {
            if self.len > 0 {
                let i = self.head;
                if self.counts[i] > 0 && (self.counts[i] as usize) < n {
                    let held = self.values[i * n..(i + 1) * n].to_vec();
                    self.stragglers.insert(self.base, (self.counts[i], held));
                }
                self.counts[i] = 0;
                self.head = (self.head + 1) & mask;
                self.len -= 1;
            }
            self.base += 1;
        }
    }

    /// Reallocates to a power of two of at least `min` entries, oldest entry first.
    fn grow(&mut self, min: usize) {
        let cap = min.next_power_of_two().max(2 * self.counts.len());
        let n = self.policies;
        let old = self.counts.len();
        let mut counts = vec![0; cap];
        let mut values = vec![SessionValues::default(); cap * n];
        for off in 0..self.len {
            let i = (self.head + off) & (old - 1);
            counts[off] = self.counts[i];
            values[off * n..(off + 1) * n].copy_from_slice(&self.values[i * n..(i + 1) * n]);
        }
        self.counts = counts;
        self.values = values;
        self.head = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::model::agent::{Outcome, Session};
    use crate::run::metrics::Extras;

    fn v(x: u64) -> SessionValues {
        let outcome = Outcome {
            makespan: x,
            ..Outcome::default()
        };
        SessionValues::new(&outcome, &Session::default(), &Extras::default())
    }

    fn same(a: &SessionValues, b: &SessionValues) -> bool {
        format!("{a:?}") == format!("{b:?}")
    }

    #[test]
    fn pairs_each_session_once_every_policy_has_it_in_any_order() {
        let mut pending = Pending::new(3);
        let mut complete = Vec::new();
        // policy 2 runs far ahead (forcing growth), the others finish out of order
        let ahead: Vec<_> = (0..5000).map(|id| (id, v(id * 10 + 2))).collect();
        pending.add(2, &ahead, &mut complete);
        assert!(complete.is_empty());
        let mut ids: Vec<u64> = (0..5000).collect();
        ids.reverse();
        ids.swap(10, 4000);
        let zero: Vec<_> = ids.iter().map(|&id| (id, v(id * 10))).collect();
        pending.add(0, &zero, &mut complete);
        assert!(complete.is_empty());
        for chunk in ids.chunks(700) {
            let one: Vec<_> = chunk.iter().map(|&id| (id, v(id * 10 + 1))).collect();
            pending.add(1, &one, &mut complete);
        }
        assert!(pending.is_empty());
        assert_eq!(complete.len(), 3 * 5000);
        let ids_by_value: std::collections::HashMap<String, u64> = (0..5000)
            .map(|id| (format!("{:?}", v(id * 10)), id))
            .collect();
        let mut seen: Vec<u64> = complete
            .chunks(3)
            .map(|c| {
                let id = ids_by_value[&format!("{:?}", c[0])];
                assert!(same(&c[1], &v(id * 10 + 1)) && same(&c[2], &v(id * 10 + 2)));
                id
            })
            .collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..5000).collect::<Vec<_>>());
        assert!(pending.capacity() <= 8192);
    }

    #[test]
    fn a_straggler_does_not_stretch_the_ring() {
        // Session 0 finishes in policy 0 only, then 300,000 later sessions finish in both: the
        // ring stays at its cap, session 0 waits aside, and every pair still completes.
        let mut pending = Pending::new(2);
        let mut complete = Vec::new();
        pending.add(0, &[(0, v(7))], &mut complete);
        // a second straggler a few sessions later, so a spill also passes completed entries
        pending.add(1, &[(5, v(5))], &mut complete);
        for start in (1..300_001u64).step_by(4096) {
            let batch: Vec<_> = (start..(start + 4096).min(300_001))
                .filter(|&id| id != 5)
                .map(|id| (id, v(id)))
                .collect();
            pending.add(0, &batch, &mut complete);
            pending.add(1, &batch, &mut complete);
        }
        assert!(pending.capacity() <= RING_MAX, "{}", pending.capacity());
        assert_eq!(pending.stragglers.len(), 2);
        assert_eq!(complete.len(), 2 * 299_999);
        pending.add(1, &[(0, v(8))], &mut complete);
        assert!(same(&complete[2 * 299_999], &v(7)) && same(&complete[2 * 299_999 + 1], &v(8)));
        pending.add(0, &[(5, v(6))], &mut complete);
        assert!(pending.is_empty());
        assert_eq!(complete.len(), 2 * 300_001);
    }
}
