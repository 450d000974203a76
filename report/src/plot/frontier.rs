//! The energy–quality frontier of one task on one dataset: each configuration at its energy
//! per inference (log scale) and its quality, with 95% CIs on both axes, the
//! Pareto-optimal ones (no other uses less energy and scores higher) ringed and joined by
//! the frontier line. One dataset per plot: a score on an easier dataset must not dominate
//! one on a harder.

use super::Figure;
use super::central::legend_at;
use super::fail;
use super::style::{class_colour, log_axis, log_range, name_beside, provenance_suffix, text, tick};
use crate::model::SummaryRow;
use plotters::coord::Shift;
use plotters::prelude::*;
use records::labels::{ClassLabel, FigureLabel};

/// One configuration on the frontier plot.
#[derive(Clone, Debug, PartialEq)]
pub struct FrontierPoint {
    /// Its label (model, with the provenance note when not measured).
    pub name: String,
    /// Its class (the colour).
    pub class: ClassLabel,
    /// Where its energy came from (hollow when not measured).
    pub provenance: FigureLabel,
    /// Energy per inference (J) and its 95% CI.
    pub energy: (f64, Option<f64>, Option<f64>),
    /// Quality (0–1) and its 95% CI.
    pub quality: (f64, Option<f64>, Option<f64>),
    /// Whether no other point uses less energy and scores higher.
    pub optimal: bool,
}

/// The frontier plot of one task on one dataset.
pub struct EnergyQuality {
    task: String,
    dataset: String,
    metric: String,
    points: Vec<FrontierPoint>,
}

/// Which of `(energy, quality)` points are Pareto-optimal: no other point has energy no
/// higher and quality no lower, with one of the two strictly better.
pub fn pareto(points: &[(f64, f64)]) -> Vec<bool> {
    points
        .iter()
        .map(|&(e, q)| {
            !points
                .iter()
                .any(|&(e2, q2)| e2 <= e && q2 >= q && (e2 < e || q2 > q))
        })
        .collect()
}

impl EnergyQuality {
    /// One frontier per task and dataset whose configurations have both an energy and a
    /// quality figure under the same metric (the most common, when they differ).
    pub fn per_dataset(rows: &[SummaryRow]) -> Vec<Self> {
        let mut keys: Vec<(&str, &str)> = rows
            .iter()
            .map(|r| (r.task.as_str(), r.dataset.as_str()))
            .collect();
        keys.sort_unstable();
        keys.dedup();
        keys.into_iter()
            .filter_map(|(task, dataset)| {
                let scored: Vec<&SummaryRow> = rows
                    .iter()
                    .filter(|r| r.task == task && r.dataset == dataset)
                    .filter(|r| r.quality_mean.is_some())
                    .filter(|r| r.energy_j_mean.is_some_and(|e| e > 0.0))
                    .collect();
                let metric = most_common(scored.iter().map(|r| r.quality_metric.as_str()))?;
                let rows: Vec<&SummaryRow> = scored
                    .into_iter()
                    .filter(|r| r.quality_metric == metric)
                    .collect();
                let optimal = pareto(
                    &rows
                        .iter()
                        .map(|r| {
                            (
                                r.energy_j_mean.unwrap_or(f64::NAN),
                                r.quality_mean.unwrap_or(f64::NAN),
                            )
                        })
                        .collect::<Vec<_>>(),
                );
                let points = rows
                    .iter()
                    .zip(optimal)
                    .map(|(r, optimal)| FrontierPoint {
                        name: format!("{}{}", r.model, provenance_suffix(r.provenance)),
                        class: r.class,
                        provenance: r.provenance,
                        energy: (
                            r.energy_j_mean.unwrap_or(f64::NAN),
                            r.energy_j_ci95_low,
                            r.energy_j_ci95_high,
                        ),
                        quality: (
                            r.quality_mean.unwrap_or(f64::NAN),
                            r.quality_ci95_low,
                            r.quality_ci95_high,
                        ),
                        optimal,
                    })
                    .collect();
                Some(Self {
                    task: task.to_string(),
                    dataset: dataset.to_string(),
                    metric: metric.to_string(),
                    points,
                })
            })
            .collect()
    }

    /// The task it shows.
    pub fn task(&self) -> &str {
        &self.task
    }

    /// The dataset it shows.
    pub fn dataset(&self) -> &str {
        &self.dataset
    }

    /// Its points.
    pub fn points(&self) -> &[FrontierPoint] {
        &self.points
    }
}

/// The most frequent of `names` (the first in order on a tie); `None` when empty.
fn most_common<'a>(names: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let names: Vec<&str> = names.collect();
    names.iter().copied().max_by_key(|n| {
        (
            names.iter().filter(|m| *m == n).count(),
            std::cmp::Reverse(names.iter().position(|m| m == n)),
        )
    })
}

