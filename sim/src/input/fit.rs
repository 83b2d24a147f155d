//! Fits the scenario's latency distributions to observed latencies and ranks them by the
//! Kolmogorov–Smirnov distance, for `asynctools fit`.
//!
//! Parameters are maximum-likelihood estimates: closed forms for the exponential, normal,
//! lognormal and Pareto; a one-dimensional root search for the gamma and Weibull shapes, whose
//! likelihood equations have no closed form. The constant is the median. KS distances use the
//! law the simulator samples (the normal truncated at 0), so the ranking compares what a
//! scenario would actually draw.

use serde::Serialize;
use statrs::distribution::{ContinuousCDF, Exp, Gamma, LogNormal, Normal, Pareto, Weibull};
use std::time::Duration;

/// Fewer points say nothing about a distribution's shape.
pub const MIN_SAMPLES: usize = 2;
/// Sorting and KS are O(n log n): a million points fit in about a second.
pub const MAX_SAMPLES: usize = crate::model::dist::MAX_EMPIRICAL_SAMPLES;

/// One fitted distribution.
#[derive(Debug, Clone, Serialize)]
pub struct Candidate {
    /// The scenario's name for it: `lognormal`, `gamma`, ...
    pub dist: &'static str,
    /// Parameters as a scenario writes them (durations as strings).
    pub params: Vec<(&'static str, String)>,
    /// Largest gap between the observed and the fitted CDF (0 = perfect, 1 = disjoint).
    pub ks_distance: f64,
    /// The line to paste into a scenario's tool table.
    pub toml: String,
}

/// A distribution that cannot describe these observations, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    pub dist: &'static str,
    pub reason: String,
}

/// Summary of the observations and every fit, best first.
#[derive(Debug, Clone, Serialize)]
pub struct FitReport {
    pub samples: usize,
    pub min_s: f64,
    pub median_s: f64,
    pub mean_s: f64,
    pub max_s: f64,
    pub ranked: Vec<Candidate>,
    pub skipped: Vec<Skipped>,
}

/// A fitted law, in seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Model {
    Constant {
        value: f64,
    },
    Exponential {
        mean: f64,
    },
    /// Truncated at 0 in the simulator; fitted by the untruncated MLE.
    Normal {
        mean: f64,
        sd: f64,
    },
    Lognormal {
        mu: f64,
        sigma: f64,
    },
    Gamma {
        shape: f64,
        scale: f64,
    },
    Weibull {
        shape: f64,
        scale: f64,
    },
    Pareto {
        scale: f64,
        shape: f64,
    },
}

/// Fits every distribution to `observed` and ranks them by KS distance (ties: simpler first).
pub fn fit(observed: &[Duration]) -> Result<FitReport, String> {
    if observed.len() < MIN_SAMPLES {
        return Err(format!(
            "{} latencies; fitting needs at least {MIN_SAMPLES}",
            observed.len()
        ));
    }
    if observed.len() > MAX_SAMPLES {
        return Err(format!(
            "{} latencies; the limit is {MAX_SAMPLES}: sample them down",
            observed.len()
        ));
    }
    let mut xs: Vec<f64> = observed.iter().map(Duration::as_secs_f64).collect();
    xs.sort_by(f64::total_cmp);
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let median = quantile_sorted(&xs, 0.5);

    let mut ranked = Vec::new();
    let mut skipped = Vec::new();
    for (name, model) in [
        ("constant", Ok(Model::Constant { value: median })),
        ("exponential", fit_exponential(mean)),
        ("normal", fit_normal(&xs, mean)),
        ("lognormal", fit_lognormal(&xs)),
        ("gamma", fit_gamma(&xs, mean)),
        ("weibull", fit_weibull(&xs)),
        ("pareto", fit_pareto(&xs)),
    ] {
        match model {
            Ok(m) => ranked.push(m.candidate(ks_distance(&xs, &m))),
            Err(reason) => skipped.push(Skipped { dist: name, reason }),
        }
    }
    // Stable: equal distances keep the simpler distribution (the order above) first.
    ranked.sort_by(|a, b| a.ks_distance.total_cmp(&b.ks_distance));
    Ok(FitReport {
        samples: xs.len(),
        min_s: xs[0],
        median_s: median,
        mean_s: mean,
        max_s: xs[xs.len() - 1],
        ranked,
        skipped,
    })
}

