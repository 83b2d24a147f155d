//! One metric's distribution: exact count, sum and extremes, and an hdrhistogram for quantiles.
//!
//! Values are counted in hdrhistogram's own buckets (3 significant digits), but recorded by
//! hand: a record is an index computation and an increment, where `Histogram::record` also
//! checks ranges, tracks extremes and sums a total (a fifth of the simulator's instructions
//! went there). The counts become an hdrhistogram, bucket for bucket, when a quantile is first
//! asked for, so every quantile and the deviation are hdrhistogram's own.

use hdrhistogram::Histogram;
use std::sync::OnceLock;

/// hdrhistogram's layout for 3 significant digits from 1 (`Histogram::new(3)`): buckets of
/// 2048 sub-buckets, each bucket twice the range of the one before and using its upper half.
const SUB_BUCKET_HALF_MAGNITUDE: u32 = 10;
const SUB_BUCKET_HALF: usize = 1 << SUB_BUCKET_HALF_MAGNITUDE;
const SUB_BUCKET_MASK: u64 = (2 * SUB_BUCKET_HALF - 1) as u64;
/// 64 − log2(2048).
const LEADING_ZERO_BASE: u32 = 53;
const SIGNIFICANT_DIGITS: u8 = 3;

/// The count index of `v` (hdrhistogram's `index_for`).
#[inline]
fn index_of(v: u64) -> usize {
    let bucket = LEADING_ZERO_BASE - (v | SUB_BUCKET_MASK).leading_zeros();
    ((bucket as usize + 1) << SUB_BUCKET_HALF_MAGNITUDE) + (v >> bucket) as usize - SUB_BUCKET_HALF
}

/// The lowest value counted at `index` (hdrhistogram's `value_for`).
fn value_at(index: usize) -> u64 {
    let bucket = (index >> SUB_BUCKET_HALF_MAGNITUDE) as i64 - 1;
    let sub = (index & (SUB_BUCKET_HALF - 1)) as u64 + SUB_BUCKET_HALF as u64;
    if bucket < 0 {
        sub - SUB_BUCKET_HALF as u64
    } else {
        sub << bucket
    }
}

/// A stream's counts are 32-bit until a record would take it to this many values; no bucket
/// can overflow before then (a bucket holds at most every value).
const WIDEN_AT: u64 = u32::MAX as u64;

/// Bucket counts, 32-bit while they cannot overflow: half the memory, so the buckets a run
/// touches stay in cache. Widened to 64 bits for runs past 4·10^9 values.
#[derive(Clone, Debug)]
enum Counts {
    Narrow(Vec<u32>),
    Wide(Vec<u64>),
}

impl Counts {
    fn widen(&mut self) {
        if let Counts::Narrow(narrow) = self {
            *self = Counts::Wide(narrow.iter().map(|&c| c as u64).collect());
        }
    }

    /// (index, count) of every bucket that holds values.
    fn recorded(&self) -> Box<dyn Iterator<Item = (usize, u64)> + '_> {
        match self {
            Counts::Narrow(c) => Box::new(nonzero(c.iter().map(|&n| n as u64))),
            Counts::Wide(c) => Box::new(nonzero(c.iter().copied())),
        }
    }
}

fn nonzero(counts: impl Iterator<Item = u64>) -> impl Iterator<Item = (usize, u64)> {
    counts.enumerate().filter(|&(_, n)| n > 0)
}

/// Adds `other` into `counts`, growing it to cover every bucket of both.
fn add<T: Copy + Default + std::ops::AddAssign>(
    counts: &mut Vec<T>,
    other: impl ExactSizeIterator<Item = T>,
) {
    if counts.len() < other.len() {
        counts.resize(other.len(), T::default());
    }
    for (c, n) in counts.iter_mut().zip(other) {
        *c += n;
    }
}

/// Makes room for `index`, a whole bucket at a time.
#[cold]
fn grow<T: Copy + Default>(counts: &mut Vec<T>, index: usize) {
    counts.resize((index | (SUB_BUCKET_HALF - 1)) + 1, T::default());
}

/// What [`Stream::record_each`] adds up besides the buckets.
struct Totals {
    count: u64,
    sum: u128,
    min: u64,
    max: u64,
}

