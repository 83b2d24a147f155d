//! `asynctools fit` and latency trace files: known laws are recovered, bad files are located.

use rand::SeedableRng;
use rand_distr::{Distribution, LogNormal};
use rand_xoshiro::Xoshiro256PlusPlus;
use sim::Scenario;
use sim::input::fit::fit;
use sim::input::traces::read_latencies;
use std::time::Duration;

fn lognormal_samples(median_s: f64, sigma: f64, n: usize, seed: u64) -> Vec<Duration> {
    let law = LogNormal::new(median_s.ln(), sigma).unwrap();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    (0..n)
        .map(|_| Duration::from_secs_f64(law.sample(&mut rng)))
        .collect()
}

fn param(c: &sim::input::fit::Candidate, name: &str) -> String {
    c.params
        .iter()
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| panic!("{} has no {name}", c.dist))
}

#[test]
fn lognormal_samples_are_fitted_back_and_ranked_first() {
    let (median, sigma) = (0.4, 0.6);
    let report = fit(&lognormal_samples(median, sigma, 20_000, 3)).unwrap();
    let best = &report.ranked[0];
    assert_eq!(best.dist, "lognormal", "ranking: {:#?}", report.ranked);
    let fitted_median = sim::model::duration::parse(param(best, "median").trim_matches('"'))
        .unwrap()
        .as_secs_f64();
    let fitted_sigma: f64 = param(best, "sigma").parse().unwrap();
    assert!(
        (fitted_median / median - 1.0).abs() < 0.05,
        "median {fitted_median} vs {median}"
    );
    assert!(
        (fitted_sigma / sigma - 1.0).abs() < 0.05,
        "sigma {fitted_sigma} vs {sigma}"
    );
    // Every other law is further from the data, and the ranking is sorted.
    assert!(best.ks_distance < 0.02, "{}", best.ks_distance);
    for pair in report.ranked.windows(2) {
        assert!(pair[0].ks_distance <= pair[1].ks_distance);
    }
    assert!(report.ranked[1].ks_distance > best.ks_distance * 2.0);
}

#[test]
fn every_snippet_pastes_into_a_valid_scenario() {
    let report = fit(&lognormal_samples(0.05, 1.2, 2_000, 9)).unwrap();
    assert_eq!(report.ranked.len(), 7, "{:?}", report.skipped);
    for c in &report.ranked {
        let text = format!(
            "[model]\nturn = \"1s\"\n[tools.t]\n{}\n[plan]\nrounds = [[\"t\"]]\n",
            c.toml
        );
        let scenario = Scenario::parse(&text, "fit.toml")
            .unwrap_or_else(|e| panic!("{}: {e}\n{text}", c.dist));
        assert!(
            scenario.tools[0]
                .latency
                .dist
                .describe()
                .starts_with(c.dist)
                || c.dist == "constant"
        );
    }
}

#[test]
fn gamma_and_weibull_shapes_are_recovered() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(5);
    let gamma = rand_distr::Gamma::new(2.5, 0.2).unwrap();
    let xs: Vec<Duration> = (0..20_000)
        .map(|_| Duration::from_secs_f64(gamma.sample(&mut rng)))
        .collect();
    let best = &fit(&xs).unwrap().ranked[0];
    assert_eq!(best.dist, "gamma");
    let shape: f64 = param(best, "shape").parse().unwrap();
    assert!((shape / 2.5 - 1.0).abs() < 0.05, "gamma shape {shape}");

    let weibull = rand_distr::Weibull::new(1.0, 0.7).unwrap(); // scale 1 s, shape 0.7
    let xs: Vec<Duration> = (0..20_000)
        .map(|_| Duration::from_secs_f64(weibull.sample(&mut rng)))
        .collect();
    let best = &fit(&xs).unwrap().ranked[0];
    assert_eq!(best.dist, "weibull");
    let shape: f64 = param(best, "shape").parse().unwrap();
    assert!((shape / 0.7 - 1.0).abs() < 0.05, "weibull shape {shape}");
}

#[test]
fn a_malformed_trace_file_is_refused_with_its_line_number() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("search.txt");
    std::fs::write(
        &path,
        "# search latencies\n120ms\n95ms\n1.2 seconds-ish\n88ms\n",
    )
    .unwrap();
    let err = read_latencies(&path, None, None).unwrap_err();
    assert_eq!(err.line, 4, "{err}");
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("{}:4: ", path.display())) && text.contains("1.2 seconds-ish"),
        "{text}"
    );
}

#[test]
fn a_scenario_reads_empirical_latencies_from_a_file_beside_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("traces")).unwrap();
    std::fs::write(
        dir.path().join("traces/search.csv"),
        "request,latency_ms\na,100\nb,300\n",
    )
    .unwrap();
    let scenario_path = dir.path().join("s.toml");
    let scenario = |latency: &str| {
        format!(
            "[model]\nturn = \"0s\"\n[tools.search]\nlatency = {latency}\n[plan]\nrounds = [[\"search\"]]\n"
        )
    };
    std::fs::write(
        &scenario_path,
        scenario(r#"{ dist = "empirical", file = { path = "traces/search.csv", column = "latency_ms", unit = "ms" } }"#),
    )
    .unwrap();
    let s = Scenario::from_file(&scenario_path).unwrap();
    assert_eq!(s.tools[0].latency.dist.mean_ns(), Some(200e6));

    // A bad file: the error names the scenario's line and key, then the trace file's line.
    std::fs::write(
        dir.path().join("traces/search.csv"),
        "latency_ms\n100\nslow\n",
    )
    .unwrap();
    std::fs::write(
        &scenario_path,
        scenario(r#"{ dist = "empirical", file = { path = "traces/search.csv", unit = "ms" } }"#),
    )
    .unwrap();
    let err = Scenario::from_file(&scenario_path).unwrap_err().to_string();
    assert!(
        err.contains(":4:") && err.contains("tools.search.latency.file"),
        "{err}"
    );
    assert!(err.contains("search.csv:3: "), "{err}");

    // Samples and a file at once are refused.
    std::fs::write(
        &scenario_path,
        scenario(r#"{ dist = "empirical", samples = ["1s"], file = "traces/search.csv" }"#),
    )
    .unwrap();
    let err = Scenario::from_file(&scenario_path).unwrap_err().to_string();
    assert!(err.contains("either `samples` or `file`"), "{err}");
}