fn quantile_sorted(xs: &[f64], q: f64) -> f64 {
    let pos = q * (xs.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    xs[lo] + (xs[hi] - xs[lo]) * (pos - lo as f64)
}

fn fit_exponential(mean: f64) -> Result<Model, String> {
    if mean > 0.0 {
        Ok(Model::Exponential { mean })
    } else {
        Err("every latency is 0".into())
    }
}

fn fit_normal(xs: &[f64], mean: f64) -> Result<Model, String> {
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / xs.len() as f64;
    if var > 0.0 {
        Ok(Model::Normal {
            mean,
            sd: var.sqrt(),
        })
    } else {
        Err("every latency is the same".into())
    }
}

/// ln of every value, or why there is none.
fn logs(xs: &[f64]) -> Result<Vec<f64>, String> {
    if xs[0] <= 0.0 {
        return Err("needs every latency > 0".into());
    }
    Ok(xs.iter().map(|x| x.ln()).collect())
}

fn fit_lognormal(xs: &[f64]) -> Result<Model, String> {
    let ln = logs(xs)?;
    let n = ln.len() as f64;
    let mu = ln.iter().sum::<f64>() / n;
    let var = ln.iter().map(|l| (l - mu).powi(2)).sum::<f64>() / n;
    if var > 0.0 {
        Ok(Model::Lognormal {
            mu,
            sigma: var.sqrt(),
        })
    } else {
        Err("every latency is the same".into())
    }
}

/// Gamma MLE: the shape k solves ln k − ψ(k) = ln(mean) − mean(ln x); the left side falls
/// from +∞ to 0, so bisection on ln k finds the single root.
fn fit_gamma(xs: &[f64], mean: f64) -> Result<Model, String> {
    let ln = logs(xs)?;
    let s = mean.ln() - ln.iter().sum::<f64>() / ln.len() as f64;
    if s <= 1e-12 {
        return Err("every latency is the same".into());
    }
    let f = |k: f64| k.ln() - statrs::function::gamma::digamma(k) - s;
    let shape = bisect(|lk| f(lk.exp()), (1e-6f64).ln(), (1e9f64).ln(), true).exp();
    Ok(Model::Gamma {
        shape,
        scale: mean / shape,
    })
}

/// Weibull MLE: with y = x / geometric mean (so mean(ln y) = 0), the shape k solves
/// Σ yᵏ ln y / Σ yᵏ = 1/k; the left side minus 1/k rises with k. Sums of yᵏ are taken in log
/// space so large shapes cannot overflow.
fn fit_weibull(xs: &[f64]) -> Result<Model, String> {
    let ln = logs(xs)?;
    let n = ln.len() as f64;
    let ln_gm = ln.iter().sum::<f64>() / n;
    let ly: Vec<f64> = ln.iter().map(|l| l - ln_gm).collect();
    if ly.iter().all(|&l| l.abs() < 1e-12) {
        return Err("every latency is the same".into());
    }
    // (ln Σ yᵏ, Σ yᵏ ln y / Σ yᵏ)
    let sums = |k: f64| {
        let top = ly.iter().map(|l| k * l).fold(f64::NEG_INFINITY, f64::max);
        let (mut w, mut wl) = (0.0, 0.0);
        for l in &ly {
            let e = (k * l - top).exp();
            w += e;
            wl += e * l;
        }
        (top + w.ln(), wl / w)
    };
    let g = |lk: f64| {
        let k = lk.exp();
        sums(k).1 - 1.0 / k
    };
    let shape = bisect(g, (1e-3f64).ln(), (1e4f64).ln(), false).exp();
    let ln_scale = ln_gm + (sums(shape).0 - n.ln()) / shape;
    Ok(Model::Weibull {
        shape,
        scale: ln_scale.exp(),
    })
}

/// Pareto MLE: the scale is the smallest value, the shape n / Σ ln(x / scale).
fn fit_pareto(xs: &[f64]) -> Result<Model, String> {
    let ln = logs(xs)?;
    let ln_min = ln[0];
    let sum: f64 = ln.iter().map(|l| l - ln_min).sum();
    if sum <= 0.0 {
        return Err("every latency is the same".into());
    }
    Ok(Model::Pareto {
        scale: xs[0],
        shape: ln.len() as f64 / sum,
    })
}

/// The root of a monotone function on [lo, hi] (`falling`: positive below the root).
fn bisect(f: impl Fn(f64) -> f64, mut lo: f64, mut hi: f64, falling: bool) -> f64 {
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        let above_root = (f(mid) > 0.0) != falling;
        if above_root {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    0.5 * (lo + hi)
}

/// sup |F_n − F| over the sorted observations `xs`.
fn ks_distance(xs: &[f64], model: &Model) -> f64 {
    let n = xs.len() as f64;
    if let Model::Constant { value } = *model {
        // A step at `value`: the gap is F_n just below it, or 1 − F_n at it.
        let below = xs.partition_point(|&x| x < value) as f64 / n;
        let at_or_below = xs.partition_point(|&x| x <= value) as f64 / n;
        return below.max(1.0 - at_or_below);
    }
    let cdf = model.cdf_fn();
    xs.iter()
        .enumerate()
        .map(|(i, &x)| {
            let f = cdf(x);
            (f - i as f64 / n).max((i + 1) as f64 / n - f)
        })
        .fold(0.0, f64::max)
}

impl Model {
    /// The CDF the simulator samples from (continuous laws only).
    fn cdf_fn(&self) -> Box<dyn Fn(f64) -> f64> {
        let bad = "a fitted model has valid parameters";
        match *self {
            Model::Constant { value } => Box::new(move |x| if x >= value { 1.0 } else { 0.0 }),
            Model::Exponential { mean } => {
                let d = Exp::new(1.0 / mean).expect(bad);
                Box::new(move |x| d.cdf(x))
            }
            Model::Normal { mean, sd } => {
                let d = Normal::new(mean, sd).expect(bad);
                let below_zero = d.cdf(0.0);
                Box::new(move |x| {
                    if x < 0.0 {
                        0.0
                    } else {
                        (d.cdf(x) - below_zero) / (1.0 - below_zero)
                    }
                })
            }
            Model::Lognormal { mu, sigma } => {
                let d = LogNormal::new(mu, sigma).expect(bad);
                Box::new(move |x| d.cdf(x))
            }
            Model::Gamma { shape, scale } => {
                let d = Gamma::new(shape, 1.0 / scale).expect(bad);
                Box::new(move |x| d.cdf(x))
            }
            Model::Weibull { shape, scale } => {
                let d = Weibull::new(shape, scale).expect(bad);
                Box::new(move |x| d.cdf(x))
            }
            Model::Pareto { scale, shape } => {
                let d = Pareto::new(scale, shape).expect(bad);
                Box::new(move |x| d.cdf(x))
            }
        }
    }

    fn candidate(&self, ks_distance: f64) -> Candidate {
        let t = duration_literal;
        let (dist, params): (&'static str, Vec<(&'static str, String)>) = match *self {
            Model::Constant { value } => ("constant", vec![("value", t(value))]),
            Model::Exponential { mean } => ("exponential", vec![("mean", t(mean))]),
            Model::Normal { mean, sd } => ("normal", vec![("mean", t(mean)), ("std_dev", t(sd))]),
            Model::Lognormal { mu, sigma } => (
                "lognormal",
                vec![("median", t(mu.exp())), ("sigma", number(sigma))],
            ),
            Model::Gamma { shape, scale } => {
                ("gamma", vec![("shape", number(shape)), ("scale", t(scale))])
            }
            Model::Weibull { shape, scale } => (
                "weibull",
                vec![("shape", number(shape)), ("scale", t(scale))],
            ),
            Model::Pareto { scale, shape } => (
                "pareto",
                vec![("scale", t(scale)), ("shape", number(shape))],
            ),
        };
        let fields: Vec<String> = params.iter().map(|(k, v)| format!("{k} = {v}")).collect();
        Candidate {
            dist,
            toml: format!("latency = {{ dist = \"{dist}\", {} }}", fields.join(", ")),
            params,
            ks_distance,
        }
    }
}

/// Four significant digits, without trailing zeros: 0.5012, 12.5, 1234.
fn significant(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return "0".into();
    }
    let digits_before = x.abs().log10().floor() as i32 + 1;
    let decimals = (4 - digits_before).max(0) as usize;
    let s = format!("{x:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

fn number(x: f64) -> String {
    significant(x)
}

/// A quoted duration in the unit that reads best: `"412.3ms"`, `"1.5s"`, `"12us"`.
fn duration_literal(seconds: f64) -> String {
    let (value, unit) = if seconds >= 1.0 {
        (seconds, "s")
    } else if seconds >= 1e-3 {
        (seconds * 1e3, "ms")
    } else if seconds >= 1e-6 {
        (seconds * 1e6, "us")
    } else {
        return format!("\"{}ns\"", (seconds * 1e9).round() as u64);
    };
    format!("\"{}{unit}\"", significant(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_are_short_and_exact_enough() {
        assert_eq!(duration_literal(0.41234), "\"412.3ms\"");
        assert_eq!(duration_literal(15.0), "\"15s\"");
        assert_eq!(duration_literal(0.000_012), "\"12us\"");
        assert_eq!(number(0.500_04), "0.5");
        assert_eq!(number(1234.6), "1235");
    }

    #[test]
    fn ks_of_a_constant_is_the_mass_on_either_side() {
        let xs = [1.0, 2.0, 2.0, 3.0];
        assert_eq!(ks_distance(&xs, &Model::Constant { value: 2.0 }), 0.25);
        assert_eq!(ks_distance(&xs, &Model::Constant { value: 5.0 }), 1.0);
    }

    #[test]
    fn refuses_too_few_and_skips_what_cannot_fit_zeros() {
        assert!(fit(&[Duration::ZERO]).unwrap_err().contains("at least 2"));
        let r = fit(&[Duration::ZERO, Duration::from_millis(5)]).unwrap();
        let skipped: Vec<&str> = r.skipped.iter().map(|s| s.dist).collect();
        assert_eq!(skipped, vec!["lognormal", "gamma", "weibull", "pareto"]);
    }
}