impl Figure for EnergyQuality {
    fn size(&self) -> (u32, u32) {
        (1000, 720)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let (width, _) = root.dim_in_pixel();
        let xr = log_range(self.points.iter().flat_map(|p| {
            [Some(p.energy.0), p.energy.1, p.energy.2]
                .into_iter()
                .flatten()
        }));
        let caption = format!("Energy and quality: {} on {}", self.task, self.dataset);
        let y_desc = format!("{} (%, 95% CI over rows)", self.metric);
        let mut chart = ChartBuilder::on(root)
            .margin(20)
            .caption(caption, text(22))
            .x_label_area_size(56)
            .y_label_area_size(80)
            .build_cartesian_2d(
                log_axis(xr.clone(), f64::from(width) - 120.0),
                -4.0f64..104.0f64,
            )
            .map_err(fail)?;
        chart
            .configure_mesh()
            .light_line_style(BLACK.mix(0.05))
            .x_desc("energy per inference (J, log scale, 95% CI over repetitions)")
            .y_desc(y_desc)
            .x_label_formatter(&|v| tick(*v))
            .y_label_formatter(&|v| {
                if (0.0..=100.0).contains(v) {
                    format!("{v:.0}")
                } else {
                    String::new()
                }
            })
            .label_style(text(13))
            .axis_desc_style(text(16))
            .draw()
            .map_err(fail)?;
        // The frontier: the optimal points joined in order of energy.
        let mut front: Vec<(f64, f64)> = self
            .points
            .iter()
            .filter(|p| p.optimal)
            .map(|p| (p.energy.0, p.quality.0 * 100.0))
            .collect();
        front.sort_by(|a, b| a.0.total_cmp(&b.0));
        chart
            .draw_series(LineSeries::new(front, BLACK.mix(0.4).stroke_width(1)))
            .map_err(fail)?
            .label("Pareto frontier (ringed)")
            .legend(|(x, y)| PathElement::new(vec![(x - 8, y), (x + 8, y)], BLACK.mix(0.4)));
        let clamp_x = |v: f64| v.clamp(xr.start, xr.end);
        for p in &self.points {
            let colour = class_colour(p.class);
            let (x, y) = (p.energy.0, p.quality.0 * 100.0);
            let bar = colour.mix(0.7).stroke_width(1);
            if let (Some(lo), Some(hi)) = (p.energy.1, p.energy.2) {
                chart
                    .draw_series(std::iter::once(PathElement::new(
                        vec![(clamp_x(lo), y), (clamp_x(hi), y)],
                        bar,
                    )))
                    .map_err(fail)?;
            }
            if let (Some(lo), Some(hi)) = (p.quality.1, p.quality.2) {
                chart
                    .draw_series(std::iter::once(PathElement::new(
                        vec![
                            (x, (lo * 100.0).clamp(0.0, 100.0)),
                            (x, (hi * 100.0).clamp(0.0, 100.0)),
                        ],
                        bar,
                    )))
                    .map_err(fail)?;
            }
            let style = if p.provenance.is_measured() {
                colour.filled()
            } else {
                colour.stroke_width(2)
            };
            if p.optimal {
                chart
                    .draw_series(std::iter::once(Circle::new(
                        (x, y),
                        9,
                        BLACK.stroke_width(2),
                    )))
                    .map_err(fail)?;
            }
            let (offset, name_style) = name_beside(x, &xr);
            chart
                .draw_series(std::iter::once(
                    EmptyElement::at((x, y))
                        + Circle::new((0, 0), 5, style)
                        + Text::new(p.name.clone(), offset, name_style),
                ))
                .map_err(fail)?;
        }
        // Upper left: cheap and good, the corner every frontier aims at and few points reach.
        legend_at(
            &mut chart,
            self.points.iter().any(|p| !p.provenance.is_measured()),
            SeriesLabelPosition::UpperLeft,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_undominated_points_are_optimal() {
        // (energy, quality): b is cheaper and better than a; c costs more but scores
        // highest; d ties b's energy with lower quality.
        let points = [(2.0, 0.5), (1.0, 0.6), (3.0, 0.9), (1.0, 0.4)];
        assert_eq!(pareto(&points), vec![false, true, true, false]);
        assert_eq!(
            pareto(&[(1.0, 0.5), (1.0, 0.5)]),
            vec![true, true],
            "equal points"
        );
    }

    #[test]
    fn a_frontier_per_task_and_dataset_with_its_most_common_metric() {
        let row = |model: &str, dataset: &str, e: f64, q: Option<f64>, metric: &str| SummaryRow {
            model: model.into(),
            task: "qa".into(),
            dataset: dataset.into(),
            energy_j_mean: Some(e),
            quality_mean: q,
            quality_metric: metric.into(),
            ..SummaryRow::default()
        };
        let rows = [
            row("a", "squad", 1.0, Some(0.5), "f1"),
            row("b", "squad", 2.0, Some(0.7), "f1"),
            row("c", "squad", 3.0, Some(0.6), "f1"),
            row("d", "squad", 0.5, Some(0.9), "exact"),
            // On an easier dataset c scores higher than anything on squad: it must not
            // push a or b off the squad frontier.
            row("c", "sciq", 3.0, Some(0.95), "f1"),
            row("e", "unscored", 1.0, None, ""),
        ];
        let f = EnergyQuality::per_dataset(&rows);
        let datasets: Vec<&str> = f.iter().map(EnergyQuality::dataset).collect();
        assert_eq!(
            datasets,
            vec!["sciq", "squad"],
            "the unscored dataset has no frontier"
        );
        let squad = &f[1];
        assert_eq!(squad.task(), "qa");
        let optimal: Vec<(&str, bool)> = squad
            .points()
            .iter()
            .map(|p| (p.name.as_str(), p.optimal))
            .collect();
        assert_eq!(optimal, vec![("a", true), ("b", true), ("c", false)]);
    }
}
