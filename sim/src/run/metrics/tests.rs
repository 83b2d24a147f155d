//! Unit tests of the streaming accumulators: exact sums, merging, paired ratios.

use super::*;

#[test]
fn stream_is_exact_and_merges() {
    let mut a = Stream::default();
    let mut b = Stream::default();
    for v in [1u64, 2, 3] {
        a.record(v * 1_000_000_007);
    }
    b.record(10);
    a.merge(&b);
    assert_eq!(a.count(), 4);
    assert_eq!(a.min(), 10);
    assert_eq!(a.max(), 3_000_000_021);
    assert_eq!(a.mean(), (6_000_000_042u64 + 10) as f64 / 4.0);
}

#[test]
fn paired_ratio_and_difference() {
    let mut p = PairedStream::default();
    p.record(200, 100, false); // ratio 2, diff 100
    p.record(100, 100, false); // ratio 1, diff 0
    p.record(50, 0, false); // undefined ratio, diff 50
    assert_eq!(p.sessions(), 3);
    assert_eq!(p.undefined(), 1);
    let r = p.ratio();
    assert!((r.mean - 1.5).abs() < 1e-6);
    assert!(r.ci95_low < 1.5 && r.ci95_high > 1.5);
    assert_eq!(p.difference(false).mean, 50.0);
    assert!((p.candidate_better_fraction() - 2.0 / 3.0).abs() < 1e-12);
    assert!((p.tie_fraction() - 1.0 / 3.0).abs() < 1e-12);
}

#[test]
fn all_lists_every_metric_in_declaration_order() {
    // A new variant fails to compile here until it is listed: then `ALL` must list it too, at its
    // index (streams are sized by `ALL` and indexed by declaration order).
    fn declared(m: Metric) -> usize {
        match m {
            Metric::Makespan
            | Metric::FirstUpdate
            | Metric::ResultDelay
            | Metric::MaxSilence
            | Metric::ModelBusy
            | Metric::ModelIdle
            | Metric::IdleFraction
            | Metric::Turns
            | Metric::ReplyLatency
            | Metric::ToolQueueWait
            | Metric::ModelQueueWait
            | Metric::ColdStarts
            | Metric::FailedCalls
            | Metric::TimedOutCalls
            | Metric::Retries
            | Metric::InputTokens
            | Metric::OutputTokens
            | Metric::CostUsd
            | Metric::ModelCostUsd
            | Metric::InfraCostUsd => m as usize,
        }
    }
    const VARIANTS: usize = Metric::InfraCostUsd as usize + 1;
    assert_eq!(Metric::ALL.len(), VARIANTS, "Metric::ALL misses a variant");
    for (i, m) in Metric::ALL.iter().enumerate() {
        assert_eq!(declared(*m), i, "{m:?} is out of place in Metric::ALL");
    }
}
