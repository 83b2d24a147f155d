//! Wall-clock time in epoch milliseconds: leases, deadlines and TTLs are compared across machines.
//!
//! The components that compare times (dispatcher, worker, sweeper, publishing, delivery) read it
//! through a [`Clock`] from their settings, so a test can put them at any moment with a
//! [`FakeClock`]. [`now_ms`] is the system clock, for code that has no settings (ids, the CLI).

use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Where a component reads the time.
pub trait Clock: Send + Sync + Debug {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
}

/// A clock shared by the components of one process.
pub type SharedClock = Arc<dyn Clock>;

/// The machine's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }
}

/// The system clock, shared: the default of every component's settings.
pub fn system() -> SharedClock {
    Arc::new(SystemClock)
}

/// The system clock's time, for code that has no clock of its own.
pub fn now_ms() -> u64 {
    SystemClock.now_ms()
}

/// A clock that only moves when told to (tests).
#[derive(Debug, Default)]
pub struct FakeClock {
    now_ms: AtomicU64,
}

impl FakeClock {
    /// A clock standing at `now_ms`, ready to share.
    pub fn at(now_ms: u64) -> Arc<FakeClock> {
        Arc::new(FakeClock {
            now_ms: AtomicU64::new(now_ms),
        })
    }

    pub fn set(&self, now_ms: u64) {
        self.now_ms.store(now_ms, Ordering::SeqCst);
    }

    /// Moves the clock `ms` forward; returns the new time.
    pub fn advance(&self, ms: u64) -> u64 {
        self.now_ms.fetch_add(ms, Ordering::SeqCst) + ms
    }
}

impl Clock for FakeClock {
    fn now_ms(&self) -> u64 {
        self.now_ms.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fake_clock_moves_only_when_told() {
        let clock = FakeClock::at(1_000);
        assert_eq!(clock.now_ms(), 1_000);
        assert_eq!(clock.advance(250), 1_250);
        clock.set(5);
        assert_eq!(clock.now_ms(), 5);
        let shared: SharedClock = clock;
        assert_eq!(shared.now_ms(), 5);
        assert!(system().now_ms() > 1_600_000_000_000);
    }
}
