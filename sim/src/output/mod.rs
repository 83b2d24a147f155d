//! What people read.
//!
//! - [`charts`]: charts as standalone SVG (CDFs, timelines, intervals, sweeps);
//! - [`files`]: the files `--out DIR` writes;
//! - [`chrome_trace`]: sample sessions as a Chrome trace for Perfetto;
//! - [`html`]: `report.html`: one self-contained page;
//! - [`report`]: the results as JSON (the stable schema), a table, Markdown or CSV;
//! - [`sweep`]: parameter sweeps and the crossover where async stops paying off.

pub mod charts;
pub mod chrome_trace;
pub mod files;
pub mod html;
pub mod report;
pub mod sweep;
