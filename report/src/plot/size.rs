//! Model size against energy, log–log: one point per model (mean over its tasks).

use super::Figure;
use super::scatter::{self, Axes, Companion, Point};
use super::style::{count_tick, provenance_suffix};
use crate::aggregate::ModelRow;
use plotters::coord::Shift;
use plotters::prelude::*;

/// The size plot's data.
pub struct SizeEnergy {
    points: Vec<Point>,
    /// Models whose active parameters differ from the total: a hollow marker there.
    active: Vec<Companion>,
}

impl SizeEnergy {
    /// One point per model with a known parameter count.
    pub fn new(models: &[ModelRow]) -> Self {
        let points = models
            .iter()
            .filter_map(|m| {
                let p = m.parameters? as f64;
                (p > 0.0 && m.kwh_per_1000_mean > 0.0).then(|| {
                    (
                        format!("{}{}", m.model, provenance_suffix(m.provenance)),
                        m.class,
                        m.provenance,
                        p,
                        m.kwh_per_1000_mean,
                    )
                })
            })
            .collect();
        let active = models
            .iter()
            .filter_map(|m| {
                let (p, a) = (m.parameters? as f64, m.active_parameters? as f64);
                (p > 0.0 && a > 0.0 && m.kwh_per_1000_mean > 0.0).then_some((
                    a,
                    p,
                    m.kwh_per_1000_mean,
                    m.class,
                ))
            })
            .collect();
        Self { points, active }
    }

    /// Whether there is anything to draw.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }
}

impl Figure for SizeEnergy {
    fn size(&self) -> (u32, u32) {
        (1000, 720)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let axes = Axes {
            caption: "Model size and energy",
            x_desc: if self.active.is_empty() {
                "parameters (log scale)"
            } else {
                "parameters (log scale; hollow marker joined by a line: active parameters per token)"
            },
            y_desc: "kWh per 1,000 inferences (log scale)",
            x_tick: count_tick,
        };
        scatter::draw_with(
            root,
            &self.points,
            &self.active,
            &axes,
            self.points.len() <= 30,
        )
    }
}
