//! Fault injection for the chaos tests: named points where a process can be made to die as if it
//! had been SIGKILLed. Compiled in only with the `fault-injection` feature (test builds); otherwise
//! every point is an empty inline function.
//!
//! `ASYNCTOOLS_FAULT_<POINT>=<per-mille>` (point upper-cased, '-' as '_') kills the process at that
//! point with that probability, e.g. `ASYNCTOOLS_FAULT_AFTER_CREATE=300`.

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
    // Any per-call randomness will do: the time's low bits mixed with a counter.
    use std::sync::atomic::{AtomicU64, Ordering};
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let mix = (u64::from(nanos)
        ^ CALLS
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15))
    .wrapping_mul(0xBF58_476D_1CE4_E5B9);
    (mix >> 32) % 1000 < u64::from(per_mille)
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
