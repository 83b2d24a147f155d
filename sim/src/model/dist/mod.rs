//! Latency distributions: what a scenario writes, how it is checked, and how it is sampled.
//!
//! Every distribution yields a duration in nanoseconds. Parameters that are times are written as
//! duration strings (`"250ms"`); shapes are plain numbers. A bare duration string is shorthand for
//! a constant: `latency = "200ms"` equals `latency = { dist = "constant", value = "200ms" }`.

use crate::model::time::clamp_ns;
use rand_distr::{Exp, Gamma, LogNormal, Normal, Pareto, Weibull, weighted::WeightedIndex};
use sampler::{gamma_fn, std_normal_cdf, std_normal_pdf};
use serde::{Deserialize, Deserializer, Serialize, de};
use std::time::Duration;

mod exp;
mod exp_each;
mod normal;
mod sampler;
#[cfg(test)]
mod tests;

pub use sampler::{Sampler, sample_each};

/// Limits that keep a scenario's memory and sampling cost bounded.
pub const MAX_EMPIRICAL_SAMPLES: usize = 1_000_000;
pub const MAX_MIXTURE_COMPONENTS: usize = 64;
pub const MAX_MIXTURE_DEPTH: usize = 4;

/// A latency distribution as written in a scenario file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "dist", rename_all = "lowercase", deny_unknown_fields)]
pub enum Dist {
    /// Always `value`.
    Constant {
        #[serde(with = "crate::model::duration")]
        value: Duration,
    },
    /// Uniform between `min` and `max` (inclusive).
    Uniform {
        #[serde(with = "crate::model::duration")]
        min: Duration,
        #[serde(with = "crate::model::duration")]
        max: Duration,
    },
    /// Exponential with the given `mean` (memoryless; the M in M/M/c).
    Exponential {
        #[serde(with = "crate::model::duration")]
        mean: Duration,
    },
    /// Normal, truncated at 0 (negative draws are redrawn).
    Normal {
        #[serde(with = "crate::model::duration")]
        mean: Duration,
        #[serde(with = "crate::model::duration")]
        std_dev: Duration,
    },
    /// Log-normal by its `median` (e^μ) and `sigma` (σ of the underlying normal).
    Lognormal {
        #[serde(with = "crate::model::duration")]
        median: Duration,
        sigma: f64,
    },
    /// Gamma with `shape` k and `scale` θ (mean kθ).
    Gamma {
        shape: f64,
        #[serde(with = "crate::model::duration")]
        scale: Duration,
    },
    /// Weibull with `shape` k and `scale` λ.
    Weibull {
        shape: f64,
        #[serde(with = "crate::model::duration")]
        scale: Duration,
    },
    /// Pareto with minimum `scale` and tail index `shape` (heavy tail; infinite mean if ≤ 1).
    Pareto {
        #[serde(with = "crate::model::duration")]
        scale: Duration,
        shape: f64,
    },
    /// Resamples observed latencies uniformly.
    Empirical {
        #[serde(default, with = "crate::model::duration::list")]
        samples: Vec<Duration>,
        /// Or read them from a trace file when the scenario is read (see [`crate::input::traces`]).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        file: Option<crate::model::sample_file::SampleFile>,
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
                            crate::model::duration::format(max),
                            crate::model::duration::format(min)
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
            Dist::Lognormal { median, sigma } => {
                let mu = ns(median).ln();
                // rand_distr's checks, so the fast path takes exactly what it takes
                LogNormal::new(mu, *sigma).map_err(|e| e.to_string())?;
                Sampler::LogNormal { mu, sigma: *sigma }
            }
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
    /// [`MAX_SAMPLE`](crate::model::time::MAX_SAMPLE); the truncated normal's mean is that of
    /// the truncated law).
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
        let f = crate::model::duration::format;
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
            crate::model::duration::parse(v)
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
