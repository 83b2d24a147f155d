//! Charts as standalone SVG strings (plotters' SVG backend): CDFs, session timelines, speedup
//! intervals, idle-time bars, sweep lines and heatmaps.
//!
//! Text is written as SVG `<text>` and laid out by whatever displays the SVG, so no font file
//! or system library is needed; plotters only estimates text widths for spacing. Every chart
//! carries its own legend and axis titles, so it still reads when copied out of a report.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::model::policy::{Policy, PolicyKind};

mod sweep;
mod timeline;

pub use sweep::{BandSeries, CostPoint, cost_latency, diverging, heatmap, sweep_line};
pub use timeline::{MAX_TIMELINE_CALLS, timeline};

pub const FONT: &str = "sans-serif";

/// Drawing into a string only fails on a plotters bug; the message says where.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("cannot draw the {chart} chart: {message}")]
pub struct ChartError {
    pub chart: &'static str,
    pub message: String,
}

type Result<T> = std::result::Result<T, ChartError>;

fn fail<E: std::fmt::Display>(chart: &'static str) -> impl Fn(E) -> ChartError {
    move |e| ChartError {
        chart,
        message: e.to_string(),
    }
}

/// Colour-blind-safe colours (Okabe–Ito) for the policies everyone compares; every batched or
/// streamed async shares one, and the rarer variants a neutral one.
pub fn policy_color(policy: &Policy) -> RGBColor {
    // Exhaustive, so a new kind must pick its colour.
    match (policy.kind, policy.is_plain()) {
        (PolicyKind::Sequential, true) => RGBColor(120, 120, 120),
        (PolicyKind::Sync, true) => RGBColor(230, 159, 0),
        (PolicyKind::Async, true) => RGBColor(0, 114, 178),
        (PolicyKind::Async, false) => RGBColor(0, 158, 115),
        (PolicyKind::Sequential | PolicyKind::Sync, false) => OTHER_POLICY,
    }
}

/// Charts are drawn from reports, which name their policies; a name no policy writes gets the
/// neutral colour rather than an error.
fn named_policy_color(name: &str) -> RGBColor {
    Policy::from_name(name).map_or(OTHER_POLICY, |p| policy_color(&p))
}

const OTHER_POLICY: RGBColor = RGBColor(204, 121, 167);

const IDLE: RGBColor = RGBColor(213, 94, 0);
const GRID: RGBColor = RGBColor(225, 225, 225);
const INK: RGBColor = RGBColor(40, 40, 40);

fn text(size: u32) -> TextStyle<'static> {
    (FONT, size).into_font().color(&INK)
}

fn anchored(size: u32, h: HPos, v: VPos) -> TextStyle<'static> {
    text(size).pos(Pos::new(h, v))
}

/// Renders `draw` into an SVG string of the given size.
fn svg(
    size: (u32, u32),
    chart: &'static str,
    draw: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> Result<()>,
) -> Result<String> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, size).into_drawing_area();
        root.fill(&WHITE).map_err(fail(chart))?;
        draw(&root)?;
        root.present().map_err(fail(chart))?;
    }
    Ok(out)
}

/// One line of a CDF chart.
pub struct CdfSeries {
    pub name: String,
    /// (value, fraction of values ≤ value), fraction rising.
    pub points: Vec<(f64, f64)>,
}

/// Cumulative distributions of one metric, one line per policy. `x_max` cuts the tail.
pub fn cdf(x_label: &str, series: &[CdfSeries], x_max: f64) -> Result<String> {
    const C: &str = "CDF";
    let x_max = if x_max > 0.0 { x_max } else { 1.0 };
    svg((540, 340), C, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .margin_right(20)
            .x_label_area_size(44)
            .y_label_area_size(56)
            .build_cartesian_2d(0f64..x_max, 0f64..1f64)
            .map_err(fail(C))?;
        chart
            .configure_mesh()
            .light_line_style(TRANSPARENT)
            .bold_line_style(GRID)
            .x_desc(x_label)
            .y_desc("sessions ≤ x")
            .y_label_formatter(&|v| format!("{:.0}%", v * 100.0))
            .x_label_formatter(&|v| axis_number(*v))
            .axis_desc_style(text(13))
            .label_style(text(12))
            .draw()
            .map_err(fail(C))?;
        for s in series {
            let color = named_policy_color(&s.name);
            // Step to the right edge so a policy whose tail is cut still reaches the frame.
            let mut points: Vec<(f64, f64)> =
                s.points.iter().map(|&(x, y)| (x.min(x_max), y)).collect();
            if let Some(&(_, y)) = points.last() {
                points.push((x_max, y));
            }
            chart
                .draw_series(LineSeries::new(points, color.stroke_width(3)))
                .map_err(fail(C))?
                .label(s.name.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 22, y)], color.stroke_width(3))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.9))
            .border_style(GRID)
            .label_font(text(13))
            .draw()
            .map_err(fail(C))?;
        Ok(())
    })
}

