//! The log-normal batch's last step, e^x rounded to whole nanoseconds, four at a time where the
//! CPU has AVX2.
//!
//! After the ziggurat, the `exp`s of a batch are independent of each other: the same
//! arithmetic on four lanes gives each lane the bits the scalar path gives (IEEE operations
//! round per lane, and Rust never fuses a multiply and an add on its own), so results do not
//! depend on which path ran. Any group of four holding a lane off the fast path (a NaN marker
//! or |x| ≥ 700) is done by the scalar path; a last group of 1–3 goes by masked loads and stores.

use super::exp::table;
use crate::model::time::{Nanos, clamp_ns};

/// `out[i] = clamp_ns(e^exponents[i])` for each exponent that is not NaN (NaN marks a value
/// already drawn, which is left as it is).
pub(super) fn exp_each(exponents: &[f64], out: &mut [Nanos]) {
    assert_eq!(exponents.len(), out.len(), "one exponent per value");
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        unsafe { avx2::exp_each(exponents, out) };
        return;
    }
    scalar(exponents, out);
}

/// One value at a time: the reference the vector path is held to.
fn scalar(exponents: &[f64], out: &mut [Nanos]) {
    let t = table();
    for (value, &x) in out.iter_mut().zip(exponents) {
        if !x.is_nan() {
            *value = clamp_ns(t.exp(x));
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::super::exp::{
        C2, C3, C4, C5, C6, FAST_LIMIT, LN2_HI, LN2_LO, N, SCALE, SHIFT, TABLE_MASK, table,
    };
    use crate::model::time::{MAX_SAMPLE, Nanos};
    use std::arch::x86_64::*;

    /// 2^52: adding it to a whole number below 2^52 leaves that number in the low mantissa bits.
    const TWO_52: f64 = 4_503_599_627_370_496.0;
    const _: () = assert!((MAX_SAMPLE as f64) + 0.5 < TWO_52);

    #[target_feature(enable = "avx2")]
    pub(super) fn exp_each(exponents: &[f64], out: &mut [Nanos]) {
        let powers = table().powers();
        let mut xs = exponents.chunks_exact(4);
        let mut values = out.chunks_exact_mut(4);
        for (x4, out4) in (&mut xs).zip(&mut values) {
            // SAFETY: `x4` holds 4 f64s; unaligned loads are allowed.
            let x = unsafe { _mm256_loadu_pd(x4.as_ptr()) };
            match nanos4(x, powers) {
                // SAFETY: `out4` holds 4 u64s; unaligned stores are allowed.
                Some(ns) => unsafe { _mm256_storeu_si256(out4.as_mut_ptr().cast(), ns) },
                None => super::scalar(x4, out4),
            }
        }
        // The last 1–3 values by masked loads and stores: batches are short (a session's calls,
        // a few turns), so the tail is often most of one. Masked-off lanes load as 0.0, a
        // fast-path lane.
        let (x_rest, out_rest) = (xs.remainder(), values.into_remainder());
        if x_rest.is_empty() {
            return;
        }
        let lanes = _mm256_cmpgt_epi64(
            _mm256_set1_epi64x(x_rest.len() as i64),
            _mm256_set_epi64x(3, 2, 1, 0),
        );
        // SAFETY: only the lanes below `x_rest.len()` are read.
        let x = unsafe { _mm256_maskload_pd(x_rest.as_ptr(), lanes) };
        match nanos4(x, powers) {
            // SAFETY: only the lanes below `out_rest.len()` (= `x_rest.len()`) are written.
            Some(ns) => unsafe { _mm256_maskstore_epi64(out_rest.as_mut_ptr().cast(), lanes, ns) },
            None => super::scalar(x_rest, out_rest),
        }
    }

    /// `clamp_ns(e^x)` in each lane, or `None` when a lane is off the fast path (a NaN marker,
    /// |x| ≥ 700): the caller then takes the scalar path for the group.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn nanos4(x: __m256d, powers: &[f64; N]) -> Option<__m256i> {
        let fast = _mm256_cmp_pd::<_CMP_LT_OQ>(abs(x), _mm256_set1_pd(FAST_LIMIT));
        if _mm256_movemask_pd(fast) != 0b1111 {
            return None;
        }
        // SAFETY: `powers` is the 64-entry table, and exp4 masks each lane's index to 0..64.
        Some(clamp_ns4(unsafe { exp4(x, powers.as_ptr()) }))
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn abs(x: __m256d) -> __m256d {
        _mm256_andnot_pd(_mm256_set1_pd(-0.0), x)
    }

    /// [`ExpTable::exp`](super::super::exp::ExpTable::exp)'s fast path, operation for operation.
    ///
    /// # Safety
    /// `powers` points to the 64-entry table.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn exp4(x: __m256d, powers: *const f64) -> __m256d {
        let splat = _mm256_set1_pd;
        let (add, sub, mul) = (_mm256_add_pd, _mm256_sub_pd, _mm256_mul_pd);
        let shifted = add(mul(x, splat(SCALE)), splat(SHIFT));
        let k_float = sub(shifted, splat(SHIFT));
        // shifted = SHIFT + k exactly, with SHIFT's exponent: its bits are SHIFT's plus k
        let k = _mm256_sub_epi64(
            _mm256_castpd_si256(shifted),
            _mm256_set1_epi64x(SHIFT.to_bits() as i64),
        );
        let r = sub(
            sub(x, mul(k_float, splat(LN2_HI))),
            mul(k_float, splat(LN2_LO)),
        );
        let r2 = mul(r, r);
        let low = add(r, mul(r2, add(splat(C2), mul(r, splat(C3)))));
        let high = mul(
            mul(r2, r2),
            add(splat(C4), mul(r, add(splat(C5), mul(r, splat(C6))))),
        );
        let e_r_minus_1 = add(low, high);
        let j = _mm256_and_si256(k, _mm256_set1_epi64x(TABLE_MASK));
        // SAFETY: j ∈ 0..64 and the caller passes the 64-entry table.
        let power_bits = unsafe { _mm256_i64gather_epi64::<8>(powers.cast(), j) };
        // (k >> 6) << 52 without AVX2's missing 64-bit arithmetic shift: the same bits of k
        // land in the exponent field, the rest fall off the top
        let exponent =
            _mm256_slli_epi64::<46>(_mm256_andnot_si256(_mm256_set1_epi64x(TABLE_MASK), k));
        let scale = _mm256_castsi256_pd(_mm256_add_epi64(power_bits, exponent));
        add(scale, mul(scale, e_r_minus_1))
    }

    /// [`clamp_ns`](crate::model::time::clamp_ns) on four values that are not NaN.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn clamp_ns4(x: __m256d) -> __m256i {
        let clamped = _mm256_min_pd(
            _mm256_max_pd(x, _mm256_setzero_pd()),
            _mm256_set1_pd(MAX_SAMPLE as f64),
        );
        let whole = _mm256_round_pd::<{ _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC }>(_mm256_add_pd(
            clamped,
            _mm256_set1_pd(0.5),
        ));
        // a whole number below 2^52 plus 2^52 is exact, and sits in the low mantissa bits
        _mm256_sub_epi64(
            _mm256_castpd_si256(_mm256_add_pd(whole, _mm256_set1_pd(TWO_52))),
            _mm256_set1_epi64x(TWO_52.to_bits() as i64),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Both paths on the same input: equal values, NaN markers left alone.
    fn check(exponents: &[f64]) -> Result<(), TestCaseError> {
        let before: Vec<Nanos> = (0..exponents.len() as u64).map(|i| i * 7 + 3).collect();
        // sentinels past the end: a masked store must not reach them
        let mut padded = [before.as_slice(), &[u64::MAX; 4]].concat();
        let (batch, past) = padded.split_at_mut(exponents.len());
        exp_each(exponents, batch);
        prop_assert_eq!(&*past, &[u64::MAX; 4]);
        let mut one_by_one = before.clone();
        scalar(exponents, &mut one_by_one);
        prop_assert_eq!(&*batch, &one_by_one[..]);
        for ((&x, &kept), &got) in exponents.iter().zip(&before).zip(batch.iter()) {
            if x.is_nan() {
                prop_assert_eq!(got, kept);
            }
        }
        Ok(())
    }

    /// Mostly where log-normal draws land (ln of 1 ns … 1 h in ns), with the fast path's edges,
    /// the clamp's edges, and NaN markers mixed in.
    fn exponent() -> impl Strategy<Value = f64> {
        prop_oneof![
            8 => -2.0f64..30.0,
            1 => -800.0f64..800.0,
            1 => prop::sample::select(vec![
                f64::NAN,
                -FAST_EDGE,
                FAST_EDGE,
                -700.0,
                700.0,
                0.0,
                -0.0,
                (1e15f64).ln(),
                (1e15f64 + 1.0).ln(),
                (0.5f64).ln(),
                f64::INFINITY,
                f64::NEG_INFINITY,
            ]),
        ]
    }

    const FAST_EDGE: f64 = 699.999_999_999_999_9;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        #[test]
        fn batches_equal_the_scalar_path(exponents in prop::collection::vec(exponent(), 0..41)) {
            check(&exponents)?;
        }
    }

    /// Ten million draws' worth, dense where draws land: every lane, every table entry, many
    /// rounding boundaries.
    #[test]
    fn dense_sweep_equals_the_scalar_path() {
        let exponents: Vec<f64> = (0..10_000_000)
            .map(|i| -3.0 + i as f64 * 3.300_000_1e-6)
            .collect();
        check(&exponents).unwrap();
    }

    /// Halves of whole nanoseconds round away from zero, as `clamp_ns` does.
    #[test]
    fn rounding_and_clamp_edges() {
        for n in [0u64, 1, 2, 1_000, 123_456_789, MAX_SAMPLE_MINUS_ONE] {
            let near: Vec<f64> = [-1e-9, 0.0, 1e-9]
                .iter()
                .map(|d| (n as f64 + 0.5 + d).ln())
                .collect();
            check(&[near.clone(), near].concat()).unwrap();
        }
        let mut out = [0; 8];
        exp_each(
            &[100.0, 40.0, -1.0, 0.0, -800.0, 800.0, -0.0, 1.0],
            &mut out,
        );
        assert_eq!(out, [MAX_SAMPLE, MAX_SAMPLE, 0, 1, 0, MAX_SAMPLE, 1, 3]);
    }

    use crate::model::time::MAX_SAMPLE;
    const MAX_SAMPLE_MINUS_ONE: u64 = MAX_SAMPLE - 1;
}
