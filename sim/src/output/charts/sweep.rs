//! Charts for sweeps and costs: speedup lines with confidence bands, heatmaps over two
//! parameters, and cost against latency.

use super::{
    GRID, IDLE, INK, Result, anchored, axis_number, fail, named_policy_color, policy_color, svg,
    text,
};
use crate::model::policy::Policy;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

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
        let color = policy_color(&Policy::ASYNC);
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
        (policy_color(&Policy::ASYNC), t)
    } else {
        (policy_color(&Policy::SYNC), -t)
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
            let color = named_policy_color(&p.policy);
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
