//! How every text table and message writes a figure: significant digits, `–` for none.

/// `v` with `digits` significant digits, without exponent for ordinary magnitudes; `–`
/// for a missing or non-finite value.
pub fn sig(v: f64, digits: usize) -> String {
    if !v.is_finite() {
        return "–".to_string();
    }
    if v == 0.0 {
        return "0".to_string();
    }
    let magnitude = v.abs().log10().floor() as i32;
    if !(-5..=8).contains(&magnitude) {
        return format!("{:.*e}", digits.saturating_sub(1), v);
    }
    let decimals = (digits as i32 - 1 - magnitude).max(0) as usize;
    format!("{v:.decimals$}")
}

/// Like [`sig`] for an optional value.
pub fn sig_opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "–".to_string(), |v| sig(v, digits))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn significant_digits() {
        assert_eq!(sig(0.002_294, 3), "0.00229");
        assert_eq!(sig(123.456, 3), "123");
        assert_eq!(sig(1.5, 3), "1.50");
        assert_eq!(sig(f64::NAN, 3), "–");
        assert_eq!(sig(1.0e-9, 2), "1.0e-9");
        assert_eq!(sig_opt(None, 3), "–");
    }
}
