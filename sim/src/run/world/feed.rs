//! Session draws made once per run and read by every world.
//!
//! Each world used to draw every session it started, so a `compare` of three policies drew each
//! session three times, and a one-policy run drew on the thread that steps the world. The feed
//! draws sessions a chunk ([`CHUNK_SESSIONS`]) at a time, each chunk once: by the first world
//! that reaches it, or ahead of the worlds by a thread that has no world to step. A world copies
//! a session's draws when it starts it. Draws are a pure function of (seed, session), so who
//! draws a chunk, and when, changes nothing in the results.
//!
//! Chunks are started in order and live until every world has taken them; a world takes each
//! chunk in order, as it starts the chunk's first session. A world that has started many more
//! sessions than another (an overloaded world holds up to `MAX_ACTIVE_SESSIONS`) would keep
//! many chunks alive for the one behind, so past [`MAX_LIVE_CHUNKS`] a chunk is not kept:
//! every world draws its sessions itself, as before.

use crate::model::draws::{Needs, SessionDraws, TurnBase};
use crate::model::scenario::Scenario;
use crate::run::options::CHUNK_SESSIONS;
use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

/// Chunks held at once, drawn or being drawn: bounds the feed's memory (a chunk of
/// `shared-capacity.toml` is about 2 MiB).
pub(super) const MAX_LIVE_CHUNKS: usize = 6;

/// How many chunks an idle thread draws ahead of the world furthest behind.
const AHEAD_CHUNKS: u64 = 2;

/// One chunk's draws, session `chunk · CHUNK_SESSIONS + i` at `i`.
pub(super) type Chunk = Arc<Vec<SessionDraws>>;

enum Entry {
    Drawing,
    /// `draws` is `None` when the chunk is not kept (too many live chunks): each world draws
    /// these sessions itself.
    Ready {
        draws: Option<Chunk>,
        takers: usize,
    },
}

impl Entry {
    const NOT_KEPT: Entry = Entry::Ready {
        draws: None,
        takers: 0,
    };
}

struct State {
    entries: BTreeMap<u64, Entry>,
    /// The next chunk to start: chunks are started in order.
    next: u64,
    /// The chunk each world took last (`None` before its first).
    taken: Vec<Option<u64>>,
    /// Buffers of chunks every world is done with, for the next chunks.
    spare: Vec<Vec<SessionDraws>>,
}

pub(super) struct Feed<'a> {
    scenario: &'a Scenario,
    seed: u64,
    sessions: u64,
    /// Every policy's needs: one draw serves them all (each stream is independent).
    needs: Needs,
    state: Mutex<State>,
    drawn: Condvar,
}

