//! The time–energy frontier of one task on one dataset across load levels: each level of
//! each model (and power limit) at its steady-state requests' latency (ITL p90 for
//! streamed generators, else end-to-end p90) and its steady-state energy per request
//! (per request-equivalent served; log scale), labelled by level;
//! the Pareto-optimal points (no other is both faster and cheaper) ringed and joined.

use super::Figure;
use super::fail;
use super::frontier::pareto;
use super::style::{log_axis, log_range, palette, provenance_suffix, text, tick};
use crate::load::LoadRow;
use plotters::coord::Shift;
use plotters::prelude::*;
use records::labels::FigureLabel;

/// Which latency the x axis shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LatencyAxis {
    /// 90th percentile inter-token latency: every level's answers were streamed.
    ItlP90,
    /// 90th percentile end-to-end latency.
    E2eP90,
}

impl LatencyAxis {
    /// The axis' label.
    pub fn label(self) -> &'static str {
        match self {
            LatencyAxis::ItlP90 => {
                "inter-token latency p90 (ms; streamed answers), steady state, mean over repetitions"
            }
            LatencyAxis::E2eP90 => {
                "end-to-end latency p90 (ms), steady state, mean over repetitions"
            }
        }
    }

    fn of(self, row: &LoadRow) -> Option<f64> {
        match self {
            LatencyAxis::ItlP90 => row.itl_p90_ms.mean,
            LatencyAxis::E2eP90 => row.e2e_p90_ms.mean,
        }
    }
}

/// One level on the plot.
#[derive(Clone, Debug, PartialEq)]
pub struct LevelPoint {
    /// The level (`c8`, `p2.5`), its label on the plot.
    pub level: String,
    /// Latency (ms).
    pub latency_ms: f64,
    /// Energy per request (J).
    pub energy_j: f64,
    /// Whether no other point of the plot is both faster and cheaper.
    pub optimal: bool,
    /// Whether it is an open-loop level (joined to the other open-loop ones only).
    pub open: bool,
}

/// One model at one power limit.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Model, power limit and provenance note.
    pub name: String,
    /// Where its energy came from (hollow when not measured).
    pub provenance: FigureLabel,
    /// Its levels, in sweep order.
    pub points: Vec<LevelPoint>,
}

/// The frontier plot of one task on one dataset.
pub struct LoadFrontier {
    task: String,
    dataset: String,
    axis: LatencyAxis,
    series: Vec<Series>,
}

impl LoadFrontier {
    /// One plot per task and dataset with at least one level that has both figures.
    pub fn per_dataset(rows: &[LoadRow]) -> Vec<Self> {
        let mut keys: Vec<(&str, &str)> = rows
            .iter()
            .map(|r| (r.task.as_str(), r.dataset.as_str()))
            .collect();
        keys.sort_unstable();
        keys.dedup();
        keys.into_iter()
            .filter_map(|(task, dataset)| {
                let group: Vec<&LoadRow> = rows
                    .iter()
                    .filter(|r| r.task == task && r.dataset == dataset)
                    .filter(|r| r.energy_j_per_request.mean.is_some_and(|e| e > 0.0))
                    .collect();
                let axis = if !group.is_empty() && group.iter().all(|r| r.itl_p90_ms.mean.is_some())
                {
                    LatencyAxis::ItlP90
                } else {
                    LatencyAxis::E2eP90
                };
                Self::of(task, dataset, axis, &group)
            })
            .collect()
    }

    fn of(task: &str, dataset: &str, axis: LatencyAxis, group: &[&LoadRow]) -> Option<Self> {
        let placed: Vec<(&LoadRow, f64, f64)> = group
            .iter()
            .filter_map(|r| {
                let x = axis.of(r).filter(|x| x.is_finite() && *x > 0.0)?;
                Some((*r, x, r.energy_j_per_request.mean?))
            })
            .collect();
        if placed.is_empty() {
            return None;
        }
        // Energy lower is better, latency lower is better: pareto over (energy, −latency).
        let optimal = pareto(&placed.iter().map(|(_, x, y)| (*y, -*x)).collect::<Vec<_>>());
        let mut series: Vec<Series> = Vec::new();
        for ((row, x, y), optimal) in placed.iter().zip(optimal) {
            let name = format!(
                "{}{}{}",
                row.model,
                row.point
                    .power_limit_w
                    .map_or_else(String::new, |w| format!(" @ {w} W")),
                provenance_suffix(row.provenance)
            );
            let point = LevelPoint {
                level: row.point.load.to_string(),
                latency_ms: *x,
                energy_j: *y,
                optimal,
                open: row.point.load.is_open(),
            };
            match series.iter_mut().find(|s| s.name == name) {
                Some(s) => s.points.push(point),
                None => series.push(Series {
                    name,
                    provenance: row.provenance,
                    points: vec![point],
                }),
            }
        }
        Some(Self {
            task: task.to_string(),
            dataset: dataset.to_string(),
            axis,
            series,
        })
    }

