//! Latency distributions: what a scenario writes, how it is checked, and how it is sampled.
//!
//! Every distribution yields a duration in nanoseconds. Parameters that are times are written as
//! duration strings (`"250ms"`); shapes are plain numbers. A bare duration string is shorthand for
//! a constant: `latency = "200ms"` equals `latency = { dist = "constant", value = "200ms" }`.

use crate::time::{MAX_SAMPLE, Nanos};
use rand::{Rng, RngExt};
use rand_distr::{
    Distribution, Exp, Gamma, LogNormal, Normal, Pareto, Weibull, weighted::WeightedIndex,
};
use serde::{Deserialize, Deserializer, Serialize, de};
use std::time::Duration;

/// Limits that keep a scenario's memory and sampling cost bounded.
pub const MAX_EMPIRICAL_SAMPLES: usize = 1_000_000;
pub const MAX_MIXTURE_COMPONENTS: usize = 64;
pub const MAX_MIXTURE_DEPTH: usize = 4;
/// A truncated normal redraws below zero; with mean ≥ 0 each try succeeds with p ≥ 1/2.
const NORMAL_MAX_TRIES: usize = 64;

/// A latency distribution as written in a scenario file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "dist", rename_all = "lowercase", deny_unknown_fields)]
pub enum Dist {
    /// Always `value`.
    Constant {
        #[serde(with = "crate::duration")]
        value: Duration,
    },
    /// Uniform between `min` and `max` (inclusive).
    Uniform {
        #[serde(with = "crate::duration")]
        min: Duration,
        #[serde(with = "crate::duration")]
        max: Duration,
    },
    /// Exponential with the given `mean` (memoryless; the M in M/M/c).
    Exponential {
        #[serde(with = "crate::duration")]
        mean: Duration,
    },
    /// Normal, truncated at 0 (negative draws are redrawn).
    Normal {
        #[serde(with = "crate::duration")]
        mean: Duration,
        #[serde(with = "crate::duration")]
        std_dev: Duration,
    },
    /// Log-normal by its `median` (e^μ) and `sigma` (σ of the underlying normal).
    Lognormal {
        #[serde(with = "crate::duration")]
        median: Duration,
        sigma: f64,
    },
    /// Gamma with `shape` k and `scale` θ (mean kθ).
    Gamma {
        shape: f64,
        #[serde(with = "crate::duration")]
        scale: Duration,
    },
    /// Weibull with `shape` k and `scale` λ.
    Weibull {
        shape: f64,
        #[serde(with = "crate::duration")]
        scale: Duration,
    },
    /// Pareto with minimum `scale` and tail index `shape` (heavy tail; infinite mean if ≤ 1).
    Pareto {
        #[serde(with = "crate::duration")]
        scale: Duration,
        shape: f64,
    },
    /// Resamples observed latencies uniformly.
    Empirical {
        #[serde(default, with = "crate::duration::list")]
        samples: Vec<Duration>,
        /// Or read them from a trace file when the scenario is read (see [`crate::traces`]).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        file: Option<crate::traces::SampleFile>,
    },
    /// Picks a component with probability proportional to its weight, then samples it.
    Mixture { components: Vec<Component> },
}

/// One part of a mixture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Component {
    pub weight: f64,
    #[serde(deserialize_with = "shorthand")]
    pub latency: Dist,
}

/// A parameter problem: the key path below the distribution, and what is wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

impl Dist {
    pub fn constant(d: Duration) -> Dist {
        Dist::Constant { value: d }
    }

    pub fn zero() -> Dist {
        Dist::constant(Duration::ZERO)
    }

    /// Appends every problem with the parameters; `path` is this distribution's key path.
    pub fn check(&self, path: &str, problems: &mut Vec<Problem>) {
        self.check_at_depth(path, 0, problems);
    }

