//! Fault injection for the chaos tests: named points where a process can be made to die as if it
//! had been SIGKILLed. Compiled in only with the `fault-injection` feature (test builds); otherwise
//! every point is an empty inline function.
//!
//! `ASYNCTOOLS_FAULT_<POINT>=<per-mille>` (point upper-cased, '-' as '_') kills the process at that
//! point with that probability, e.g. `ASYNCTOOLS_FAULT_AFTER_CREATE=300`.
//!
//! Every decision is drawn from a generator seeded by `ASYNCTOOLS_FAULT_SEED` (a u64; without it, a
//! seed from the clock, printed on stderr): the n-th decision at a point depends only on the seed,
//! the point's name and n. A chaos run that gives each process its own seed (tests/chaos.rs derives
//! them from one it prints) makes the same fault decisions when replayed with that seed.

/// Whether the fault named `name` fires this time (`ASYNCTOOLS_FAULT_<NAME>` per mille).
#[cfg(feature = "fault-injection")]
pub fn chance(name: &str) -> bool {
    let var = format!(
        "ASYNCTOOLS_FAULT_{}",
        name.to_ascii_uppercase().replace('-', "_")
    );
    let Some(per_mille) = std::env::var(var).ok().and_then(|v| v.parse::<u32>().ok()) else {
        return false;
    };
    draw(name) % 1000 < u64::from(per_mille)
}

/// The next number of the point `name`'s sequence: SplitMix64 at position n of a stream keyed by
/// the seed and the point's name.
#[cfg(feature = "fault-injection")]
fn draw(name: &str) -> u64 {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static DRAWS: OnceLock<Mutex<HashMap<String, u64>>> = OnceLock::new();
    let n = {
        let mut draws = DRAWS
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let n = draws.entry(name.to_string()).or_insert(0);
        *n += 1;
        *n
    };
    // FNV-1a of the name: a stream per point, so adding a point does not shift the others.
    let stream = name.bytes().fold(0xCBF2_9CE4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01B3)
    });
    splitmix64(seed() ^ stream, n)
}

/// The n-th output of SplitMix64 started at `state`.
pub fn splitmix64(state: u64, n: u64) -> u64 {
    let mut z = state.wrapping_add(n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// This process's fault seed: `ASYNCTOOLS_FAULT_SEED`, or one from the clock (printed).
#[cfg(feature = "fault-injection")]
fn seed() -> u64 {
    static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *SEED.get_or_init(|| {
        if let Some(seed) = std::env::var("ASYNCTOOLS_FAULT_SEED")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
        {
            return seed;
        }
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        eprintln!("fault injection: seed {seed} (ASYNCTOOLS_FAULT_SEED={seed} replays it)");
        seed
    })
}

/// Kills the process here when the fault fires.
#[cfg(feature = "fault-injection")]
pub fn point(name: &str) {
    if chance(name) {
        eprintln!("fault injection: killing this process at {name}");
        // SIGKILL, as the chaos suite does from outside: no destructors, no flushing.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
}

#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn point(_name: &str) {}

#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn chance(_name: &str) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::splitmix64;

    #[test]
    fn splitmix64_is_the_reference_generator() {
        // The reference implementation's first outputs from state 0 (Vigna, splitmix64.c).
        assert_eq!(splitmix64(0, 1), 0xE220_A839_7B1D_CDAF);
        assert_eq!(splitmix64(0, 2), 0x6E78_9E6A_A1B9_65F4);
    }
}