    /// The task it shows.
    pub fn task(&self) -> &str {
        &self.task
    }

    /// The dataset it shows.
    pub fn dataset(&self) -> &str {
        &self.dataset
    }

    /// The latency on its x axis.
    pub fn axis(&self) -> LatencyAxis {
        self.axis
    }

    /// Its series.
    pub fn series(&self) -> &[Series] {
        &self.series
    }
}

impl Figure for LoadFrontier {
    fn size(&self) -> (u32, u32) {
        (1000, 720)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let (width, height) = root.dim_in_pixel();
        let points = || self.series.iter().flat_map(|s| s.points.iter());
        let yr = log_range(points().map(|p| p.energy_j));
        // Log latency: an encoder's milliseconds and a generator's seconds on one plot.
        let xr = log_range(points().map(|p| p.latency_ms));
        let caption = format!(
            "Time and energy across load levels: {} on {}",
            self.task, self.dataset
        );
        let mut chart = ChartBuilder::on(root)
            .margin(20)
            .caption(caption, text(22))
            .x_label_area_size(56)
            .y_label_area_size(80)
            .build_cartesian_2d(
                log_axis(xr, f64::from(width) - 120.0),
                log_axis(yr, f64::from(height) - 140.0),
            )
            .map_err(fail)?;
        chart
            .configure_mesh()
            .light_line_style(BLACK.mix(0.05))
            .x_desc(format!("{} (log scale)", self.axis.label()))
            .y_desc("energy per request (J, log scale), steady state, gross")
            .x_label_formatter(&|v| tick(*v))
            .y_label_formatter(&|v| tick(*v))
            .label_style(text(13))
            .axis_desc_style(text(16))
            .draw()
            .map_err(fail)?;
        let mut front: Vec<(f64, f64)> = points()
            .filter(|p| p.optimal)
            .map(|p| (p.latency_ms, p.energy_j))
            .collect();
        front.sort_by(|a, b| a.0.total_cmp(&b.0));
        chart
            .draw_series(LineSeries::new(front, BLACK.mix(0.6).stroke_width(2)))
            .map_err(fail)?
            .label("Pareto frontier (ringed)")
            .legend(|(x, y)| PathElement::new(vec![(x - 8, y), (x + 8, y)], BLACK.mix(0.6)));
        for (i, s) in self.series.iter().enumerate() {
            let colour = palette(i);
            // The closed-loop levels joined in order of clients, the open-loop ones (lighter) in order of rate.
            for (open, shade) in [(false, 0.45), (true, 0.2)] {
                let path: Vec<(f64, f64)> = s
                    .points
                    .iter()
                    .filter(|p| p.open == open)
                    .map(|p| (p.latency_ms, p.energy_j))
                    .collect();
                chart
                    .draw_series(LineSeries::new(path, colour.mix(shade).stroke_width(1)))
                    .map_err(fail)?;
            }
            let style = if s.provenance.is_measured() {
                colour.filled()
            } else {
                colour.stroke_width(2)
            };
            chart
                .draw_series(s.points.iter().map(|p| {
                    EmptyElement::at((p.latency_ms, p.energy_j))
                        + Circle::new((0, 0), 5, style)
                        + Text::new(p.level.clone(), (8, -14), text(12))
                }))
                .map_err(fail)?
                .label(s.name.clone())
                .legend(move |(x, y)| Circle::new((x, y), 5, style));
            chart
                .draw_series(
                    s.points
                        .iter()
                        .filter(|p| p.optimal)
                        .map(|p| Circle::new((p.latency_ms, p.energy_j), 9, BLACK.stroke_width(2))),
                )
                .map_err(fail)?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.5))
            .label_font(text(13))
            .draw()
            .map_err(fail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_axis_says_which_latency() {
        assert!(
            LatencyAxis::ItlP90
                .label()
                .contains("inter-token latency p90 (ms; streamed answers), steady state")
        );
        assert!(
            LatencyAxis::E2eP90
                .label()
                .contains("end-to-end latency p90")
        );
    }
}