/// Axis numbers without trailing zeros: 0, 2.5, 10, 0.25.
pub fn axis_number(v: f64) -> String {
    let s = if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    };
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// One row of an interval chart: a mean and its 95% confidence interval.
pub struct Interval {
    pub label: String,
    pub mean: f64,
    pub low: f64,
    pub high: f64,
}

/// Speedups (baseline/candidate ratios) with their confidence intervals, on a log scale with
/// a line at 1×.
pub fn speedups(rows: &[Interval], baseline: &str, candidate: &str) -> Result<String> {
    const C: &str = "speedup";
    let finite: Vec<&Interval> = rows
        .iter()
        .filter(|r| r.mean.is_finite() && r.mean > 0.0)
        .collect();
    let lo = finite
        .iter()
        .map(|r| r.low.max(r.mean * 0.5).max(1e-3))
        .fold(0.5f64, f64::min)
        / 1.25;
    let hi = finite.iter().map(|r| r.high).fold(2.0f64, f64::max) * 1.25;
    let height = 70 + 34 * rows.len() as u32;
    svg((720, height), C, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .margin_right(80)
            .x_label_area_size(40)
            .y_label_area_size(120)
            .build_cartesian_2d((lo..hi).log_scale(), 0f64..rows.len() as f64)
            .map_err(fail(C))?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(0)
            .light_line_style(TRANSPARENT)
            .bold_line_style(GRID)
            .x_desc(format!(
                "{baseline}/{candidate} per session (log scale; > 1: {candidate} lower)"
            ))
            .x_label_formatter(&|v| format!("{}×", axis_number(*v)))
            .axis_desc_style(text(13))
            .label_style(text(12))
            .draw()
            .map_err(fail(C))?;
        let n = rows.len() as f64;
        chart
            .draw_series(DashedLineSeries::new(
                vec![(1.0, 0.0), (1.0, n)],
                6,
                4,
                INK.stroke_width(1),
            ))
            .map_err(fail(C))?;
        for (i, r) in rows.iter().enumerate() {
            let y = n - i as f64 - 0.5;
            let at = chart.backend_coord(&(lo, y));
            root.draw(&Text::new(
                r.label.clone(),
                (at.0 - 8, at.1),
                anchored(13, HPos::Right, VPos::Center),
            ))
            .map_err(fail(C))?;
            if !(r.mean.is_finite() && r.mean > 0.0) {
                continue;
            }
            let color = if r.low > 1.0 {
                named_policy_color(candidate)
            } else if r.high < 1.0 {
                named_policy_color(baseline)
            } else {
                RGBColor(120, 120, 120)
            };
            let (low, high) = (r.low.max(lo), r.high.min(hi));
            chart
                .draw_series([
                    PathElement::new(vec![(low, y), (high, y)], color.stroke_width(3)),
                    PathElement::new(
                        vec![(low, y - 0.15), (low, y + 0.15)],
                        color.stroke_width(2),
                    ),
                    PathElement::new(
                        vec![(high, y - 0.15), (high, y + 0.15)],
                        color.stroke_width(2),
                    ),
                ])
                .map_err(fail(C))?;
            chart
                .draw_series([Circle::new((r.mean, y), 6, color.filled())])
                .map_err(fail(C))?;
            let right = chart.backend_coord(&(high, y));
            root.draw(&Text::new(
                format!("{:.2}×", r.mean),
                (right.0 + 10, right.1),
                anchored(13, HPos::Left, VPos::Center),
            ))
            .map_err(fail(C))?;
        }
        Ok(())
    })
}

/// One stacked bar.
pub struct Stack {
    pub label: String,
    /// (part name, value); parts with the same name share a colour across bars.
    pub parts: Vec<(String, f64)>,
}