    fn check_at_depth(&self, path: &str, depth: usize, problems: &mut Vec<Problem>) {
        let mut bad = |key: &str, message: String| {
            problems.push(Problem {
                path: format!("{path}.{key}"),
                message,
            })
        };
        let positive = |x: f64| x.is_finite() && x > 0.0;
        match self {
            Dist::Constant { .. } => {}
            Dist::Uniform { min, max } => {
                if min > max {
                    bad(
                        "max",
                        format!(
                            "max ({}) must be ≥ min ({})",
                            crate::duration::format(max),
                            crate::duration::format(min)
                        ),
                    )
                }
            }
            Dist::Exponential { mean } => {
                if mean.is_zero() {
                    bad("mean", "must be > 0 (for always zero, use \"0s\")".into())
                }
            }
            Dist::Normal { .. } => {}
            Dist::Lognormal { median, sigma } => {
                if median.is_zero() {
                    bad("median", "must be > 0".into())
                }
                if !positive(*sigma) {
                    bad("sigma", format!("must be > 0, got {sigma}"))
                }
            }
            Dist::Gamma { shape, scale } | Dist::Weibull { shape, scale } => {
                if !positive(*shape) {
                    bad("shape", format!("must be > 0, got {shape}"))
                }
                if scale.is_zero() {
                    bad("scale", "must be > 0".into())
                }
            }
            Dist::Pareto { scale, shape } => {
                if scale.is_zero() {
                    bad("scale", "must be > 0 (it is the smallest value)".into())
                }
                if !positive(*shape) {
                    bad("shape", format!("must be > 0, got {shape}"))
                }
            }
            Dist::Empirical { samples, .. } => {
                if samples.is_empty() {
                    bad(
                        "samples",
                        "must list at least one duration (or name a trace file: `file = \"...\"`)"
                            .into(),
                    )
                } else if samples.len() > MAX_EMPIRICAL_SAMPLES {
                    bad(
                        "samples",
                        format!(
                            "has {} samples; the limit is {MAX_EMPIRICAL_SAMPLES}",
                            samples.len()
                        ),
                    )
                }
            }
            Dist::Mixture { components } => {
                if components.is_empty() {
                    bad("components", "must list at least one component".into());
                    return;
                }
                if components.len() > MAX_MIXTURE_COMPONENTS {
                    bad(
                        "components",
                        format!(
                            "has {} components; the limit is {MAX_MIXTURE_COMPONENTS}",
                            components.len()
                        ),
                    );
                }
                if depth + 1 >= MAX_MIXTURE_DEPTH {
                    bad(
                        "components",
                        format!("mixtures nest at most {MAX_MIXTURE_DEPTH} deep"),
                    );
                    return;
                }
                let mut total = 0.0;
                for (i, c) in components.iter().enumerate() {
                    if !c.weight.is_finite() || c.weight < 0.0 {
                        problems.push(Problem {
                            path: format!("{path}.components[{i}].weight"),
                            message: format!("must be a finite number ≥ 0, got {}", c.weight),
                        });
                    } else {
                        total += c.weight;
                    }
                    let sub = format!("{path}.components[{i}].latency");
                    c.latency.check_at_depth(&sub, depth + 1, problems);
                }
                if !(total > 0.0 && total.is_finite()) {
                    problems.push(Problem {
                        path: format!("{path}.components"),
                        message: format!(
                            "the weights must sum to a positive number, they sum to {total}"
                        ),
                    });
                }
            }
        }
    }

    /// The sampler for these parameters. Call [`Dist::check`] first: unchecked parameters that
    /// the sampler cannot take are reported as an error string rather than a panic.
    pub fn sampler(&self) -> Result<Sampler, String> {
        let ns = |d: &Duration| d.as_nanos() as f64;
        Ok(match self {
            Dist::Constant { value } => Sampler::Constant(clamp_ns(ns(value))),
            Dist::Uniform { min, max } if min == max => Sampler::Constant(clamp_ns(ns(min))),
            Dist::Uniform { min, max } => Sampler::Uniform {
                low: ns(min),
                width: ns(max) - ns(min),
            },
            Dist::Exponential { mean } => {
                Sampler::Exponential(Exp::new(1.0 / ns(mean)).map_err(|e| e.to_string())?)
            }
            Dist::Normal { mean, std_dev } if std_dev.is_zero() => {
                Sampler::Constant(clamp_ns(ns(mean)))
            }
            Dist::Normal { mean, std_dev } => {
                Sampler::Normal(Normal::new(ns(mean), ns(std_dev)).map_err(|e| e.to_string())?)
            }
            Dist::Lognormal { median, sigma } => Sampler::LogNormal(
                LogNormal::new(ns(median).ln(), *sigma).map_err(|e| e.to_string())?,
            ),
            Dist::Gamma { shape, scale } => {
                Sampler::Gamma(Gamma::new(*shape, ns(scale)).map_err(|e| e.to_string())?)
            }
            Dist::Weibull { shape, scale } => {
                Sampler::Weibull(Weibull::new(ns(scale), *shape).map_err(|e| e.to_string())?)
            }
            Dist::Pareto { scale, shape } => {
                Sampler::Pareto(Pareto::new(ns(scale), *shape).map_err(|e| e.to_string())?)
            }
            Dist::Empirical { samples, .. } if samples.is_empty() => {
                return Err("empirical distribution without samples".into());
            }
            Dist::Empirical { samples, .. } => {
                Sampler::Empirical(samples.iter().map(|d| clamp_ns(ns(d))).collect())
            }
            Dist::Mixture { components } => {
                let pick = WeightedIndex::new(components.iter().map(|c| c.weight))
                    .map_err(|e| format!("mixture weights: {e}"))?;
                let parts = components
                    .iter()
                    .map(|c| c.latency.sampler())
                    .collect::<Result<Vec<_>, _>>()?;
                Sampler::Mixture {
                    pick,
                    parts: parts.into_boxed_slice(),
                }
            }
        })
    }

