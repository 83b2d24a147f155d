//! Simulated time: integer nanoseconds, so runs are exact and deterministic.

/// A point in simulated time or a duration, in nanoseconds since the session's request.
pub type Nanos = u64;

pub const NANOS_PER_SEC: f64 = 1e9;

/// The largest duration one sample may take (10^6 s, about 11.6 days). Heavy-tailed
/// distributions are clamped here so that sums over a session's turns and calls cannot overflow.
pub const MAX_SAMPLE: Nanos = 1_000_000 * 1_000_000_000;

/// Rounds to whole nanoseconds within [0, MAX_SAMPLE]; NaN (never produced by valid
/// parameters) becomes 0 rather than poisoning integer time.
#[inline]
pub fn clamp_ns(x: f64) -> Nanos {
    // Without branches: `max` takes 0 over NaN. Then 0 ≤ x ≤ MAX_SAMPLE < 2^53, so adding ½
    // and truncating rounds half away from zero like f64::round, without its libm call, and
    // the signed conversion (one instruction, unlike the unsigned one) cannot overflow. One
    // double differs: 0.49999999999999994, the largest below ½, where x + ½ rounds up to 1
    // (`round` gives 0). A draw landing on that one double is vanishingly unlikely, and this
    // rounding is kept as it is so that earlier results reproduce.
    const _: () = assert!(MAX_SAMPLE < 1 << 53);
    (x.max(0.0).min(MAX_SAMPLE as f64) + 0.5) as i64 as Nanos
}

/// `x.round() as u64` without `round`'s libm call, for hot paths (a session's costs, paired
/// ratios): below 2^63 the fraction x − ⌊x⌋ is exact in f64 and x converts as a signed integer
/// (one instruction; the unsigned conversion takes a dozen), so comparing the fraction with ½
/// rounds as `round` does, half away from zero. Anything else (negative, NaN, 2^63 and up) goes
/// through `round` itself.
#[inline]
pub fn round_to_u64(x: f64) -> u64 {
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if (0.0..TWO_63).contains(&x) {
        let whole = x as i64;
        (whole + (x - whole as f64 >= 0.5) as i64) as u64
    } else {
        x.round() as u64
    }
}

/// n / d for 128-bit sums, in 64 bits when both fit: a 128-bit division is a library call
/// that cost more than the rest of a session's per-policy bookkeeping.
#[inline]
pub fn div_u128(n: u128, d: u128) -> u128 {
    match (u64::try_from(n), u64::try_from(d)) {
        (Ok(n), Ok(d)) => (n / d) as u128,
        _ => n / d,
    }
}

/// n / d truncated toward zero, as [`div_u128`] for signed sums.
#[inline]
pub fn div_i128(n: i128, d: i64) -> i128 {
    match i64::try_from(n) {
        Ok(n) => (n / d) as i128,
        Err(_) => n / d as i128,
    }
}

pub fn to_secs(ns: Nanos) -> f64 {
    ns as f64 / NANOS_PER_SEC
}

/// Converts a duration to nanoseconds, saturating far above any limit a scenario may set.
pub fn from_duration(d: std::time::Duration) -> Nanos {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// A short human form with three significant digits: `850 µs`, `12.3 ms`, `1.50 s`, `2.5 min`.
pub fn human(ns: f64) -> String {
    let abs = ns.abs();
    let (value, unit) = if abs < 1e3 {
        (ns, "ns")
    } else if abs < 1e6 {
        (ns / 1e3, "µs")
    } else if abs < 1e9 {
        (ns / 1e6, "ms")
    } else if abs < 120e9 {
        (ns / 1e9, "s")
    } else if abs < 7200e9 {
        (ns / 60e9, "min")
    } else {
        (ns / 3600e9, "h")
    };
    format!("{} {unit}", three_digits(value))
}

fn three_digits(v: f64) -> String {
    let abs = v.abs();
    if abs >= 100.0 || abs == 0.0 {
        format!("{v:.0}")
    } else if abs >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_picks_a_readable_unit() {
        assert_eq!(human(850_000.0), "850 µs");
        assert_eq!(human(12_345_678.0), "12.3 ms");
        assert_eq!(human(1.5e9), "1.50 s");
        assert_eq!(human(150e9), "2.50 min");
        assert_eq!(human(0.0), "0 ns");
    }

    proptest::proptest! {
        #[test]
        fn round_to_u64_rounds_as_f64_round(
            x in proptest::prop_oneof![0.0f64..4.0, 0.0f64..1e16, 0.0f64..1e19, proptest::num::f64::ANY]
        ) {
            proptest::prop_assert_eq!(round_to_u64(x), x.round() as u64);
        }
    }

    #[test]
    fn round_to_u64_at_halves_and_edges() {
        let edges = [
            0.5,
            1.5,
            2.5,
            0.499_999_999_999_999_94,
            4_503_599_627_370_495.5,
            4_503_599_627_370_496.0,
            9_223_372_036_854_774_784.0, // the largest f64 below 2^63
            9_223_372_036_854_775_808.0,
            0.0,
            -0.0,
            -1.0,
            f64::NAN,
            1e300,
            f64::INFINITY,
        ];
        for x in edges {
            assert_eq!(round_to_u64(x), x.round() as u64, "{x}");
        }
    }
}