/// Horizontal stacked bars (the idle-time breakdown), in seconds, with a legend on top.
pub fn stacked_bars(x_label: &str, bars: &[Stack], colors: &[RGBColor]) -> Result<String> {
    const C: &str = "stacked bar";
    let total = bars
        .iter()
        .map(|b| b.parts.iter().map(|p| p.1).sum::<f64>())
        .fold(0.0, f64::max);
    let x_max = if total > 0.0 { total * 1.05 } else { 1.0 };
    let height = 110 + 46 * bars.len() as u32;
    svg((720, height), C, |root| {
        let names: Vec<String> = bars
            .first()
            .map(|b| b.parts.iter().map(|p| p.0.clone()).collect())
            .unwrap_or_default();
        let swatches: Vec<(String, ShapeStyle)> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), colors[i % colors.len()].filled()))
            .collect();
        legend_row(root, (120, 10), &swatches, C)?;
        let area = root.margin(34, 0, 0, 0);
        let mut chart = ChartBuilder::on(&area)
            .margin(12)
            .margin_right(24)
            .x_label_area_size(40)
            .y_label_area_size(108)
            .build_cartesian_2d(0f64..x_max, 0f64..bars.len() as f64)
            .map_err(fail(C))?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(0)
            .light_line_style(TRANSPARENT)
            .bold_line_style(GRID)
            .x_desc(x_label)
            .x_label_formatter(&|v| axis_number(*v))
            .axis_desc_style(text(13))
            .label_style(text(12))
            .draw()
            .map_err(fail(C))?;
        let n = bars.len() as f64;
        for (i, bar) in bars.iter().enumerate() {
            let y = n - i as f64 - 0.5;
            let at = chart.backend_coord(&(0.0, y));
            root.draw(&Text::new(
                bar.label.clone(),
                (at.0 - 8, at.1),
                anchored(13, HPos::Right, VPos::Center),
            ))
            .map_err(fail(C))?;
            let mut x = 0.0;
            for (k, (_, v)) in bar.parts.iter().enumerate() {
                let color = colors[k % colors.len()];
                chart
                    .draw_series([Rectangle::new(
                        [(x, y - 0.32), (x + v, y + 0.32)],
                        color.filled(),
                    )])
                    .map_err(fail(C))?;
                // Label a part only where it is wide enough to hold its number.
                if *v / x_max > 0.08 {
                    let mid = chart.backend_coord(&(x + v / 2.0, y));
                    root.draw(&Text::new(
                        format!("{} s", axis_number(*v)),
                        mid,
                        anchored(12, HPos::Center, VPos::Center),
                    ))
                    .map_err(fail(C))?;
                }
                x += v;
            }
        }
        Ok(())
    })
}

/// A row of legend swatches starting at `at` (pixels).
fn legend_row(
    area: &DrawingArea<SVGBackend, Shift>,
    at: (i32, i32),
    items: &[(String, ShapeStyle)],
    chart: &'static str,
) -> Result<()> {
    let mut x = at.0;
    for (name, style) in items {
        area.draw(&Rectangle::new([(x, at.1), (x + 16, at.1 + 12)], *style))
            .map_err(fail(chart))?;
        area.draw(&Text::new(
            name.clone(),
            (x + 22, at.1 + 6),
            anchored(13, HPos::Left, VPos::Center),
        ))
        .map_err(fail(chart))?;
        // plotters' width estimate for the SVG backend is rough; leave room.
        x += 22 + (name.chars().count() as f64 * 6.6) as i32 + 20;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_plain_policy_has_its_own_colour_and_names_agree() {
        let plain = [Policy::SEQUENTIAL, Policy::SYNC, Policy::ASYNC];
        let batched = Policy::ASYNC.with_batch_window(100_000_000);
        let mut colors: Vec<RGBColor> = plain.iter().map(policy_color).collect();
        colors.push(policy_color(&batched));
        colors.push(OTHER_POLICY);
        for (i, c) in colors.iter().enumerate() {
            assert!(!colors[..i].contains(c), "colour {c:?} is used twice");
        }
        // The published charts' colours, so a report's look does not drift.
        assert_eq!(policy_color(&Policy::SYNC), RGBColor(230, 159, 0));
        assert_eq!(policy_color(&Policy::ASYNC), RGBColor(0, 114, 178));
        assert_eq!(
            policy_color(&Policy::ASYNC.with_streaming(true)),
            policy_color(&batched)
        );
        assert_eq!(
            policy_color(&Policy::SYNC.with_streaming(true)),
            OTHER_POLICY
        );
        for p in [plain.to_vec(), vec![batched.with_streaming(true)]].concat() {
            assert_eq!(
                named_policy_color(&p.name()),
                policy_color(&p),
                "{}",
                p.name()
            );
        }
        assert_eq!(named_policy_color("no such policy"), OTHER_POLICY);
    }
}
