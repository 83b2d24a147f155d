//! report.html in a real browser: headless Chromium renders it with no console message and a
//! screenshot that is not blank.
//!
//! Needs Debian's `chromium` at /usr/bin/chromium (`make test` installs it). Without it the test
//! prints a note and passes, unless ASYNCTOOLS_REQUIRE_CHROMIUM=1, when it fails.

#[path = "common/report.rs"]
mod fixture;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CHROMIUM: &str = "/usr/bin/chromium";
/// A stuck browser is killed after this; the test then fails (a bound, not a timing check).
const BROWSER_LIMIT: Duration = Duration::from_secs(180);

fn chromium_or_skip() -> bool {
    if Path::new(CHROMIUM).exists() {
        return true;
    }
    if std::env::var("ASYNCTOOLS_REQUIRE_CHROMIUM").as_deref() == Ok("1") {
        panic!("{CHROMIUM} is missing and ASYNCTOOLS_REQUIRE_CHROMIUM=1: apt-get install chromium");
    }
    eprintln!("skipped: {CHROMIUM} not found (apt-get install chromium, or make test)");
    false
}

/// Renders `page` to `png`; returns Chromium's log (stderr).
fn screenshot(page: &Path, png: &Path, dir: &Path) -> String {
    let profile = dir.join(format!(
        "profile-{}",
        png.file_stem().unwrap().to_string_lossy()
    ));
    // The machine has no network: these flags keep Chromium from trying to reach one.
    let mut child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1200,2400",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", page.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chromium starts");
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let log = reader.join().unwrap();
            assert!(status.success(), "chromium failed: {status}\n{log}");
            return log;
        }
        if started.elapsed() > BROWSER_LIMIT {
            let _ = child.kill();
            panic!("chromium did not finish within {BROWSER_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Console messages the page produced. The report has no script, so any message at all
/// (an error, a failed load, a warning) is a defect.
fn console_messages(log: &str) -> Vec<&str> {
    log.lines().filter(|l| l.contains(":CONSOLE")).collect()
}

/// (distinct colours, share of pixels that are not near-white)
fn pixel_stats(png_path: &Path) -> (usize, f64) {
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(png_path).unwrap(),
    ));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    assert!(channels >= 3, "{:?}", info.color_type);
    let pixels = &buf[..info.buffer_size()];
    let mut colours = std::collections::HashSet::new();
    let mut inked = 0usize;
    let mut total = 0usize;
    for px in pixels.chunks(channels) {
        colours.insert((px[0], px[1], px[2]));
        total += 1;
        if px[..3].iter().any(|&c| c < 235) {
            inked += 1;
        }
    }
    (colours.len(), inked as f64 / total as f64)
}

#[test]
fn report_html_renders_in_headless_chromium_without_console_messages() {
    if !chromium_or_skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();

    // The check can fail: a page with a script error and a console.error is caught.
    let bad = dir.path().join("bad.html");
    std::fs::write(
        &bad,
        "<!DOCTYPE html><html><body><p>x</p><script>console.error('asynctools-control'); \
         notDefined();</script></body></html>",
    )
    .unwrap();
    let log = screenshot(&bad, &dir.path().join("bad.png"), dir.path());
    let messages = console_messages(&log);
    assert!(
        messages.iter().any(|m| m.contains("asynctools-control")),
        "the console scan misses console.error:\n{log}"
    );

    let page = dir.path().join("report.html");
    std::fs::write(&page, fixture::html(&fixture::scenario(true), 2)).unwrap();
    let png = dir.path().join("report.png");
    let log = screenshot(&page, &png, dir.path());
    let messages = console_messages(&log);
    assert!(
        messages.is_empty(),
        "console messages:\n{}",
        messages.join("\n")
    );
    let (colours, inked) = pixel_stats(&png);
    // Text, charts and several policy colours: far from a blank or one-colour page.
    assert!(colours > 200, "only {colours} distinct colours");
    assert!(
        inked > 0.05,
        "only {:.1}% of the pixels are not white",
        inked * 100.0
    );
    if let Ok(keep) = std::env::var("ASYNCTOOLS_KEEP_SCREENSHOT") {
        std::fs::copy(&png, keep).unwrap();
    }
}
