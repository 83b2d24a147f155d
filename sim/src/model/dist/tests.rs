//! Unit tests of the distributions: analytic means, truncation, clamping, parameter checks.

use super::*;
use crate::model::time::{MAX_SAMPLE, Nanos};
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

fn sample_mean(d: &Dist, n: usize) -> f64 {
    let s = d.sampler().unwrap();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
    (0..n).map(|_| s.sample(&mut rng) as f64).sum::<f64>() / n as f64
}

#[test]
fn sample_means_match_analytic_means() {
    let cases = [
        Dist::Uniform {
            min: ms(100),
            max: ms(300),
        },
        Dist::Exponential { mean: ms(200) },
        Dist::Normal {
            mean: ms(100),
            std_dev: ms(80),
        },
        Dist::Lognormal {
            median: ms(1000),
            sigma: 0.5,
        },
        Dist::Gamma {
            shape: 2.0,
            scale: ms(50),
        },
        Dist::Weibull {
            shape: 1.5,
            scale: ms(100),
        },
        Dist::Pareto {
            scale: ms(10),
            shape: 3.0,
        },
        Dist::Empirical {
            samples: vec![ms(1), ms(2), ms(6)],
            file: None,
        },
        Dist::Mixture {
            components: vec![
                Component {
                    weight: 3.0,
                    latency: Dist::constant(ms(100)),
                },
                Component {
                    weight: 1.0,
                    latency: Dist::Exponential { mean: ms(500) },
                },
            ],
        },
    ];
    for d in cases {
        let analytic = d.mean_ns().unwrap();
        let sampled = sample_mean(&d, 400_000);
        let rel = (sampled - analytic).abs() / analytic;
        assert!(
            rel < 0.01,
            "{}: sampled {sampled}, analytic {analytic}",
            d.describe()
        );
    }
}

#[test]
fn truncated_normal_never_negative() {
    let s = Dist::Normal {
        mean: ms(0),
        std_dev: ms(100),
    }
    .sampler()
    .unwrap();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
    let draws: Vec<Nanos> = (0..10_000).map(|_| s.sample(&mut rng)).collect();
    assert!(draws.iter().any(|&x| x > 0));
    // The half-normal mean is sd·√(2/π).
    let mean = draws.iter().sum::<u64>() as f64 / draws.len() as f64;
    let expected = 100e6 * (2.0 / std::f64::consts::PI).sqrt();
    assert!(
        (mean - expected).abs() / expected < 0.03,
        "{mean} vs {expected}"
    );
}

#[test]
fn heavy_tails_are_clamped() {
    let s = Dist::Pareto {
        scale: Duration::from_secs(1),
        shape: 0.01,
    }
    .sampler()
    .unwrap();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
    assert!(
        (0..1000)
            .map(|_| s.sample(&mut rng))
            .all(|x| x <= MAX_SAMPLE)
    );
    assert_eq!(
        Dist::Pareto {
            scale: ms(1),
            shape: 1.0
        }
        .mean_ns(),
        None
    );
}

#[test]
fn checks_name_the_bad_parameter() {
    let mut p = Vec::new();
    Dist::Lognormal {
        median: ms(1),
        sigma: 0.0,
    }
    .check("tools.a.latency", &mut p);
    assert_eq!(p[0].path, "tools.a.latency.sigma");
    assert!(p[0].message.contains("must be > 0"));

    let mut p = Vec::new();
    let mix = Dist::Mixture {
        components: vec![Component {
            weight: 0.0,
            latency: Dist::constant(ms(1)),
        }],
    };
    mix.check("x", &mut p);
    assert_eq!(p[0].path, "x.components");
    assert!(p[0].message.contains("sum to a positive number"));

    let mut p = Vec::new();
    Dist::Uniform {
        min: ms(5),
        max: ms(1),
    }
    .check("u", &mut p);
    assert_eq!(p[0].path, "u.max");
}

#[test]
fn gamma_function_is_accurate() {
    assert!((gamma_fn(5.0) - 24.0).abs() < 1e-9);
    assert!((gamma_fn(0.5) - std::f64::consts::PI.sqrt()).abs() < 1e-9);
}

#[test]
fn clamping_rounds_like_f64_round_within_the_range() {
    use crate::model::time::clamp_ns;
    let max = MAX_SAMPLE as f64;
    for (x, want) in [
        (f64::NAN, 0),
        (f64::NEG_INFINITY, 0),
        (-1.0, 0),
        (0.0, 0),
        (0.49, 0),
        (0.5, 1),
        (1.5, 2),
        (2.4999, 2),
        (123_456_789.5, 123_456_790),
        (max - 0.75, MAX_SAMPLE - 1),
        (max - 0.25, MAX_SAMPLE),
        (max, MAX_SAMPLE),
        (1e300, MAX_SAMPLE),
        (f64::INFINITY, MAX_SAMPLE),
    ] {
        assert_eq!(clamp_ns(x), want, "{x}");
        if x.is_finite() && x > 0.0 && x < max {
            assert_eq!(clamp_ns(x), x.round() as u64, "{x}");
        }
    }
    // the one double where it does not (see clamp_ns): kept, so that earlier results reproduce
    let below_half = 0.5f64.next_down();
    assert_eq!((clamp_ns(below_half), below_half.round()), (1, 0.0));
}
