//! The compiled form of a [`Dist`](super::Dist): a sampler of nanoseconds, and the numeric
//! helpers (the normal CDF, Γ) that sampling and the analytic means share.

use crate::model::time::{Nanos, clamp_ns};
use rand::{Rng, RngExt};
use rand_distr::{
    Distribution, Exp, Gamma, LogNormal, Normal, Pareto, Weibull, weighted::WeightedIndex,
};

/// A truncated normal redraws below zero; with mean ≥ 0 each try succeeds with p ≥ 1/2.
const NORMAL_MAX_TRIES: usize = 64;

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
    /// e^(mu + sigma·z), z standard normal: rand_distr's arithmetic with an inlined `exp`.
    LogNormal {
        mu: f64,
        sigma: f64,
    },
    /// The same law through rand_distr and the platform's `exp`: what the fast path is
    /// checked against (see [`Sampler::reference`]).
    LogNormalReference(LogNormal<f64>),
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
            Sampler::LogNormal { mu, sigma } => {
                clamp_ns(super::exp::table().exp(lognormal_exponent(*mu, *sigma, rng)))
            }
            Sampler::LogNormalReference(d) => clamp_ns(d.sample(rng)),
            Sampler::Gamma(d) => clamp_ns(d.sample(rng)),
            Sampler::Weibull(d) => clamp_ns(d.sample(rng)),
            Sampler::Pareto(d) => clamp_ns(d.sample(rng)),
            Sampler::Empirical(values) => values[rng.random_range(0..values.len())],
            Sampler::Mixture { pick, parts } => parts[pick.sample(rng)].sample(rng),
        }
    }

    /// This sampler with every fast path replaced by its reference (rand_distr and the
    /// platform's `exp`), to check that the fast paths draw the same distributions.
    pub fn reference(&self) -> Sampler {
        match self {
            Sampler::LogNormal { mu, sigma } => Sampler::LogNormalReference(
                LogNormal::new(*mu, *sigma).expect("parameters of a built sampler"),
            ),
            Sampler::Mixture { pick, parts } => Sampler::Mixture {
                pick: pick.clone(),
                parts: parts.iter().map(Sampler::reference).collect(),
            },
            other => other.clone(),
        }
    }

    /// True when every draw is 0: such overheads are skipped without touching the RNG.
    pub fn is_zero(&self) -> bool {
        matches!(self, Sampler::Constant(0))
    }
}

/// Draws once from each sampler, in order, appending to `out`: the same values as
/// [`Sampler::sample`] on each in turn (the RNG is consumed in the same order), but the
/// log-normals' `exp`s run in a second pass, back to back and independent of each other, rather
/// than each waiting at the end of its own draw's dependency chain. `exponents` is scratch space.
pub fn sample_each<'s, R: Rng + Clone>(
    samplers: impl IntoIterator<Item = &'s Sampler>,
    rng: &mut R,
    out: &mut Vec<Nanos>,
    exponents: &mut Vec<f64>,
) {
    let first = out.len();
    exponents.clear();
    // A copy of the generator: through `&mut` its state went to memory and back on every draw.
    let mut local = rng.clone();
    for sampler in samplers {
        match sampler {
            Sampler::LogNormal { mu, sigma } => {
                exponents.push(lognormal_exponent(*mu, *sigma, &mut local));
                out.push(0);
            }
            other => {
                // never an exponent of a valid log-normal: marks "already drawn"
                exponents.push(f64::NAN);
                out.push(other.sample(&mut local));
            }
        }
    }
    *rng = local;
    super::exp_each::exp_each(exponents, &mut out[first..]);
}

/// ln of a log-normal draw, as rand_distr computes it (mean + std_dev · z, z its own standard
/// normal), so the fast path consumes the RNG and rounds exactly as the reference does.
#[inline]
fn lognormal_exponent<R: Rng + ?Sized>(mu: f64, sigma: f64, rng: &mut R) -> f64 {
    mu + sigma * super::normal::standard_normal(rng)
}

pub(super) fn std_normal_pdf(x: f64) -> f64 {
    (-x * x / 2.0).exp() / (2.0 * std::f64::consts::PI).sqrt()
}

/// Φ(x) via erfc (Abramowitz–Stegun 7.1.26 is too coarse for tails; use the complementary
/// continued-fraction-free Chebyshev fit from Numerical Recipes, |error| < 1.2e-7).
pub(super) fn std_normal_cdf(x: f64) -> f64 {
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
