//! What the techniques save, per task and dataset: each variant's energy per inference as
//! a ratio to its baseline's, a point with its Fieller 95% CI whisker, against a line at 1.

use super::style::{palette, text};
use super::{Figure, fail};
use crate::savings::SavingsRow;
use plotters::coord::Shift;
use plotters::prelude::*;
use records::labels::FigureLabel;

/// Label text size (px).
const LABEL_PX: u32 = 12;

/// One variant's bar: its label, ratio and interval (`None`: unbounded).
struct Bar {
    label: String,
    ratio: f64,
    ci: Option<(f64, f64)>,
}

/// The savings plot of one task and dataset.
pub struct SavingsPlot {
    task: String,
    dataset: String,
    bars: Vec<Bar>,
    estimated: bool,
    caption: String,
}

impl SavingsPlot {
    /// One plot per task and dataset with a variant whose energy ratio is known.
    pub fn per_dataset(rows: &[SavingsRow]) -> Vec<Self> {
        let mut out: Vec<Self> = Vec::new();
        for r in rows {
            let Some(ratio) = r.energy_ratio else {
                continue;
            };
            let i = match out
                .iter()
                .position(|p| p.task == r.task && p.dataset == r.dataset)
            {
                Some(i) => i,
                None => {
                    out.push(Self {
                        task: r.task.clone(),
                        dataset: r.dataset.clone(),
                        bars: Vec::new(),
                        estimated: false,
                        caption: String::new(),
                    });
                    out.len() - 1
                }
            };
            let plot = &mut out[i];
            plot.estimated |= r.provenance != FigureLabel::Measured;
            let load = if r.load.is_empty() {
                String::new()
            } else {
                format!(" ~{}", r.load)
            };
            plot.bars.push(Bar {
                label: format!("{}{load} ({}) vs {}", r.model, r.techniques, r.baseline),
                ratio,
                ci: r.energy_ci(),
            });
        }
        for p in &mut out {
            p.caption = format!(
                "Energy per inference, variant ÷ baseline: {} / {}{}",
                p.task,
                p.dataset,
                if p.estimated { " [estimated]" } else { "" }
            );
        }
        out
    }

    /// The task.
    pub fn task(&self) -> &str {
        &self.task
    }

    /// The dataset.
    pub fn dataset(&self) -> &str {
        &self.dataset
    }
}

impl Figure for SavingsPlot {
    fn size(&self) -> (u32, u32) {
        (1000, 160 + 60 * self.bars.len().max(1) as u32)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let n = self.bars.len();
        let right = self
            .bars
            .iter()
            .flat_map(|b| [b.ratio, b.ci.map_or(b.ratio, |c| c.1)])
            .fold(1.0f64, f64::max)
            * 1.15;
        let x_desc = format!(
            "{}energy per inference, variant ÷ baseline (95% CI, Fieller); below 1 saves",
            if self.estimated { "estimated " } else { "" }
        );
        let labels: Vec<String> = self.bars.iter().map(|b| b.label.clone()).collect();
        let mut widest = 0;
        for label in &labels {
            let (w, _) = root
                .estimate_text_size(label, &text(LABEL_PX))
                .map_err(fail)?;
            widest = widest.max(w);
        }
        // The labels' width plus the tick marks, leaving the plot at least 40% of the figure.
        let label_px = (widest + 16).clamp(120, root.dim_in_pixel().0 * 3 / 5);
        let mut chart = ChartBuilder::on(root)
            .margin(20)
            .caption(&self.caption, text(20))
            .x_label_area_size(50)
            .y_label_area_size(label_px)
            .build_cartesian_2d(0.0..right, -0.5..(n as f64 - 0.5))
            .map_err(fail)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .light_line_style(BLACK.mix(0.05))
            .x_desc(x_desc)
            .y_labels(n.max(1))
            .y_label_formatter(&|v| {
                let i = v.round();
                if (v - i).abs() < 1e-6 && i >= 0.0 {
                    labels.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .label_style(text(LABEL_PX))
            .axis_desc_style(text(15))
            .draw()
            .map_err(fail)?;
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(1.0, -0.5), (1.0, n as f64 - 0.5)],
                BLACK.stroke_width(1),
            )))
            .map_err(fail)?;
        for (i, b) in self.bars.iter().enumerate() {
            let y = i as f64;
            let colour = palette(i);
            let (low, high) = b.ci.unwrap_or((0.0, right));
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(0.0, y - 0.25), (b.ratio, y + 0.25)],
                    colour.mix(0.35).filled(),
                )))
                .map_err(fail)?;
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(low, y), (high, y)],
                    colour.stroke_width(2),
                )))
                .map_err(fail)?;
            if b.ci.is_some() {
                for end in [low, high] {
                    chart
                        .draw_series(std::iter::once(PathElement::new(
                            vec![(end, y - 0.12), (end, y + 0.12)],
                            colour.stroke_width(2),
                        )))
                        .map_err(fail)?;
                }
            }
            let note = match b.ci {
                Some((lo, hi)) => format!("{:.3} [{:.3} – {:.3}]", b.ratio, lo, hi),
                None => format!("{:.3} (CI unbounded)", b.ratio),
            };
            chart
                .draw_series(std::iter::once(
                    EmptyElement::at((b.ratio, y))
                        + Circle::new((0, 0), 5, colour.filled())
                        + Text::new(note, (8, -22), text(12)),
                ))
                .map_err(fail)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether any pixel of the columns `0..width` of an RGB buffer is not white.
    fn inked(buffer: &[u8], figure_width: u32, width: u32) -> bool {
        buffer
            .chunks(3 * figure_width as usize)
            .any(|row| row[..3 * width as usize].iter().any(|&c| c < 250))
    }

    #[test]
    fn a_long_variant_label_is_drawn_whole_inside_the_figure() {
        crate::plot::register_font().expect("font");
        let plot = SavingsPlot {
            task: "summarization".into(),
            dataset: "summarization-sample".into(),
            bars: vec![
                Bar {
                    label: "smollm2-pruned-50-q4_0 (layer-pruning+quantization) vs smollm2".into(),
                    ratio: 0.53,
                    ci: Some((0.45, 0.62)),
                },
                Bar {
                    label: "a (moe) vs b".into(),
                    ratio: 0.4,
                    ci: None,
                },
            ],
            estimated: true,
            caption: "c".into(),
        };
        let (w, h) = plot.size();
        let mut buffer = vec![0u8; (3 * w * h) as usize];
        {
            let root = BitMapBackend::with_buffer(&mut buffer, (w, h)).into_drawing_area();
            root.fill(&WHITE).expect("fill");
            plot.draw(&root).expect("draw");
            root.present().expect("present");
        }
        // The chart's margin is 20 px: a label that fits leaves it blank; one cut by the
        // figure's edge inks it.
        assert!(
            !inked(&buffer, w, 16),
            "a label runs past the figure's left edge"
        );
        assert!(inked(&buffer, w, w), "nothing was drawn");
    }
}
