//! Outliers by the median absolute deviation (Iglewicz and Hoaglin's modified z-score).

use super::median;

/// Modified z-score above which a value is an outlier (Iglewicz and Hoaglin, 1993).
pub const MODIFIED_Z_BOUND: f64 = 3.5;

/// The median absolute deviation of `values` from their median; NaN when empty.
pub fn mad(values: &[f64]) -> f64 {
    let m = median(values);
    let deviations: Vec<f64> = values.iter().map(|v| (v - m).abs()).collect();
    median(&deviations)
}

/// Indices of the values whose modified z-score 0.6745 (x − median) / MAD exceeds 3.5.
///
/// Needs at least 3 values; with a MAD of zero (half the values equal) nothing is flagged,
/// since the score is undefined.
pub fn outliers(values: &[f64]) -> Vec<usize> {
    if values.len() < 3 {
        return Vec::new();
    }
    let m = median(values);
    let d = mad(values);
    if d == 0.0 || !d.is_finite() {
        return Vec::new();
    }
    values
        .iter()
        .enumerate()
        .filter(|(_, v)| (0.6745 * (*v - m) / d).abs() > MODIFIED_Z_BOUND)
        .map(|(i, _)| i)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_only_the_far_value() {
        // median 10, deviations [0,1,1,0,10,1,...]: MAD = 1; 20 scores 0.6745*10 = 6.7.
        let v = [10.0, 11.0, 9.0, 10.0, 20.0, 11.0, 9.0];
        assert_eq!(mad(&v), 1.0);
        assert_eq!(outliers(&v), vec![4]);
        assert!(outliers(&[1.0, 100.0]).is_empty());
        assert!(outliers(&[5.0, 5.0, 5.0, 9.0]).is_empty());
    }
}
