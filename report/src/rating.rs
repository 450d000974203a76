//! Star ratings in the manner of the AI Energy Score: per task and dataset (the AI Energy
//! Score has one dataset per task), the range of energy per inference over the rated
//! configurations is cut into five equal bands (20% of the range each); the lowest band
//! gets five stars, the highest one star.
//!
//! Figures are rated only against figures with the same label: a measured figure against
//! measured ones, an estimated one against estimated ones (a rating is never earned by an
//! estimate beating a measurement). A pool of one configuration, or one whose figures are
//! all equal, has no range to cut: its configurations are not rated, and say why.

use records::labels::FigureLabel;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One configuration to rate.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    /// Task the configuration performs (ratings are per task and dataset).
    pub task: String,
    /// Dataset it was measured on.
    pub dataset: String,
    /// Mean energy per inference (J); `None` when unknown (not rated).
    pub energy_j: Option<f64>,
    /// The label of that figure.
    pub provenance: FigureLabel,
}

/// A configuration's rating, or why it has none.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Rating {
    /// Stars, 1 (highest-energy band) to 5 (lowest); `None` when not rated.
    pub stars: Option<u8>,
    /// The pool it was rated in (`3 measured text-classification configurations on sst2
    /// (0.12–0.8 J)`), or why it was not rated (no commas: a plain CSV cell).
    pub basis: String,
}

/// How the stars are given, for the tables that show them.
pub const METHOD: &str = "AI Energy Score–style: per task and dataset, the range of energy per \
     inference over the rated configurations with the same label (measured with measured, \
     estimated with estimated) is cut into five equal bands; ★★★★★ is the lowest-energy \
     band, ★☆☆☆☆ the highest.";

/// Rates every candidate within its task, dataset and label; one rating per candidate, in
/// order.
pub fn rate(candidates: &[Candidate]) -> Vec<Rating> {
    let mut pools: BTreeMap<(&str, &str, FigureLabel), Vec<f64>> = BTreeMap::new();
    for c in candidates {
        if let Some(e) = c.energy_j.filter(|e| e.is_finite()) {
            pools
                .entry((c.task.as_str(), c.dataset.as_str(), c.provenance))
                .or_default()
                .push(e);
        }
    }
    candidates
        .iter()
        .map(|c| {
            let Some(energy) = c.energy_j.filter(|e| e.is_finite()) else {
                return Rating {
                    stars: None,
                    basis: "no energy figure".to_string(),
                };
            };
            let pool = pools
                .get(&(c.task.as_str(), c.dataset.as_str(), c.provenance))
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            let low = pool.iter().copied().fold(f64::INFINITY, f64::min);
            let high = pool.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let what = format!("{} {} configuration", c.provenance, c.task);
            let on = format!(" on {}", c.dataset);
            if pool.len() < 2 {
                return Rating {
                    stars: None,
                    basis: format!("the only {what}{on}: no range to rate against"),
                };
            }
            if high <= low {
                return Rating {
                    stars: None,
                    basis: format!("all {} {what}s{on} use the same energy", pool.len()),
                };
            }
            Rating {
                stars: Some(stars(energy, low, high)),
                basis: format!(
                    "{} {what}s{on} ({}–{} J)",
                    pool.len(),
                    records::number::sig(low, 3),
                    records::number::sig(high, 3)
                ),
            }
        })
        .collect()
}

/// Rates the rows of a summary (within the run) and writes their `rating_*` columns.
pub fn annotate<'a>(rows: impl IntoIterator<Item = &'a mut crate::model::SummaryRow>) {
    let mut rows: Vec<_> = rows.into_iter().collect();
    let candidates: Vec<Candidate> = rows
        .iter()
        .map(|r| Candidate {
            task: r.task.clone(),
            dataset: r.dataset.clone(),
            energy_j: r.energy_j_mean,
            provenance: r.provenance,
        })
        .collect();
    for (row, rating) in rows.iter_mut().zip(rate(&candidates)) {
        row.rating_stars = rating.stars;
        row.rating_basis = rating.basis;
    }
}

/// The stars of `energy` in the range `low..=high` (`low < high`).
pub fn stars(energy: f64, low: f64, high: f64) -> u8 {
    // A hair above the quotient, so that a figure on a band's boundary is not rounded
    // into the band below it (0.3 in 0.1..1.1 is 2.0 bands, not 1.999…).
    let band = ((energy - low) / (high - low) * 5.0 * (1.0 + 1e-12)).floor();
    // The top of the range belongs to the highest band.
    let band = band.clamp(0.0, 4.0) as u8;
    5 - band
}

/// Stars as text: `★★★☆☆`, or `–` when not rated.
pub fn glyphs(stars: Option<u8>) -> String {
    match stars {
        Some(n) => {
            let n = usize::from(n.min(5));
            format!("{}{}", "★".repeat(n), "☆".repeat(5 - n))
        }
        None => "–".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(task: &str, energy: Option<f64>, provenance: FigureLabel) -> Candidate {
        Candidate {
            task: task.to_string(),
            dataset: "d".to_string(),
            energy_j: energy,
            provenance,
        }
    }

    #[test]
    fn five_equal_bands_lowest_gets_five_stars() {
        assert_eq!(stars(0.0, 0.0, 10.0), 5);
        assert_eq!(stars(1.99, 0.0, 10.0), 5);
        assert_eq!(stars(2.0, 0.0, 10.0), 4);
        assert_eq!(stars(5.0, 0.0, 10.0), 3);
        assert_eq!(stars(7.99, 0.0, 10.0), 2);
        assert_eq!(stars(8.0, 0.0, 10.0), 1);
        assert_eq!(stars(10.0, 0.0, 10.0), 1);
        assert_eq!(stars(0.3, 0.1, 1.1), 4, "on a boundary: the higher band");
    }

    #[test]
    fn pools_are_per_task_and_label() {
        let m = FigureLabel::Measured;
        let e = FigureLabel::Estimated;
        let r = rate(&[
            c("a", Some(1.0), m),
            c("a", Some(11.0), m),
            c("a", Some(5.0), m),
            c("b", Some(100.0), m),
            c("a", Some(0.5), e),
            c("a", None, m),
            c("c", Some(2.0), e),
            c("c", Some(2.0), e),
        ]);
        let s: Vec<_> = r.iter().map(|r| r.stars).collect();
        assert_eq!(s, [Some(5), Some(1), Some(3), None, None, None, None, None]);
        assert_eq!(r[0].basis, "3 measured a configurations on d (1.00–11.0 J)");
        assert!(r[3].basis.contains("only measured b"), "{}", r[3].basis);
        // The estimate is not rated against the measurements, though it is the lowest.
        assert!(r[4].basis.contains("only estimated a"), "{}", r[4].basis);
        assert_eq!(r[5].basis, "no energy figure");
        assert!(r[6].basis.contains("same energy"), "{}", r[6].basis);
        assert_eq!(glyphs(Some(3)), "★★★☆☆");
        assert_eq!(glyphs(None), "–");
    }
}
