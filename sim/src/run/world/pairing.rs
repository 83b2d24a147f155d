//! A session's values under each policy, held until every policy's world has finished it.

use crate::run::metrics::SessionValues;

/// Sessions some world has finished and some has not, in a ring indexed by session id minus
/// the oldest such id: no allocation, no hashing per session. The ring spans the ids from the
/// oldest session not finished by every world to the newest finished by any (it grows, by
/// doubling, only when that span does; see `simulate_shared` for the bound).
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
        };
        p.grow(1024);
        p
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
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
            debug_assert!(id >= self.base, "session {id} finished twice");
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
}