impl<'a> Feed<'a> {
    pub fn new(
        scenario: &'a Scenario,
        seed: u64,
        sessions: u64,
        needs: Needs,
        worlds: usize,
    ) -> Feed<'a> {
        Feed {
            scenario,
            seed,
            sessions,
            needs,
            state: Mutex::new(State {
                entries: BTreeMap::new(),
                next: 0,
                taken: vec![None; worlds],
                spare: Vec::new(),
            }),
            drawn: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn chunks(&self) -> u64 {
        self.sessions.div_ceil(CHUNK_SESSIONS)
    }

    /// World `world`'s draws for chunk `chunk` (the chunk after the one it took last), drawn
    /// here if no thread has started it; `None` if the chunk is not kept.
    pub fn take(&self, world: usize, chunk: u64) -> Option<Chunk> {
        let mut state = self.lock();
        debug_assert_eq!(
            state.taken[world].map_or(0, |c| c + 1),
            chunk,
            "worlds take chunks in order"
        );
        state.taken[world] = Some(chunk);
        if chunk == state.next {
            if state.entries.len() >= MAX_LIVE_CHUNKS {
                state.next += 1;
                state.entries.insert(chunk, Entry::NOT_KEPT);
            } else {
                state = self.draw(state, chunk);
            }
        }
        loop {
            let entry = state
                .entries
                .get_mut(&chunk)
                .expect("started and not yet taken by all");
            let Entry::Ready { draws, takers } = entry else {
                state = self
                    .drawn
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
                continue;
            };
            *takers += 1;
            let (draws, takers) = (draws.clone(), *takers);
            if takers == state.taken.len() {
                state.entries.remove(&chunk);
            }
            return draws;
        }
    }

    /// Hands back a chunk a world is done with; its buffers serve a later chunk once every
    /// world is done with it.
    pub fn give_back(&self, chunk: Chunk) {
        if let Ok(buffer) = Arc::try_unwrap(chunk) {
            let mut state = self.lock();
            if state.spare.len() < 2 {
                state.spare.push(buffer);
            }
        }
    }

    /// Whether a thread with no world to step should draw the next chunk: it is at most
    /// [`AHEAD_CHUNKS`] ahead of the world furthest behind, and there is room for it.
    pub fn wants_drawing_ahead(&self) -> bool {
        self.ahead(&self.lock())
    }

    fn ahead(&self, state: &State) -> bool {
        let behind = state.taken.iter().map(|t| t.map_or(0, |c| c + 1)).min();
        behind.is_some_and(|b| state.next < b + AHEAD_CHUNKS)
            && state.next < self.chunks()
            && state.entries.len() < MAX_LIVE_CHUNKS
    }

    /// Draws the next chunk if [`Feed::wants_drawing_ahead`] (still) holds.
    pub fn draw_ahead(&self) {
        let state = self.lock();
        if self.ahead(&state) {
            let chunk = state.next;
            drop(self.draw(state, chunk));
        }
    }

    /// Draws chunk `chunk` (= `next`) with the lock released, and makes it ready.
    fn draw<'s>(&'s self, mut state: MutexGuard<'s, State>, chunk: u64) -> MutexGuard<'s, State> {
        debug_assert_eq!(chunk, state.next);
        state.next += 1;
        state.entries.insert(chunk, Entry::Drawing);
        let mut buffer = state.spare.pop().unwrap_or_default();
        drop(state);
        // Should drawing panic, the worlds waiting for this chunk draw it themselves.
        let unblock = Unblock { feed: self, chunk };
        let first = chunk * CHUNK_SESSIONS;
        let last = (first + CHUNK_SESSIONS).min(self.sessions);
        buffer.resize_with((last - first) as usize, SessionDraws::default);
        let turn = &self.scenario.model.base.sampler;
        for (draws, session) in buffer.iter_mut().zip(first..last) {
            draws.draw(self.scenario, self.seed, session, self.needs);
            // the first turns too: every policy takes at least the plan's depth + 1
            draws.turns.source(turn).base(0);
        }
        std::mem::forget(unblock);
        let mut state = self.lock();
        state.entries.insert(
            chunk,
            Entry::Ready {
                draws: Some(Arc::new(buffer)),
                takers: 0,
            },
        );
        self.drawn.notify_all();
        state
    }
}

/// Marks a chunk whose drawing panicked as not kept, and wakes the worlds waiting for it.
struct Unblock<'f, 'a> {
    feed: &'f Feed<'a>,
    chunk: u64,
}

impl Drop for Unblock<'_, '_> {
    fn drop(&mut self) {
        self.feed.lock().entries.insert(self.chunk, Entry::NOT_KEPT);
        self.feed.drawn.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCENARIO: &str = r#"
        [model]
        turn = { dist = "lognormal", median = "300ms", sigma = 0.5 }
        concurrency = 2
        [tools.search]
        latency = { dist = "lognormal", median = "1s", sigma = 0.8 }
        failure_rate = 0.1
        retries = 2
        [plan]
        rounds = [["search", "search"]]
        [overheads]
        sync_invocation = { dist = "lognormal", median = "20ms", sigma = 0.3 }
        async_dispatch = "30ms"
        async_delivery = { dist = "exponential", mean = "40ms" }
        [user]
        followups = 2
        gap = { dist = "exponential", mean = "2s" }
    "#;

    fn same(a: &SessionDraws, b: &SessionDraws) -> bool {
        format!("{a:?}") == format!("{b:?}")
    }

    #[test]
    fn every_world_gets_every_session_drawn_as_it_would_draw_it() {
        let scenario = crate::Scenario::parse(SCENARIO, "feed.toml").unwrap();
        let sessions = (MAX_LIVE_CHUNKS as u64 + 2) * CHUNK_SESSIONS + 5;
        let needs = Needs {
            blocking: true,
            non_blocking: true,
        };
        let feed = Feed::new(&scenario, 3, sessions, needs, 2);
        let chunks = sessions.div_ceil(CHUNK_SESSIONS);
        // world 0 runs ahead: past MAX_LIVE_CHUNKS chunks waiting for world 1, none is kept
        let ahead: Vec<Option<Chunk>> = (0..chunks).map(|c| feed.take(0, c)).collect();
        let kept = ahead.iter().filter(|c| c.is_some()).count();
        assert_eq!(kept, MAX_LIVE_CHUNKS);
        let mut own = SessionDraws::default();
        for c in 0..chunks {
            let behind = feed.take(1, c);
            assert_eq!(behind.is_some(), ahead[c as usize].is_some());
            if let Some(drawn) = behind {
                for (i, draws) in drawn.iter().enumerate() {
                    let session = c * CHUNK_SESSIONS + i as u64;
                    own.draw(&scenario, 3, session, needs);
                    own.turns.source(&scenario.model.base.sampler).base(0);
                    assert!(same(draws, &own), "session {session}");
                }
                feed.give_back(drawn);
            }
        }
        assert!(feed.lock().entries.is_empty(), "every chunk freed");
        // once world 0 hands its chunks back too, their buffers are recycled
        ahead.into_iter().flatten().for_each(|c| feed.give_back(c));
        assert_eq!(feed.lock().spare.len(), 2);
    }
}