#[inline(always)]
fn count_each<T: Copy + Default + std::ops::AddAssign + From<u8>>(
    counts: &mut Vec<T>,
    values: impl Iterator<Item = u64>,
    totals: &mut Totals,
) {
    for v in values {
        let i = index_of(v);
        if i >= counts.len() {
            grow(counts, i);
        }
        counts[i] += T::from(1);
        totals.count += 1;
        totals.sum += v as u128;
        totals.min = totals.min.min(v);
        totals.max = totals.max.max(v);
    }
}

/// One metric's distribution: bucket counts (3 significant digits) plus exact count, sum, min
/// and max, so the mean and extremes are exact.
#[derive(Clone, Debug)]
pub struct Stream {
    counts: Counts,
    count: u64,
    sum: u128,
    min: u64,
    max: u64,
    /// The counts as an hdrhistogram, made when first queried; cleared by every change.
    histogram: OnceLock<Histogram<u64>>,
}

impl Default for Stream {
    fn default() -> Self {
        Stream {
            counts: Counts::Narrow(Vec::new()),
            count: 0,
            sum: 0,
            min: u64::MAX,
            max: 0,
            histogram: OnceLock::new(),
        }
    }
}

impl Stream {
    // always: called once per value, and a call's overhead is as large as the work
    #[inline(always)]
    pub fn record(&mut self, v: u64) {
        self.record_each(std::iter::once(v));
    }

    /// Records every value of `values`, with the totals kept in registers (a session records
    /// one value per call).
    #[inline(always)]
    pub fn record_each(&mut self, values: impl ExactSizeIterator<Item = u64>) {
        if self.count.saturating_add(values.len() as u64) >= WIDEN_AT {
            self.counts.widen();
        }
        let mut totals = Totals {
            count: 0,
            sum: 0,
            min: self.min,
            max: self.max,
        };
        match &mut self.counts {
            Counts::Narrow(c) => count_each(c, values, &mut totals),
            Counts::Wide(c) => count_each(c, values, &mut totals),
        }
        self.count += totals.count;
        self.sum += totals.sum;
        self.min = totals.min;
        self.max = totals.max;
        if self.histogram.get().is_some() {
            self.histogram.take();
        }
    }

    pub fn merge(&mut self, other: &Stream) {
        if self.count + other.count >= WIDEN_AT {
            self.counts.widen();
        }
        match (&mut self.counts, &other.counts) {
            (Counts::Narrow(a), Counts::Narrow(b)) => add(a, b.iter().copied()),
            (Counts::Wide(a), Counts::Wide(b)) => add(a, b.iter().copied()),
            (Counts::Wide(a), Counts::Narrow(b)) => add(a, b.iter().map(|&n| n as u64)),
            (Counts::Narrow(_), Counts::Wide(_)) => unreachable!("widened above"),
        }
        self.count += other.count;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.histogram.take();
    }

    /// The counts as an hdrhistogram: each bucket's count recorded at its lowest value, which
    /// hdrhistogram counts in that same bucket.
    fn histogram(&self) -> &Histogram<u64> {
        self.histogram.get_or_init(|| {
            let mut h = Histogram::new(SIGNIFICANT_DIGITS)
                .expect("3 significant digits is a valid precision");
            for (index, n) in self.counts.recorded() {
                h.record_n(value_at(index), n)
                    .expect("an auto-resizing histogram takes any u64");
            }
            h
        })
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// Exact mean of the stored values.
    pub fn mean(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum as f64 / self.count as f64
        }
    }

    /// Standard deviation, from the histogram (values within its 3 significant digits).
    pub fn std_dev(&self) -> f64 {
        self.histogram().stdev()
    }

    pub fn quantile(&self, q: f64) -> u64 {
        self.histogram().value_at_quantile(q)
    }

    pub fn min(&self) -> u64 {
        if self.count == 0 { 0 } else { self.min }
    }

    pub fn max(&self) -> u64 {
        self.max
    }

