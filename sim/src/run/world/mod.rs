//! Sessions that share capacity: one world per policy, all sessions in arrival order.
//!
//! When tools have a concurrency limit or a warm pool, or the model a concurrency or rate limit,
//! sessions interact: a call waits in its tool's FIFO queue behind other sessions' calls (as
//! messages wait in SQS for a Lambda with reserved concurrency), a turn waits for the model.
//! Such runs simulate each policy in its own world ([`stepper::World`]: its own resources and
//! its own event queue, so deterministic for a seed); the worlds never interact. They run chunk
//! by chunk on up to one thread per world, and each session is paired between policies once
//! every world has finished it ([`pairing::Pending`]). Every accumulator is an exact integer
//! tally, so the results depend neither on the thread count nor on the order sessions finish
//! in; memory stays bounded by the sessions active at once and by how far the worlds may drift
//! apart ([`MAX_LEAD`]).

mod events;
mod feed;
mod pairing;
mod pools;
mod stepper;

use crate::input::scenario::{Arrival, Scenario};
use crate::run::metrics::{Metric, SessionValues};
use crate::run::options::{CHUNK_SESSIONS, RunError, RunOptions};
use crate::run::session::{needs, setups};
use crate::run::tally::{RunResults, Tally};
use feed::Feed;
use pairing::Pending;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use stepper::{Ctx, World};

/// Sessions that may be in progress at once in one world: bounds memory (each holds its calls
/// and draws). An overloaded open workload hits it; a closed one cannot.
pub const MAX_ACTIVE_SESSIONS: u64 = 100_000;

/// How many finished sessions a world may be ahead of the slowest one and still be given a
/// chunk: no world is ever more than `MAX_LEAD + CHUNK_SESSIONS` finished sessions ahead of
/// another. Two chunks: with fewer, threads wait for each other; more only costs memory.
///
/// Memory bound. A session's values (64 bytes per policy) are held for pairing from the first
/// world that finishes it to the last, in a ring indexed by session id ([`Pending`]) of at most
/// 65,536 entries; sessions older than the ring's span that some world has not finished wait in
/// a map, and there are at most `MAX_ACTIVE_SESSIONS + MAX_LEAD + CHUNK_SESSIONS` of those per
/// world. On `shared-capacity.toml` with 3 policies the ring reaches 16,384 entries (3 MiB) on
/// two threads, 8,192 on one.
const MAX_LEAD: u64 = 2 * CHUNK_SESSIONS;

/// What the threads share: the worlds not being advanced, and the sessions to pair.
struct Shared<'a> {
    /// Each world, `None` while a thread advances it.
    worlds: Vec<Option<World<'a>>>,
    /// Sessions each world had finished when it was last handed back.
    finished: Vec<u64>,
    pending: Pending,
    error: Option<RunError>,
    /// A thread panicked: the others stop, and the panic is raised again once they have.
    abort: bool,
}

enum Next {
    Advance(usize),
    Wait,
    Stop,
}

impl Shared<'_> {
    /// The world to advance next: the one furthest behind among those free and not too far
    /// ahead.
    fn next(&self, sessions: u64) -> Next {
        let min = self.finished.iter().copied().min().unwrap_or(sessions);
        if self.error.is_some() || self.abort || min >= sessions {
            return Next::Stop;
        }
        (0..self.worlds.len())
            .filter(|&w| {
                self.worlds[w].is_some()
                    && self.finished[w] < sessions
                    && self.finished[w] < min + MAX_LEAD
            })
            .min_by_key(|&w| (self.finished[w], w))
            .map_or(Next::Wait, Next::Advance)
    }
}

fn lock<'s, 'a>(shared: &'s Mutex<Shared<'a>>) -> MutexGuard<'s, Shared<'a>> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Stops the other threads if this one panics (they would otherwise wait for its world).
struct AbortOnPanic<'s, 'a> {
    shared: &'s Mutex<Shared<'a>>,
    wake: &'s Condvar,
}

impl Drop for AbortOnPanic<'_, '_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            lock(self.shared).abort = true;
            self.wake.notify_all();
        }
    }
}

