//! Charts as standalone SVG strings (plotters' SVG backend): CDFs, session timelines, speedup
//! intervals, idle-time bars, sweep lines and heatmaps.
//!
//! Text is written as SVG `<text>` and laid out by whatever displays the SVG, so no font file
//! or system library is needed; plotters only estimates text widths for spacing. Every chart
//! carries its own legend and axis titles, so it still reads when copied out of a report.

use crate::samples::{CallLabel, SampleSession};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

pub const FONT: &str = "sans-serif";
/// A timeline with more calls than this shows the first ones and says so.
pub const MAX_TIMELINE_CALLS: usize = 40;

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

/// Colour-blind-safe colours (Okabe–Ito) for the policies everyone compares.
pub fn policy_color(name: &str) -> RGBColor {
    match name {
        "sequential" => RGBColor(120, 120, 120),
        "sync" => RGBColor(230, 159, 0),
        "async" => RGBColor(0, 114, 178),
        n if n.starts_with("async") => RGBColor(0, 158, 115),
        _ => RGBColor(204, 121, 167),
    }
}

const TURN: RGBColor = RGBColor(106, 76, 147);
const TOOL: RGBColor = RGBColor(86, 180, 233);
const OVERHEAD: RGBColor = RGBColor(190, 190, 190);
const WAITING: RGBColor = RGBColor(240, 228, 66);
const OUTPUT: RGBColor = RGBColor(0, 158, 115);
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
            let color = policy_color(&s.name);
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
                policy_color(candidate)
            } else if r.high < 1.0 {
                policy_color(baseline)
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

/// One sample session under each policy: model turns, tool calls, deliveries, outputs and the
/// model's idle gaps, on a shared time axis (seconds since the request).
pub fn timeline(sample: &SampleSession, policy_names: &[String]) -> Result<String> {
    const C: &str = "timeline";
    let shown = sample.calls.len().min(MAX_TIMELINE_CALLS);
    let lanes_per_policy = 1 + shown;
    let lanes = lanes_per_policy * sample.traces.len();
    let gap = 0.6; // blank space between policies, in lanes
    let span = lanes as f64 + gap * (sample.traces.len().saturating_sub(1)) as f64;
    let x_max = sample
        .traces
        .iter()
        .map(|t| t.outcome.makespan)
        .max()
        .unwrap_or(0) as f64
        / 1e9;
    let x_max = if x_max > 0.0 { x_max * 1.02 } else { 1.0 };
    let height = 120 + (span * 22.0) as u32;
    svg((1040, height), C, |root| {
        let legend: Vec<(String, ShapeStyle)> = vec![
            ("model turn".into(), TURN.filled()),
            ("model idle".into(), IDLE.mix(0.18).filled()),
            ("tool running".into(), TOOL.filled()),
            ("dispatch / delivery overhead".into(), OVERHEAD.filled()),
            ("result waits to be read".into(), WAITING.filled()),
        ];
        legend_row(root, (12, 10), &legend, C)?;
        let markers_y = 32;
        root.draw(&TriangleMarker::new(
            (20, markers_y + 6),
            6,
            OUTPUT.filled(),
        ))
        .map_err(fail(C))?;
        root.draw(&Text::new(
            "output shown to the user (turn ends)",
            (32, markers_y + 6),
            anchored(13, HPos::Left, VPos::Center),
        ))
        .map_err(fail(C))?;
        root.draw(&Circle::new((300, markers_y + 6), 4, INK.filled()))
            .map_err(fail(C))?;
        root.draw(&Text::new(
            "result delivered to the agent",
            (310, markers_y + 6),
            anchored(13, HPos::Left, VPos::Center),
        ))
        .map_err(fail(C))?;
        let area = root.margin(54, 0, 0, 0);
        let mut chart = ChartBuilder::on(&area)
            .margin(10)
            .margin_right(24)
            .x_label_area_size(40)
            .y_label_area_size(190)
            .build_cartesian_2d(0f64..x_max, 0f64..span)
            .map_err(fail(C))?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(0)
            .light_line_style(TRANSPARENT)
            .bold_line_style(GRID)
            .x_desc("seconds since the user's request")
            .x_label_formatter(&|v| axis_number(*v))
            .axis_desc_style(text(13))
            .label_style(text(12))
            .draw()
            .map_err(fail(C))?;
        // Lane k's vertical centre; lane 0 is at the top.
        let lane_y = |policy: usize, lane: usize| {
            let k = (policy * lanes_per_policy + lane) as f64 + policy as f64 * gap;
            span - k - 0.5
        };
        for (p, trace) in sample.traces.iter().enumerate() {
            let name = policy_names.get(p).cloned().unwrap_or_default();
            let color = policy_color(&name);
            let s = |ns: u64| ns as f64 / 1e9;
            let model_y = lane_y(p, 0);
            let top = model_y + 0.5;
            let bottom = lane_y(p, shown) - 0.5;
            // The policy's band: a coloured edge, then its lane labels.
            chart
                .draw_series([Rectangle::new(
                    [(0.0, bottom), (x_max * 0.004, top)],
                    color.filled(),
                )])
                .map_err(fail(C))?;
            let mut labels = vec![(model_y, format!("{name}: model"), true)];
            for (c, label) in sample.calls.iter().take(shown).enumerate() {
                labels.push((lane_y(p, 1 + c), call_label(label), false));
            }
            for (y, label, bold) in labels {
                let at = chart.backend_coord(&(0.0, y));
                let style = if bold {
                    anchored(13, HPos::Right, VPos::Center).color(&color)
                } else {
                    anchored(12, HPos::Right, VPos::Center)
                };
                root.draw(&Text::new(label, (at.0 - 8, at.1), style))
                    .map_err(fail(C))?;
            }
            // Idle gaps: shaded across the policy's lanes, so waiting is visible everywhere.
            let mut idle = Vec::new();
            let mut last_end = 0;
            for turn in &trace.turns {
                if turn.start > last_end {
                    idle.push((last_end, turn.start));
                }
                last_end = turn.end;
            }
            chart
                .draw_series(idle.iter().map(|&(a, b)| {
                    Rectangle::new([(s(a), bottom), (s(b), top)], IDLE.mix(0.10).filled())
                }))
                .map_err(fail(C))?;
            chart
                .draw_series(idle.iter().map(|&(a, b)| {
                    Rectangle::new(
                        [(s(a), model_y - 0.36), (s(b), model_y + 0.36)],
                        IDLE.mix(0.25).filled(),
                    )
                }))
                .map_err(fail(C))?;
            chart
                .draw_series(trace.turns.iter().map(|t| {
                    Rectangle::new(
                        [(s(t.start), model_y - 0.36), (s(t.end), model_y + 0.36)],
                        TURN.filled(),
                    )
                }))
                .map_err(fail(C))?;
            chart
                .draw_series(
                    trace.turns.iter().map(|t| {
                        TriangleMarker::new((s(t.end), model_y + 0.62), 6, OUTPUT.filled())
                    }),
                )
                .map_err(fail(C))?;
            for (c, call) in trace.calls.iter().take(shown).enumerate() {
                let y = lane_y(p, 1 + c);
                let bar = |a: u64, b: u64, style: ShapeStyle| {
                    Rectangle::new([(s(a), y - 0.3), (s(b), y + 0.3)], style)
                };
                let read_start = trace
                    .turns
                    .get(call.read_turn as usize)
                    .map_or(call.available, |t| t.start);
                let mut parts = vec![
                    bar(call.issued, call.started, OVERHEAD.filled()),
                    bar(call.started, call.finished, TOOL.filled()),
                    bar(call.finished, call.available, OVERHEAD.filled()),
                ];
                if read_start > call.available {
                    parts.push(bar(call.available, read_start, WAITING.filled()));
                }
                chart.draw_series(parts).map_err(fail(C))?;
                chart
                    .draw_series([Circle::new((s(call.available), y), 4, INK.filled())])
                    .map_err(fail(C))?;
            }
        }
        if sample.calls.len() > shown {
            root.draw(&Text::new(
                format!(
                    "(the first {shown} of {} calls are shown)",
                    sample.calls.len()
                ),
                (12, height as i32 - 6),
                anchored(12, HPos::Left, VPos::Bottom),
            ))
            .map_err(fail(C))?;
        }
        Ok(())
    })
}

fn call_label(c: &CallLabel) -> String {
    if c.id.contains(&c.tool) {
        c.id.clone()
    } else {
        format!("{} ({})", c.id, c.tool)
    }
}

/// One metric's speedup along a sweep: mean and 95% interval at each parameter value.
pub struct BandSeries {
    pub name: String,
    /// (x, mean, low, high)
    pub points: Vec<(f64, f64, f64, f64)>,
}

/// A line with its confidence band, a dashed line at 1× and the crossovers marked.
pub fn sweep_line(
    x_label: &str,
    y_label: &str,
    series: &BandSeries,
    crossovers: &[f64],
) -> Result<String> {
    const C: &str = "sweep line";
    let finite = series.points.iter().filter(|p| p.1.is_finite());
    let (mut y_lo, mut y_hi) = (1.0f64, 1.0f64);
    for p in finite {
        y_lo = y_lo.min(p.2);
        y_hi = y_hi.max(p.3);
    }
    let pad = (y_hi - y_lo).max(0.1) * 0.08;
    let (y_lo, y_hi) = ((y_lo - pad).max(0.0), y_hi + pad);
    let x_lo = series.points.first().map_or(0.0, |p| p.0);
    let x_hi = series.points.last().map_or(1.0, |p| p.0);
    let x_hi = if x_hi > x_lo { x_hi } else { x_lo + 1.0 };
    svg((540, 320), C, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .margin_right(20)
            .caption(&series.name, text(15))
            .x_label_area_size(44)
            .y_label_area_size(56)
            .build_cartesian_2d(x_lo..x_hi, y_lo..y_hi)
            .map_err(fail(C))?;
        chart
            .configure_mesh()
            .light_line_style(TRANSPARENT)
            .bold_line_style(GRID)
            .x_desc(x_label)
            .y_desc(y_label)
            .x_label_formatter(&|v| axis_number(*v))
            .y_label_formatter(&|v| format!("{}×", axis_number(*v)))
            .axis_desc_style(text(13))
            .label_style(text(12))
            .draw()
            .map_err(fail(C))?;
        let color = policy_color("async");
        let pts: Vec<&(f64, f64, f64, f64)> =
            series.points.iter().filter(|p| p.1.is_finite()).collect();
        let mut band: Vec<(f64, f64)> = pts.iter().map(|p| (p.0, p.3)).collect();
        band.extend(pts.iter().rev().map(|p| (p.0, p.2)));
        chart
            .draw_series([Polygon::new(band, color.mix(0.2).filled())])
            .map_err(fail(C))?;
        chart
            .draw_series(LineSeries::new(
                pts.iter().map(|p| (p.0, p.1)),
                color.stroke_width(3),
            ))
            .map_err(fail(C))?;
        chart
            .draw_series(
                pts.iter()
                    .map(|p| Circle::new((p.0, p.1), 3, color.filled())),
            )
            .map_err(fail(C))?;
        chart
            .draw_series(DashedLineSeries::new(
                vec![(x_lo, 1.0), (x_hi, 1.0)],
                6,
                4,
                INK.stroke_width(1),
            ))
            .map_err(fail(C))?;
        for &x in crossovers {
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(x, y_lo), (x, y_hi)],
                    4,
                    3,
                    IDLE.stroke_width(2),
                ))
                .map_err(fail(C))?;
            let at = chart.backend_coord(&(x, y_hi));
            // Label on the side with room.
            let (dx, h) = if x > (x_lo + x_hi) / 2.0 {
                (-4, HPos::Right)
            } else {
                (4, HPos::Left)
            };
            root.draw(&Text::new(
                format!("crossover {}", axis_number(x)),
                (at.0 + dx, at.1 + 4),
                anchored(12, h, VPos::Top).color(&IDLE),
            ))
            .map_err(fail(C))?;
        }
        Ok(())
    })
}