    /// The fraction of values ≤ `v` (for CDF charts).
    pub fn cdf_points(&self, points: usize) -> Vec<(u64, f64)> {
        if self.count == 0 {
            return Vec::new();
        }
        (0..=points)
            .map(|i| {
                let q = i as f64 / points as f64;
                (self.quantile(q), q)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Counting by hand in hdrhistogram's buckets, then handing it the counts, gives
        /// hdrhistogram's own quantiles and deviation, values of every magnitude included.
        #[test]
        fn quantiles_are_hdrhistograms_own(
            values in proptest::collection::vec(
                prop_oneof![0u64..5000, 0u64..1 << 40, any::<u64>()], 1..400)
        ) {
            let mut stream = Stream::default();
            let mut reference = Histogram::<u64>::new(3).unwrap();
            for &v in &values {
                stream.record(v);
                reference.record(v).unwrap();
                prop_assert_eq!(value_at(index_of(v)), reference.lowest_equivalent(v));
            }
            for q in [0.0, 0.001, 0.1, 0.5, 0.9, 0.99, 0.999, 1.0] {
                prop_assert_eq!(stream.quantile(q), reference.value_at_quantile(q), "q {}", q);
            }
            prop_assert_eq!(stream.std_dev().to_bits(), reference.stdev().to_bits());
            // a record after a query is seen by the next query
            stream.record(u64::MAX);
            reference.record(u64::MAX).unwrap();
            prop_assert_eq!(stream.quantile(1.0), reference.value_at_quantile(1.0));
        }

        /// Recording a batch leaves the stream as recording its values one by one, whether it
        /// starts empty, holds values, or is narrow or wide.
        #[test]
        fn a_batch_records_as_its_values_do(
            before in proptest::collection::vec(any::<u64>(), 0..50),
            batch in proptest::collection::vec(
                prop_oneof![0u64..5000, any::<u64>()], 0..100),
            wide in any::<bool>(),
        ) {
            let mut one_by_one = Stream::default();
            before.iter().for_each(|&v| one_by_one.record(v));
            if wide {
                one_by_one.counts.widen();
            }
            let mut batched = one_by_one.clone();
            let _ = batched.quantile(0.5); // a query before the batch is not kept past it
            batch.iter().for_each(|&v| one_by_one.record(v));
            batched.record_each(batch.iter().copied());
            prop_assert_eq!(batched.count(), one_by_one.count());
            prop_assert_eq!(batched.sum, one_by_one.sum);
            prop_assert_eq!((batched.min, batched.max), (one_by_one.min, one_by_one.max));
            prop_assert_eq!(
                batched.counts.recorded().collect::<Vec<_>>(),
                one_by_one.counts.recorded().collect::<Vec<_>>()
            );
            prop_assert_eq!(batched.quantile(0.5), one_by_one.quantile(0.5));
        }
    }

    #[test]
    fn widening_keeps_every_quantile() {
        let mut narrow = Stream::default();
        for i in 0..100_000u64 {
            narrow.record(i * i % 1_000_003 * 997);
        }
        let mut wide = narrow.clone();
        wide.counts.widen();
        assert!(matches!(wide.counts, Counts::Wide(_)));
        for q in [0.0, 0.01, 0.5, 0.9, 0.999, 1.0] {
            assert_eq!(narrow.quantile(q), wide.quantile(q), "q {q}");
        }
        assert_eq!(narrow.std_dev(), wide.std_dev());
        // and merging either way round gives the same histogram
        let mut a = narrow.clone();
        a.merge(&narrow);
        let mut b = wide.clone();
        b.merge(&narrow);
        for q in [0.1, 0.5, 0.99] {
            assert_eq!(a.quantile(q), b.quantile(q));
        }
        assert_eq!(a.count(), b.count());
    }

    #[test]
    fn widens_before_a_bucket_can_overflow() {
        // A stream about to hold u32::MAX values widens when a merge would take it there.
        let mut big = Stream::default();
        big.record(5);
        big.count = WIDEN_AT - 1;
        let mut one = Stream::default();
        one.record(5);
        big.merge(&one);
        assert!(matches!(big.counts, Counts::Wide(_)));
        let mut s = Stream {
            count: WIDEN_AT - 1,
            ..Stream::default()
        };
        s.record(7);
        assert!(matches!(s.counts, Counts::Wide(_)));
        assert_eq!(s.quantile(1.0), 7);
        // and before a batch that would take it there
        let mut s = Stream {
            count: WIDEN_AT - 3,
            ..Stream::default()
        };
        s.record_each([1, 2].into_iter());
        assert!(
            matches!(s.counts, Counts::Narrow(_)),
            "WIDEN_AT − 1 values fit"
        );
        s.record_each([3].into_iter());
        assert!(matches!(s.counts, Counts::Wide(_)));
        assert_eq!(s.quantile(1.0), 3);
    }
}
