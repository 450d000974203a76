//! ISO 8601 timestamps as CodeCarbon writes them, to and from seconds since 1970 (UTC).

/// Seconds since 1970-01-01T00:00:00Z of `YYYY-MM-DDTHH:MM:SS[.fff][Z|±HH:MM]` (a space
/// may replace the `T`; no zone means UTC); `None` when it does not parse.
pub fn parse(text: &str) -> Option<f64> {
    let t = text.trim();
    let b = t.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !(b[10] == b'T' || b[10] == b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| t.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let mut rest = t.get(19..)?;
    let mut frac = 0.0;
    if let Some(r) = rest.strip_prefix('.') {
        let digits = r.bytes().take_while(u8::is_ascii_digit).count();
        frac = format!("0.{}", r.get(..digits)?).parse().ok()?;
        rest = r.get(digits..)?;
    }
    let offset = match rest {
        "" | "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let hm = rest.get(1..)?.replace(':', "");
            if hm.len() != 4 || !hm.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            let oh: i64 = hm.get(..2)?.parse().ok()?;
            let om: i64 = hm.get(2..)?.parse().ok()?;
            sign * (oh * 3600 + om * 60)
        }
    };
    let days = days_from_civil(y, mo, d);
    Some((days * 86_400 + h * 3600 + mi * 60 + s - offset) as f64 + frac)
}

/// `YYYY-MM-DDTHH:MM:SSZ` of seconds since 1970 (whole seconds, UTC).
pub fn format(seconds: f64) -> String {
    let s = seconds.floor() as i64;
    let (days, secs) = (s.div_euclid(86_400), s.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
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
        assert_eq!(format(1_694_379_968.7), "2023-09-10T21:06:08Z");
        assert_eq!(format(0.0), "1970-01-01T00:00:00Z");
        assert_eq!(parse("yesterday"), None);
        assert_eq!(parse("2023-13-10T21:06:08"), None);
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
