//! Model size against energy, log–log: one point per model (mean over its tasks).

use super::Figure;
use super::scatter::{self, Axes, Point};
use super::style::{count_tick, provenance_suffix};
use crate::aggregate::ModelRow;
use plotters::coord::Shift;
use plotters::prelude::*;

/// The size plot's data.
pub struct SizeEnergy {
    points: Vec<Point>,
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
        Self { points }
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
            x_desc: "parameters (log scale)",
            y_desc: "kWh per 1,000 inferences (log scale)",
            x_tick: count_tick,
        };
        scatter::draw(root, &self.points, &axes, self.points.len() <= 30)
    }
}
