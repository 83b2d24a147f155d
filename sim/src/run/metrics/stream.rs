//! One metric's distribution: exact count, sum and extremes, and an hdrhistogram for quantiles.

use hdrhistogram::Histogram;

/// A stream's histogram counts in 32 bits until it holds this many values; no bucket can
/// overflow before then (a bucket holds at most every value).
const WIDEN_AT: u64 = u32::MAX as u64;

/// Bucket counts, 32-bit while they cannot overflow: half the memory, so the buckets a run
/// touches stay in cache (recording was the simulator's largest cost after sampling; this made
/// bench-5x4 sync ~1.2x faster). Widened to 64 bits for runs past 4·10^9 values; the quantiles
/// read the same either way.
#[derive(Clone, Debug)]
enum Counts {
    Narrow(Histogram<u32>),
    Wide(Histogram<u64>),
}

impl Counts {
    fn widen(&mut self) {
        if let Counts::Narrow(h) = self {
            *self = Counts::Wide(widened(h));
        }
    }
}

/// The same buckets with 64-bit counts.
fn widened(narrow: &Histogram<u32>) -> Histogram<u64> {
    let mut wide = Histogram::new_from(narrow);
    for bucket in narrow.iter_recorded() {
        wide.record_n(bucket.value_iterated_to(), bucket.count_at_value() as u64)
            .expect("an auto-resizing histogram takes any u64");
    }
    wide
}

/// One metric's distribution: an hdrhistogram (3 significant digits) plus exact count, sum,
/// min and max, so the mean and extremes are exact.
#[derive(Clone, Debug)]
pub struct Stream {
    hist: Counts,
    count: u64,
    sum: u128,
    min: u64,
    max: u64,
}

impl Default for Stream {
    fn default() -> Self {
        Stream {
            hist: Counts::Narrow(
                Histogram::new(3).expect("3 significant digits is a valid precision"),
            ),
            count: 0,
            sum: 0,
            min: u64::MAX,
            max: 0,
        }
    }
}

impl Stream {
    #[inline]
    pub fn record(&mut self, v: u64) {
        match &mut self.hist {
            Counts::Narrow(h) => h.record(v),
            Counts::Wide(h) => h.record(v),
        }
        .expect("an auto-resizing histogram takes any u64");
        self.count += 1;
        self.sum += v as u128;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        if self.count >= WIDEN_AT {
            self.hist.widen();
        }
    }

    pub fn merge(&mut self, other: &Stream) {
        if self.count + other.count >= WIDEN_AT {
            self.hist.widen();
        }
        match (&mut self.hist, &other.hist) {
            (Counts::Narrow(a), Counts::Narrow(b)) => a.add(b),
            (Counts::Wide(a), Counts::Wide(b)) => a.add(b),
            (Counts::Wide(a), Counts::Narrow(b)) => a.add(widened(b)),
            (Counts::Narrow(_), Counts::Wide(_)) => unreachable!("widened above"),
        }
        .expect("auto-resizing histograms always merge");
        self.count += other.count;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
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
        match &self.hist {
            Counts::Narrow(h) => h.stdev(),
            Counts::Wide(h) => h.stdev(),
        }
    }

    pub fn quantile(&self, q: f64) -> u64 {
        match &self.hist {
            Counts::Narrow(h) => h.value_at_quantile(q),
            Counts::Wide(h) => h.value_at_quantile(q),
        }
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

    #[test]
    fn widening_keeps_every_quantile() {
        let mut narrow = Stream::default();
        for i in 0..100_000u64 {
            narrow.record(i * i % 1_000_003 * 997);
        }
        let mut wide = narrow.clone();
        wide.hist.widen();
        assert!(matches!(wide.hist, Counts::Wide(_)));
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
        assert!(matches!(big.hist, Counts::Wide(_)));
        let mut s = Stream {
            count: WIDEN_AT - 1,
            ..Stream::default()
        };
        s.record(7);
        assert!(matches!(s.hist, Counts::Wide(_)));
        assert_eq!(s.quantile(1.0), 7);
    }
}
