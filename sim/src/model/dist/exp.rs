//! e^x for the log-normal sampler, inlined into the hot loop.
//!
//! Log-normal draws are most of the simulator's samples, and the platform `exp` (a call through
//! the PLT into libm's wrapper) cost as much as the normal draw itself. This is Tang's
//! table-driven method: x = (64k + j)·ln2/64 + r with |r| ≤ ln2/128, e^x = 2^k · 2^(j/64) · e^r,
//! e^r by its Taylor series to r⁶ (truncation error below 4·10⁻¹⁷). Within 1 ulp of `f64::exp`
//! for |x| < 700 (checked in the tests below), so a draw rounded to whole nanoseconds almost
//! never differs; outside that range it falls back to `f64::exp`.

use std::sync::LazyLock;

pub(super) const N: usize = 64;
const LOG2_N: u32 = N.trailing_zeros();

/// 2^(j/64), j = 0..64.
#[derive(Debug)]
pub struct ExpTable {
    powers: [f64; N],
}

static TABLE: LazyLock<ExpTable> = LazyLock::new(|| ExpTable {
    powers: std::array::from_fn(|j| (j as f64 / N as f64).exp2()),
});

/// The shared table (built once, 512 bytes).
pub fn table() -> &'static ExpTable {
    &TABLE
}

/// Past this |x| (or for NaN) the platform's `exp` answers: the fast path's 2^k must stay a
/// normal number.
pub(super) const FAST_LIMIT: f64 = 700.0;
/// Adding 1.5·2^52 rounds x·64/ln2 to an integer held in the low mantissa bits, without a call
/// to `round` (a libm call on baseline x86-64).
pub(super) const SHIFT: f64 = 6_755_399_441_055_744.0;
pub(super) const SCALE: f64 = N as f64 / std::f64::consts::LN_2;
/// ln2/64 split (fdlibm's ln2_hi, ln2_lo) so that k·LN2_HI is exact for |k| < 2^20.
pub(super) const LN2_HI: f64 = f64::from_bits(0x3FE6_2E42_FEE0_0000) / N as f64;
pub(super) const LN2_LO: f64 = f64::from_bits(0x3DEA_39EF_3579_3C76) / N as f64;
/// The Taylor coefficients of e^r − 1 past r: 1/2!, …, 1/6!.
pub(super) const C2: f64 = 0.5;
pub(super) const C3: f64 = 1.0 / 6.0;
pub(super) const C4: f64 = 1.0 / 24.0;
pub(super) const C5: f64 = 1.0 / 120.0;
pub(super) const C6: f64 = 1.0 / 720.0;
pub(super) const TABLE_MASK: i64 = N as i64 - 1;

impl ExpTable {
    #[inline]
    pub fn exp(&self, x: f64) -> f64 {
        if x.is_nan() || x.abs() >= FAST_LIMIT {
            return x.exp();
        }
        let shifted = x * SCALE + SHIFT;
        let k_float = shifted - SHIFT;
        // the low 51 bits of the mantissa hold k in two's complement: sign-extend them
        let k = ((shifted.to_bits() as i64) << 13) >> 13;
        let r = (x - k_float * LN2_HI) - k_float * LN2_LO;
        let r2 = r * r;
        // e^r − 1, so the result is scale + scale·(e^r − 1): one rounding less than scale·e^r
        let e_r_minus_1 = r + r2 * (C2 + r * C3) + r2 * r2 * (C4 + r * (C5 + r * C6));
        let j = (k & TABLE_MASK) as usize;
        let power_of_two = k >> LOG2_N;
        // 2^(j/64) ∈ [1, 2) times 2^power_of_two, by adding to the exponent field (|x| < 700
        // keeps it a normal number)
        let scale = f64::from_bits((self.powers[j].to_bits() as i64 + (power_of_two << 52)) as u64);
        scale + scale * e_r_minus_1
    }

    /// The table, for the batch path's gathers.
    pub(super) fn powers(&self) -> &[f64; N] {
        &self.powers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ulps(a: f64, b: f64) -> u64 {
        (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs()
    }

    #[test]
    fn within_one_ulp_of_libm() {
        let t = table();
        let mut worst = 0;
        let mut x = -700.0;
        while x < 700.0 {
            worst = worst.max(ulps(t.exp(x), x.exp()));
            x += 0.000_913_7;
        }
        // dense where log-normal draws land (ln of 1 µs … 1 h in ns)
        let mut x = 6.0;
        while x < 29.0 {
            worst = worst.max(ulps(t.exp(x), x.exp()));
            x += 0.000_001_37;
        }
        assert!(worst <= 1, "{worst} ulps from f64::exp");
    }

    #[test]
    fn exact_points_and_the_fallback() {
        let t = table();
        assert_eq!(t.exp(0.0), 1.0);
        assert_eq!(t.exp(-0.0), 1.0);
        assert_eq!(t.exp(1000.0), f64::INFINITY);
        assert_eq!(t.exp(-1000.0), 0.0);
        assert!(t.exp(f64::NAN).is_nan());
        assert_eq!(t.exp(std::f64::consts::LN_2 * 10.0).round(), 1024.0);
    }
}
