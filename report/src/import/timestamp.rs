//! ISO 8601 timestamps as CodeCarbon writes them, to and from seconds since 1970 (UTC),
//! through `chrono`.

use chrono::{DateTime, NaiveDateTime, Utc};

/// The date and time, `T`-separated, with optional fractional seconds.
const DATE_TIME: &str = "%Y-%m-%dT%H:%M:%S%.f";

/// Seconds since 1970-01-01T00:00:00Z of `YYYY-MM-DDTHH:MM:SS[.fff][Z|±HH:MM|±HHMM]` (a
/// space may replace the `T`; no zone means UTC); `None` when it does not parse.
pub fn parse(text: &str) -> Option<f64> {
    let t = text.trim();
    let t = match t.as_bytes().get(10)? {
        b'T' => t.to_string(),
        b' ' => format!("{}T{}", t.get(..10)?, t.get(11..)?),
        _ => return None,
    };
    let utc: DateTime<Utc> = match t.strip_suffix(['Z', 'z']) {
        Some(naive) => NaiveDateTime::parse_from_str(naive, DATE_TIME)
            .ok()?
            .and_utc(),
        None => NaiveDateTime::parse_from_str(&t, DATE_TIME)
            .map(|n| n.and_utc())
            .or_else(|_| {
                DateTime::parse_from_str(&t, &format!("{DATE_TIME}%z")).map(|d| d.to_utc())
            })
            .ok()?,
    };
    Some(utc.timestamp() as f64 + f64::from(utc.timestamp_subsec_nanos()) * 1e-9)
}

/// `YYYY-MM-DDTHH:MM:SSZ` of seconds since 1970 (whole seconds, UTC); `None` beyond the
/// years chrono can represent.
pub fn format(seconds: f64) -> Option<String> {
    if !seconds.is_finite() {
        return None;
    }
    let utc = DateTime::<Utc>::from_timestamp(seconds.floor() as i64, 0)?;
    Some(utc.format("%Y-%m-%dT%H:%M:%SZ").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        // `date -u -d 2023-09-10T21:06:08 +%s` = 1694379968
        assert_eq!(parse("2023-09-10T21:06:08"), Some(1_694_379_968.0));
        assert_eq!(parse("2023-09-10 23:06:08+02:00"), Some(1_694_379_968.0));
        assert_eq!(parse("2023-09-10T21:06:08.5Z"), Some(1_694_379_968.5));
        assert_eq!(
            format(1_694_379_968.7).as_deref(),
            Some("2023-09-10T21:06:08Z")
        );
        assert_eq!(format(0.0).as_deref(), Some("1970-01-01T00:00:00Z"));
        assert_eq!(parse("yesterday"), None);
        assert_eq!(parse("2023-13-10T21:06:08"), None);
    }

    #[test]
    fn offsets_without_colon_west_of_utc_leap_days_and_before_1970() {
        // What the hand-written parser got right and chrono must too.
        assert_eq!(parse("2023-09-10T23:06:08+0200"), Some(1_694_379_968.0));
        assert_eq!(parse("2023-09-10T16:36:08-04:30"), Some(1_694_379_968.0));
        assert_eq!(parse(" 2023-09-10 21:06:08z "), Some(1_694_379_968.0));
        assert_eq!(parse("2024-02-29T00:00:00"), Some(1_709_164_800.0));
        assert_eq!(parse("2023-02-29T00:00:00"), None);
        assert_eq!(parse("1969-12-31T23:59:59"), Some(-1.0));
        assert_eq!(format(-0.5).as_deref(), Some("1969-12-31T23:59:59Z"));
        assert_eq!(
            format(1_709_164_800.0).as_deref(),
            Some("2024-02-29T00:00:00Z")
        );
        let micros = parse("2023-09-10T21:06:08.250000+00:00").expect("fraction");
        assert!((micros - 1_694_379_968.25).abs() < 1e-6, "{micros}");
        assert_eq!(format(f64::INFINITY), None);
    }

    #[test]
    fn non_ascii_input_is_refused_without_panicking() {
        assert_eq!(parse("2023-09-10T21:06:08+0é0"), None);
        assert_eq!(parse("2023-09-10T21:06:08-é:00"), None);
        assert_eq!(parse("2023-09-10T21:06:08.5é"), None);
        assert_eq!(parse("2023-09-10T21:06:0é"), None);
        assert_eq!(parse("2023-09-10T21:06:08é"), None);
        assert_eq!(parse("2023-09-10T21:06:08+1:00"), None);
        assert_eq!(parse("é023-09-10T21:06:08"), None);
    }
}