/// Speedups over two parameters: one cell per pair, blue where the candidate is lower,
/// orange where the baseline is, white at 1× (the scale spans the chart's largest deviation);
/// each cell shows its value. `frontier` marks crossovers: (x, index of the y row).
pub fn heatmap(
    title: &str,
    x_label: &str,
    y_label: &str,
    xs: &[f64],
    ys: &[f64],
    // values[j][i]: at (xs[i], ys[j])
    values: &[Vec<f64>],
    frontier: &[(f64, usize)],
) -> Result<String> {
    const C: &str = "heatmap";
    let (nx, ny) = (xs.len().max(1), ys.len().max(1));
    let cell_w = (900 / nx as u32).clamp(14, 90);
    let cell_h = (440 / ny as u32).clamp(12, 40);
    let span = values
        .iter()
        .flatten()
        .filter(|v| v.is_finite() && **v > 0.0)
        .map(|v| v.log2().abs())
        .fold(0.05, f64::max);
    let width = 150 + cell_w * nx as u32;
    let height = 130 + cell_h * ny as u32;
    svg((width.max(420), height), C, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .caption(title, text(15))
            .x_label_area_size(56)
            .y_label_area_size(80)
            .build_cartesian_2d(0f64..nx as f64, 0f64..ny as f64)
            .map_err(fail(C))?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(0)
            .y_labels(0)
            .x_desc(x_label)
            .y_desc(y_label)
            .axis_desc_style(text(13))
            .draw()
            .map_err(fail(C))?;
        let every_x = nx.div_ceil(12);
        for (i, x) in xs.iter().enumerate() {
            if i % every_x == 0 || i == nx - 1 {
                let at = chart.backend_coord(&(i as f64 + 0.5, 0.0));
                root.draw(&Text::new(
                    axis_number(*x),
                    (at.0, at.1 + 6),
                    anchored(12, HPos::Center, VPos::Top),
                ))
                .map_err(fail(C))?;
            }
        }
        let every_y = ny.div_ceil(16);
        for (j, y) in ys.iter().enumerate() {
            if j % every_y == 0 || j == ny - 1 {
                let at = chart.backend_coord(&(0.0, j as f64 + 0.5));
                root.draw(&Text::new(
                    axis_number(*y),
                    (at.0 - 6, at.1),
                    anchored(12, HPos::Right, VPos::Center),
                ))
                .map_err(fail(C))?;
            }
        }
        let show_numbers = cell_w >= 36 && cell_h >= 16;
        for (j, row) in values.iter().enumerate() {
            for (i, &v) in row.iter().enumerate() {
                let (x, y) = (i as f64, j as f64);
                chart
                    .draw_series([Rectangle::new(
                        [(x, y), (x + 1.0, y + 1.0)],
                        diverging(v, span).filled(),
                    )])
                    .map_err(fail(C))?;
                if show_numbers && v.is_finite() {
                    let mid = chart.backend_coord(&(x + 0.5, y + 0.5));
                    root.draw(&Text::new(
                        format!("{v:.2}"),
                        mid,
                        anchored(11, HPos::Center, VPos::Center),
                    ))
                    .map_err(fail(C))?;
                }
            }
        }
        // Crossovers: x is interpolated between the columns of the two steps around it.
        let column = |x: f64| {
            let i = xs.partition_point(|&v| v <= x).clamp(1, nx.max(2) - 1);
            let (a, b) = (xs[i - 1], xs.get(i).copied().unwrap_or(xs[i - 1]));
            let f = if b > a { (x - a) / (b - a) } else { 0.0 };
            i as f64 - 0.5 + f
        };
        let marks: Vec<(f64, f64)> = frontier
            .iter()
            .filter(|(x, _)| x.is_finite() && xs.len() > 1)
            .map(|&(x, j)| (column(x), j as f64 + 0.5))
            .collect();
        chart
            .draw_series(LineSeries::new(marks.clone(), INK.stroke_width(2)))
            .map_err(fail(C))?;
        chart
            .draw_series(marks.iter().map(|&p| Circle::new(p, 4, INK.filled())))
            .map_err(fail(C))?;
        Ok(())
    })
}