    /// The distribution's mean in nanoseconds, where it is finite (before clamping at
    /// [`MAX_SAMPLE`]; the truncated normal's mean is that of the truncated law).
    pub fn mean_ns(&self) -> Option<f64> {
        let ns = |d: &Duration| d.as_nanos() as f64;
        let mean = match self {
            Dist::Constant { value } => ns(value),
            Dist::Uniform { min, max } => (ns(min) + ns(max)) / 2.0,
            Dist::Exponential { mean } => ns(mean),
            Dist::Normal { mean, std_dev } => {
                let (m, s) = (ns(mean), ns(std_dev));
                if s == 0.0 {
                    m
                } else {
                    // E[X | X > 0] = m + s·φ(m/s)/Φ(m/s)
                    let a = m / s;
                    m + s * std_normal_pdf(a) / std_normal_cdf(a)
                }
            }
            Dist::Lognormal { median, sigma } => ns(median) * (sigma * sigma / 2.0).exp(),
            Dist::Gamma { shape, scale } => shape * ns(scale),
            Dist::Weibull { shape, scale } => ns(scale) * gamma_fn(1.0 + 1.0 / shape),
            Dist::Pareto { scale, shape } => {
                if *shape <= 1.0 {
                    return None;
                }
                shape * ns(scale) / (shape - 1.0)
            }
            Dist::Empirical { samples, .. } => {
                samples.iter().map(ns).sum::<f64>() / samples.len().max(1) as f64
            }
            Dist::Mixture { components } => {
                let total: f64 = components.iter().map(|c| c.weight).sum();
                let mut mean = 0.0;
                for c in components {
                    mean += c.weight / total * c.latency.mean_ns()?;
                }
                mean
            }
        };
        mean.is_finite().then_some(mean)
    }

    /// A one-line description for tables: `lognormal(median 15 s, σ 0.3)`.
    pub fn describe(&self) -> String {
        let f = crate::duration::format;
        match self {
            Dist::Constant { value } => f(value),
            Dist::Uniform { min, max } => format!("uniform({} .. {})", f(min), f(max)),
            Dist::Exponential { mean } => format!("exponential(mean {})", f(mean)),
            Dist::Normal { mean, std_dev } => {
                format!("normal(mean {}, sd {}, ≥ 0)", f(mean), f(std_dev))
            }
            Dist::Lognormal { median, sigma } => {
                format!("lognormal(median {}, σ {sigma})", f(median))
            }
            Dist::Gamma { shape, scale } => format!("gamma(k {shape}, θ {})", f(scale)),
            Dist::Weibull { shape, scale } => format!("weibull(k {shape}, λ {})", f(scale)),
            Dist::Pareto { scale, shape } => format!("pareto(min {}, α {shape})", f(scale)),
            Dist::Empirical { samples, .. } => format!("empirical({} samples)", samples.len()),
            Dist::Mixture { components } => {
                let parts: Vec<String> = components
                    .iter()
                    .map(|c| format!("{}×{}", c.weight, c.latency.describe()))
                    .collect();
                format!("mixture({})", parts.join(" + "))
            }
        }
    }
}

