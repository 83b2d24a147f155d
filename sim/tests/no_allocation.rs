//! Sessions on their own do not allocate per session once the session driver's buffers are warm:
//! every per-session vector (draws, calls, turns, the event queue) is reused. What may still
//! allocate is growth to a new extreme (a session with more turns than any before, a histogram
//! reaching a new maximum), which is rare and amortised. Counted by a global allocator, per
//! thread, so other tests running alongside do not count.

use sim::run::metrics::Metric;
use sim::run::session::SessionDriver;
use sim::run::tally::Tally;
use sim::{Policy, Scenario};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|a| a.set(a.get() + 1));
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|a| a.set(a.get() + 1));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

#[test]
fn sessions_allocate_nothing_once_warm() {
    let policies: Vec<Policy> = ["sync", "async", "sequential", "async+stream"]
        .iter()
        .map(|p| Policy::parse(p).unwrap())
        .collect();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios");
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).expect("the scenarios folder") {
        let path = entry.expect("a directory entry").path();
        let scenario = Scenario::from_file(&path).unwrap_or_else(|e| panic!("{e}"));
        if scenario.is_shared() {
            continue; // shared worlds hold sessions in slots; covered by their own tests
        }
        let mut driver = SessionDriver::new(&scenario, &policies, scenario.seed);
        let mut tally = Tally::new(policies.len(), &Metric::active(&scenario));
        let mut run = |sessions: std::ops::Range<u64>| {
            for i in sessions {
                driver.run_all(i, |p, outcome, session, extras| {
                    tally.record(p, outcome, session, extras)
                });
                tally.pair_session();
            }
        };
        // warm: buffers reach their largest session, histograms their widest range
        run(0..20_000);
        let before = allocations();
        run(20_000..25_000);
        let grown = allocations() - before;
        // one allocation per session would be 5,000 here (times the policies)
        assert!(
            grown <= 5,
            "{}: {grown} allocations in 5,000 warm sessions",
            path.display()
        );
        checked += 1;
    }
    assert!(checked >= 5, "only {checked} scenarios run on their own");
}