/// One thread's share of the run: advances worlds a chunk at a time until every world is done
/// (or one fails), and pairs the sessions it completes into `tally`.
fn work(shared: &Mutex<Shared>, wake: &Condvar, ctx: &Ctx, tally: &mut Tally) {
    let _abort = AbortOnPanic { shared, wake };
    let policies = tally.metrics.len();
    let mut finished: Vec<(u64, SessionValues)> = Vec::new();
    let mut complete: Vec<SessionValues> = Vec::new();
    let mut guard = lock(shared);
    loop {
        let w = match guard.next(ctx.sessions) {
            Next::Stop => return,
            Next::Wait => {
                // No world to step: draw sessions ahead of the worlds instead. (Checked under
                // the lock, so that a thread that waits cannot miss the last wake-up.)
                if let Some(feed) = ctx.feed
                    && feed.wants_drawing_ahead()
                {
                    drop(guard);
                    feed.draw_ahead();
                    guard = lock(shared);
                } else {
                    guard = wake.wait(guard).unwrap_or_else(PoisonError::into_inner);
                }
                continue;
            }
            Next::Advance(w) => w,
        };
        let mut world = guard.worlds[w].take().expect("a free world");
        drop(guard);
        let target = (world.finished() + CHUNK_SESSIONS).min(ctx.sessions);
        finished.clear();
        let result = world.advance(ctx, target, &mut finished);
        guard = lock(shared);
        guard.finished[w] = world.finished();
        guard.worlds[w] = Some(world);
        if let Err(e) = result {
            guard.error.get_or_insert(e);
        }
        if ctx.pair {
            guard.pending.add(w, &finished, &mut complete);
        }
        wake.notify_all();
        if !complete.is_empty() {
            drop(guard);
            for values in complete.chunks_exact(policies) {
                tally.pair_values(values);
            }
            complete.clear();
            guard = lock(shared);
        }
    }
}

/// Simulates every session of every policy, each policy its own world, on up to
/// `opts.check()` threads (one per world at most; with one, on the calling thread).
pub(crate) fn simulate_shared(
    scenario: &Scenario,
    opts: &RunOptions,
    active: &[Metric],
    progress: &(dyn Fn(u64) + Sync),
) -> Result<RunResults, RunError> {
    let threads = opts.check()?;
    if matches!(scenario.arrival, Arrival::AllAtOnce) && opts.sessions > MAX_ACTIVE_SESSIONS {
        return Err(RunError::TooManyActive {
            active: opts.sessions,
            limit: MAX_ACTIVE_SESSIONS,
        });
    }
    let n = opts.policies.len();
    let mut tally = Tally::new(n, active);
    // A feed pays when sessions are drawn once for several worlds, or by a thread that has no
    // world to step; one thread and one world draw as they go.
    let feed = (n > 1 || threads > 1)
        .then(|| Feed::new(scenario, opts.seed, opts.sessions, needs(&opts.policies), n));
    let ctx = Ctx {
        scenario,
        seed: opts.seed,
        sessions: opts.sessions,
        pair: !tally.pair_indices.is_empty(),
        progress,
        feed: feed.as_ref(),
    };
    let worlds: Vec<Option<World>> = setups(scenario, &opts.policies)
        .into_iter()
        .enumerate()
        .map(|(w, setup)| Some(World::new(w, setup, &ctx, active)))
        .collect();
    let shared = Mutex::new(Shared {
        finished: vec![0; worlds.len()],
        worlds,
        pending: Pending::new(n),
        error: None,
        abort: false,
    });
    let wake = Condvar::new();
    // one thread per world, and one more to draw ahead of them
    let threads = threads.min(n + 1).max(1);
    let mut tallies = vec![Tally::new(n, active); threads - 1];
    std::thread::scope(|scope| {
        let handles: Vec<_> = tallies
            .iter_mut()
            .filter_map(|t| {
                // too few threads only slows the run down: the calling thread works too
                std::thread::Builder::new()
                    .spawn_scoped(scope, || work(&shared, &wake, &ctx, t))
                    .ok()
            })
            .collect();
        work(&shared, &wake, &ctx, &mut tally);
        for handle in handles {
            if let Err(panic) = handle.join() {
                std::panic::resume_unwind(panic);
            }
        }
    });
    let shared = shared.into_inner().unwrap_or_else(PoisonError::into_inner);
    if let Some(e) = shared.error {
        return Err(e);
    }
    debug_assert!(shared.pending.is_empty());
    let worlds: Vec<World> = shared
        .worlds
        .into_iter()
        .map(|w| w.expect("every world handed back"))
        .collect();
    for (w, world) in worlds.iter().enumerate() {
        assert_eq!(
            world.finished(),
            opts.sessions,
            "world {w} left sessions unfinished"
        );
    }
    for other in &tallies {
        for (a, b) in tally.pairs.iter_mut().zip(&other.pairs) {
            a.merge(b);
        }
    }
    let resources = worlds.iter().map(|w| w.resources(scenario)).collect();
    tally.metrics = worlds.into_iter().map(World::into_metrics).collect();
    Ok(tally.into_results(opts.sessions, opts.seed, &opts.policies, resources))
}

#[cfg(test)]
mod tests;