/// Reads a distribution written either as a table or as a bare duration string.
pub fn shorthand<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Dist, D::Error> {
    struct Visitor;
    impl<'de> de::Visitor<'de> for Visitor {
        type Value = Dist;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str(
                "a distribution table such as { dist = \"lognormal\", median = \"1s\", sigma = 0.5 } \
                 or a duration string such as \"200ms\"",
            )
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Dist, E> {
            crate::duration::parse(v)
                .map(Dist::constant)
                .map_err(E::custom)
        }
        fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Dist, A::Error> {
            Dist::deserialize(de::value::MapAccessDeserializer::new(map))
        }
    }
    deserializer.deserialize_any(Visitor)
}

/// An optional distribution with the shorthand; absent means `None`.
pub fn shorthand_option<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Dist>, D::Error> {
    shorthand(d).map(Some)
}

/// A compiled distribution, ready to sample nanoseconds.
#[derive(Debug, Clone)]
pub enum Sampler {
    Constant(Nanos),
    Uniform {
        low: f64,
        width: f64,
    },
    Exponential(Exp<f64>),
    Normal(Normal<f64>),
    LogNormal(LogNormal<f64>),
    Gamma(Gamma<f64>),
    Weibull(Weibull<f64>),
    Pareto(Pareto<f64>),
    Empirical(Box<[Nanos]>),
    Mixture {
        pick: WeightedIndex<f64>,
        parts: Box<[Sampler]>,
    },
}

impl Sampler {
    #[inline]
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Nanos {
        match self {
            Sampler::Constant(v) => *v,
            Sampler::Uniform { low, width } => clamp_ns(low + width * rng.random::<f64>()),
            Sampler::Exponential(d) => clamp_ns(d.sample(rng)),
            Sampler::Normal(d) => {
                for _ in 0..NORMAL_MAX_TRIES {
                    let x = d.sample(rng);
                    if x >= 0.0 {
                        return clamp_ns(x);
                    }
                }
                0
            }
            Sampler::LogNormal(d) => clamp_ns(d.sample(rng)),
            Sampler::Gamma(d) => clamp_ns(d.sample(rng)),
            Sampler::Weibull(d) => clamp_ns(d.sample(rng)),
            Sampler::Pareto(d) => clamp_ns(d.sample(rng)),
            Sampler::Empirical(values) => values[rng.random_range(0..values.len())],
            Sampler::Mixture { pick, parts } => parts[pick.sample(rng)].sample(rng),
        }
    }

    /// True when every draw is 0: such overheads are skipped without touching the RNG.
    pub fn is_zero(&self) -> bool {
        matches!(self, Sampler::Constant(0))
    }
}

/// Rounds to whole nanoseconds within [0, MAX_SAMPLE]; NaN (never produced by valid
/// parameters) becomes 0 rather than poisoning integer time.
#[inline]
fn clamp_ns(x: f64) -> Nanos {
    if x.is_nan() || x <= 0.0 {
        0
    } else if x >= MAX_SAMPLE as f64 {
        MAX_SAMPLE
    } else {
        // x > 0, so adding ½ and truncating rounds half away from zero like f64::round,
        // without its libm call (a measurable cost at 10^7 draws per second).
        (x + 0.5) as Nanos
    }
}

fn std_normal_pdf(x: f64) -> f64 {
    (-x * x / 2.0).exp() / (2.0 * std::f64::consts::PI).sqrt()
}

/// Φ(x) via erfc (Abramowitz–Stegun 7.1.26 is too coarse for tails; use the complementary
/// continued-fraction-free Chebyshev fit from Numerical Recipes, |error| < 1.2e-7).
fn std_normal_cdf(x: f64) -> f64 {
    0.5 * erfc(-x / std::f64::consts::SQRT_2)
}

fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.26551223
            + t * (1.00002368
                + t * (0.37409196
                    + t * (0.09678418
                        + t * (-0.18628806
                            + t * (0.27886807
                                + t * (-1.13520398
                                    + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))))
            .exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

/// Γ(x) for x > 0 by the Lanczos approximation (g = 7, n = 9), relative error ~1e-15.
pub(crate) fn gamma_fn(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        std::f64::consts::PI / ((std::f64::consts::PI * x).sin() * gamma_fn(1.0 - x))
    } else {
        let x = x - 1.0;
        let mut a = C[0];
        let t = x + G + 0.5;
        for (i, c) in C.iter().enumerate().skip(1) {
            a += c / (x + i as f64);
        }
        (2.0 * std::f64::consts::PI).sqrt() * t.powf(x + 0.5) * (-t).exp() * a
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
}
