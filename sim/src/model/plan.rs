//! The plan: the DAG of tool calls one session makes.
//!
//! A call may be issued once the model has *read* the results of every call in its `after` list.
//! Rounds are sugar: every call of round k depends on every call of round k-1.

/// The largest plan a scenario may describe; also bounds a session's turns (≤ calls + 1).
pub const MAX_CALLS: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanCall {
    pub id: String,
    /// Index into the scenario's tools.
    pub tool: usize,
}

/// A validated DAG in compressed adjacency form (no per-session allocation to walk it).
#[derive(Debug, Clone)]
pub struct Plan {
    pub calls: Vec<PlanCall>,
    deps: Vec<u32>,
    dep_start: Vec<u32>,
    dependents: Vec<u32>,
    dependent_start: Vec<u32>,
    /// Each call's number of dependencies, and the calls with none: every session starts from
    /// them.
    indegrees: Vec<u32>,
    roots: Vec<u32>,
    /// How the plan was written, for reports: `Some(n)` for n rounds.
    pub rounds: Option<usize>,
}

/// Why a list of calls is not a DAG.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanError {
    Empty,
    TooLarge(usize),
    /// The calls on one cycle, in dependency order, first repeated at the end.
    Cycle(Vec<usize>),
}

impl Plan {
    /// Builds the plan; `after[i]` lists the indices call `i` waits for (no duplicates, no self).
    pub fn new(
        calls: Vec<PlanCall>,
        after: &[Vec<usize>],
        rounds: Option<usize>,
    ) -> Result<Plan, PlanError> {
        let n = calls.len();
        if n == 0 {
            return Err(PlanError::Empty);
        }
        if n > MAX_CALLS {
            return Err(PlanError::TooLarge(n));
        }
        assert_eq!(after.len(), n, "one `after` list per call");
        let mut deps = Vec::new();
        let mut dep_start = Vec::with_capacity(n + 1);
        let mut dependent_lists = vec![Vec::new(); n];
        for (i, list) in after.iter().enumerate() {
            dep_start.push(deps.len() as u32);
            for &d in list {
                deps.push(d as u32);
                dependent_lists[d].push(i as u32);
            }
        }
        dep_start.push(deps.len() as u32);
        let mut dependents = Vec::with_capacity(deps.len());
        let mut dependent_start = Vec::with_capacity(n + 1);
        for list in &dependent_lists {
            dependent_start.push(dependents.len() as u32);
            dependents.extend_from_slice(list);
        }
        dependent_start.push(dependents.len() as u32);
        let indegrees: Vec<u32> = dep_start.windows(2).map(|w| w[1] - w[0]).collect();
        let roots = (0..n as u32)
            .filter(|&c| indegrees[c as usize] == 0)
            .collect();
        let plan = Plan {
            calls,
            deps,
            dep_start,
            dependents,
            dependent_start,
            indegrees,
            roots,
            rounds,
        };
        match plan.find_cycle() {
            Some(cycle) => Err(PlanError::Cycle(cycle)),
            None => Ok(plan),
        }
    }

    pub fn len(&self) -> usize {
        self.calls.len()
    }

    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// The calls `call` waits for.
    #[inline]
    pub fn deps(&self, call: usize) -> &[u32] {
        &self.deps[self.dep_start[call] as usize..self.dep_start[call + 1] as usize]
    }

    /// The calls that wait for `call`.
    #[inline]
    pub fn dependents(&self, call: usize) -> &[u32] {
        let range = self.dependent_start[call] as usize..self.dependent_start[call + 1] as usize;
        &self.dependents[range]
    }

    /// Number of calls each call waits for.
    pub fn indegrees(&self) -> &[u32] {
        &self.indegrees
    }

    /// The calls that wait for none, in plan order.
    pub fn roots(&self) -> &[u32] {
        &self.roots
    }

    /// The longest chain of dependent calls (1 for a plan of independent calls).
    pub fn depth(&self) -> usize {
        let order = self
            .topological_order()
            .expect("a validated plan is acyclic");
        let mut level = vec![1usize; self.len()];
        for &c in &order {
            for &d in self.deps(c) {
                level[c] = level[c].max(level[d as usize] + 1);
            }
        }
        level.into_iter().max().unwrap_or(0)
    }

    fn topological_order(&self) -> Option<Vec<usize>> {
        let mut remaining: Vec<u32> = self.indegrees().to_vec();
        let mut order: Vec<usize> = self.roots.iter().map(|&c| c as usize).collect();
        let mut next = 0;
        while next < order.len() {
            let c = order[next];
            next += 1;
            for &d in self.dependents(c) {
                remaining[d as usize] -= 1;
                if remaining[d as usize] == 0 {
                    order.push(d as usize);
                }
            }
        }
        (order.len() == self.len()).then_some(order)
    }

    /// One cycle, if the dependencies have any. Kahn's algorithm leaves exactly the calls on or
    /// behind a cycle; following their unfinished dependencies must revisit one of them.
    fn find_cycle(&self) -> Option<Vec<usize>> {
        let mut remaining: Vec<u32> = self.indegrees().to_vec();
        let mut queue: Vec<usize> = self.roots.iter().map(|&c| c as usize).collect();
        while let Some(c) = queue.pop() {
            for &d in self.dependents(c) {
                remaining[d as usize] -= 1;
                if remaining[d as usize] == 0 {
                    queue.push(d as usize);
                }
            }
        }
        let start = (0..self.len()).find(|&c| remaining[c] > 0)?;
        let mut seen_at = vec![usize::MAX; self.len()];
        let mut path = Vec::new();
        let mut c = start;
        while seen_at[c] == usize::MAX {
            seen_at[c] = path.len();
            path.push(c);
            c = self
                .deps(c)
                .iter()
                .map(|&d| d as usize)
                .find(|&d| remaining[d] > 0)
                .expect("a call left by Kahn's algorithm waits for another such call");
        }
        // `path` walks against the arrows (call → what it waits for); report it in the
        // order the dependencies run: first waited-for first.
        let mut cycle: Vec<usize> = path[seen_at[c]..].to_vec();
        cycle.reverse();
        cycle.push(cycle[0]);
        Some(cycle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calls(n: usize) -> Vec<PlanCall> {
        (0..n)
            .map(|i| PlanCall {
                id: format!("c{i}"),
                tool: 0,
            })
            .collect()
    }

    #[test]
    fn adjacency_and_depth() {
        let plan = Plan::new(calls(4), &[vec![], vec![0], vec![0], vec![1, 2]], None).unwrap();
        assert_eq!(plan.deps(3), &[1, 2]);
        assert_eq!(plan.dependents(0), &[1, 2]);
        assert_eq!(plan.indegrees(), [0, 1, 1, 2]);
        assert_eq!(plan.roots(), [0]);
        assert_eq!(plan.depth(), 3);
    }

    #[test]
    fn finds_a_cycle() {
        let err = Plan::new(calls(4), &[vec![], vec![3], vec![1], vec![2]], None).unwrap_err();
        let PlanError::Cycle(cycle) = err else {
            panic!("{err:?}")
        };
        assert_eq!(cycle.first(), cycle.last());
        assert_eq!(cycle.len(), 4, "{cycle:?}");
        for pair in cycle.windows(2) {
            // each next call waits for the previous one
            assert!(
                [(3, 1), (1, 2), (2, 3)].contains(&(pair[0], pair[1])),
                "{cycle:?}"
            );
        }
    }

    #[test]
    fn refuses_empty() {
        assert_eq!(Plan::new(vec![], &[], None).unwrap_err(), PlanError::Empty);
    }
}
