//! Latency against energy: one point per configuration (median latency, mean energy per
//! inference), log–log, coloured by class and named.

use super::Figure;
use super::scatter::{self, Axes, Point};
use super::style::{provenance_suffix, tick};
use crate::model::SummaryRow;
use plotters::coord::Shift;
use plotters::prelude::*;

/// The latency plot's data.
pub struct LatencyEnergy {
    points: Vec<Point>,
}

impl LatencyEnergy {
    /// One point per configuration with a latency.
    pub fn new(rows: &[SummaryRow]) -> Self {
        let points = rows
            .iter()
            .filter_map(|r| {
                let (latency, energy) = (r.latency_ms_p50?, r.energy_j_mean?);
                (latency.is_finite() && latency > 0.0 && energy > 0.0).then(|| {
                    (
                        format!("{}{}", r.model, provenance_suffix(r.provenance)),
                        r.class,
                        r.provenance,
                        latency,
                        energy,
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

impl Figure for LatencyEnergy {
    fn size(&self) -> (u32, u32) {
        (1000, 720)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let axes = Axes {
            caption: "Latency and energy per configuration",
            x_desc: "median latency (ms, log scale)",
            y_desc: "energy per inference (J, log scale)",
            x_tick: tick,
        };
        scatter::draw(root, &self.points, &axes, true)
    }
}
