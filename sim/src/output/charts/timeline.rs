//! The timeline chart: one sample session under each policy, lane by lane.

use super::{
    GRID, IDLE, INK, Result, anchored, axis_number, fail, legend_row, named_policy_color, svg, text,
};
use crate::run::samples::{CallLabel, SampleSession};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

/// A timeline with more calls than this shows the first ones and says so.
pub const MAX_TIMELINE_CALLS: usize = 40;

const TURN: RGBColor = RGBColor(106, 76, 147);
const TOOL: RGBColor = RGBColor(86, 180, 233);
const OVERHEAD: RGBColor = RGBColor(190, 190, 190);
const WAITING: RGBColor = RGBColor(240, 228, 66);
const OUTPUT: RGBColor = RGBColor(0, 158, 115);

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
            let color = named_policy_color(&name);
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