/// White at 1×, deepening blue as the ratio grows towards 2^span, orange as it falls towards
/// 2^−span; grey when undefined.
pub fn diverging(ratio: f64, span: f64) -> RGBColor {
    if !ratio.is_finite() || ratio <= 0.0 {
        return RGBColor(200, 200, 200);
    }
    let t = (ratio.log2() / span.max(1e-9)).clamp(-1.0, 1.0);
    let (end, t) = if t >= 0.0 {
        (policy_color("async"), t)
    } else {
        (policy_color("sync"), -t)
    };
    let mix = |a: u8| (255.0 + (a as f64 - 255.0) * t * 0.85).round() as u8;
    RGBColor(mix(end.0), mix(end.1), mix(end.2))
}

/// One policy's mean cost and latency.
pub struct CostPoint {
    pub policy: String,
    pub usd: f64,
    pub seconds: f64,
}

/// Cost against latency, one labelled point per policy; both axes start at 0 so distances
/// read as proportions.
pub fn cost_latency(points: &[CostPoint], x_label: &str, y_label: &str) -> Result<String> {
    const C: &str = "cost";
    let finite = || {
        points
            .iter()
            .filter(|p| p.usd.is_finite() && p.seconds.is_finite())
    };
    let x_max = finite().map(|p| p.usd).fold(0.0, f64::max) * 1.25;
    let y_max = finite().map(|p| p.seconds).fold(0.0, f64::max) * 1.2;
    let x_max = if x_max > 0.0 { x_max } else { 1.0 };
    let y_max = if y_max > 0.0 { y_max } else { 1.0 };
    svg((540, 340), C, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .margin_right(24)
            .x_label_area_size(44)
            .y_label_area_size(56)
            .build_cartesian_2d(0f64..x_max, 0f64..y_max)
            .map_err(fail(C))?;
        chart
            .configure_mesh()
            .light_line_style(TRANSPARENT)
            .bold_line_style(GRID)
            .x_desc(x_label)
            .y_desc(y_label)
            .x_label_formatter(&|v| format!("{v:.4}"))
            .y_label_formatter(&|v| axis_number(*v))
            .axis_desc_style(text(13))
            .label_style(text(12))
            .draw()
            .map_err(fail(C))?;
        for p in finite() {
            let color = policy_color(&p.policy);
            chart
                .draw_series([Circle::new((p.usd, p.seconds), 7, color.filled())])
                .map_err(fail(C))?;
            let at = chart.backend_coord(&(p.usd, p.seconds));
            root.draw(&Text::new(
                p.policy.clone(),
                (at.0 + 10, at.1 - 10),
                anchored(13, HPos::Left, VPos::Center).color(&color),
            ))
            .map_err(fail(C))?;
        }
        Ok(())
    })
}
