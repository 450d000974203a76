//! The numbers of `samples.csv` as the run writes them, read without `str::parse` where
//! that gives the same value: digits eight at a time (SWAR), decimals exactly rounded by
//! one division.

/// Powers of ten up to 10^19, each exact as a double.
const EXACT_POWERS_OF_TEN: [f64; 20] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19,
];

/// Powers of ten up to the largest a `u64` holds.
const EXACT_POWERS_OF_TEN_U64: [u64; 20] = {
    let mut powers = [1u64; 20];
    let mut i = 1;
    while i < 20 {
        powers[i] = powers[i - 1] * 10;
        i += 1;
    }
    powers
};

/// The value of eight ASCII digits (the first the most significant), or `None` when one
/// is not a digit.
#[inline]
fn eight_digits(bytes: &[u8; 8]) -> Option<u64> {
    eight_digits_word(u64::from_le_bytes(*bytes))
}

/// [`eight_digits`] of the bytes of `v` in little-endian order.
#[inline(always)]
fn eight_digits_word(v: u64) -> Option<u64> {
    // Each byte's high nibble is 3, and adding 6 keeps it 3 (the byte is at most '9').
    let high = 0xF0F0_F0F0_F0F0_F0F0u64;
    let nibbles = (v & high) | ((v.wrapping_add(0x0606_0606_0606_0606) & high) >> 4);
    if nibbles != 0x3333_3333_3333_3333 {
        return None;
    }
    let v = v - 0x3030_3030_3030_3030;
    // Pairs of digits, then fours, then all eight.
    let v = v * 10 + (v >> 8);
    let low = 0x0000_00FF_0000_00FFu64;
    let v = ((v & low).wrapping_mul(100 + (1_000_000 << 32))
        + ((v >> 16) & low).wrapping_mul(1 + (10_000 << 32)))
        >> 32;
    Some(v)
}

/// `value` followed by the digits of `b`, at most 19 digits in all (no overflow).
#[inline]
fn append_digits(mut value: u64, mut b: &[u8]) -> Option<u64> {
    while let Some((eight, rest)) = b.split_first_chunk::<8>() {
        value = value * 100_000_000 + eight_digits(eight)?;
        b = rest;
    }
    for &c in b {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        value = value * 10 + u64::from(d);
    }
    Some(value)
}

/// Digits only, as `t_ns` is written; anything else is `None`, left to `str::parse`.
#[inline]
pub(crate) fn digits(b: &[u8]) -> Option<u64> {
    match b.len() {
        0 => None,
        1..=19 => append_digits(0, b),
        // Twenty digits may overflow.
        _ => b.iter().try_fold(0u64, |v, &c| {
            let d = c.wrapping_sub(b'0');
            if d > 9 {
                return None;
            }
            v.checked_mul(10)?.checked_add(u64::from(d))
        }),
    }
}

/// The position of the first `.` in `buf[a..b]`, looked for a word at a time.
#[inline(always)]
fn point_in(buf: &[u8], a: usize, b: usize) -> Option<usize> {
    let mut i = a;
    while i < b {
        let Some(word) = buf.get(i..i + 8) else {
            return buf[i..b].iter().position(|&c| c == b'.').map(|p| i + p);
        };
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(word);
        // Bytes equal to '.' become zero; the lowest zero byte is found exactly.
        let x = u64::from_le_bytes(bytes) ^ 0x2E2E_2E2E_2E2E_2E2E;
        let zero = x.wrapping_sub(0x0101_0101_0101_0101) & !x & 0x8080_8080_8080_8080;
        if zero != 0 {
            let p = i + (zero.trailing_zeros() / 8) as usize;
            return (p < b).then_some(p);
        }
        i += 8;
    }
    None
}

/// The value of the digits `buf[a..b]`, read as one word ending at `b` when there are
/// eight or fewer (the bytes before `a` in that word count as zeros).
#[inline(always)]
fn digits_in(buf: &[u8], a: usize, b: usize) -> Option<u64> {
    let k = b - a;
    match buf.get(b.wrapping_sub(8)..b) {
        Some(word) if k <= 8 && k > 0 => {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(word);
            let v = u64::from_le_bytes(bytes);
            // The low 8 - k bytes are not this field's: make them '0'.
            let low = (u64::MAX >> 1) >> (8 * k - 1);
            eight_digits_word((v & !low) | (0x3030_3030_3030_3030 & low))
        }
        _ => append_digits(0, &buf[a..b]),
    }
}

/// A plain decimal (`digits[.digits]`, as the run writes figures) at `buf[a..b]` whose
/// digits (19 at most) make an integer up to 2^53: that integer and
/// the power of ten are exact doubles, so their quotient is the correctly rounded value,
/// the one `str::parse` gives. Anything else is `None`, left to `str::parse`. Digits are
/// read a word at a time from `buf`, around the field.
#[inline(always)]
pub(crate) fn plain_decimal(buf: &[u8], a: usize, b: usize) -> Option<f64> {
    if b - a > 20 {
        return None;
    }
    let (whole, fraction) = match point_in(buf, a, b) {
        Some(p) => ((a, p), (p + 1, b)),
        None => ((a, b), (b, b)),
    };
    let count = (whole.1 - whole.0) + (fraction.1 - fraction.0);
    if count == 0 || count > 19 {
        return None;
    }
    let high = if whole.1 > whole.0 {
        digits_in(buf, whole.0, whole.1)?
    } else {
        0
    };
    let after = fraction.1 - fraction.0;
    let mantissa = if after > 0 {
        // Under 10^19 in all (19 digits at most): no overflow.
        high * EXACT_POWERS_OF_TEN_U64[after] + digits_in(buf, fraction.0, fraction.1)?
    } else {
        high
    };
    if mantissa > 1 << 53 {
        return None;
    }
    Some(mantissa as f64 / EXACT_POWERS_OF_TEN[after])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_decimals_parse_to_the_double_str_parse_gives() {
        use rand::{RngExt, SeedableRng};
        let mut rng = rand_pcg::Pcg64::seed_from_u64(7);
        let mut taken = 0;
        for _ in 0..200_000 {
            let digits = rng.random_range(1..=20);
            let mut text: String = (0..digits)
                .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
                .collect();
            if rng.random_bool(0.8) {
                text.insert(rng.random_range(0..=text.len()), '.');
            }
            let want = text.parse::<f64>().expect("a decimal");
            if let Some(got) = plain_decimal(text.as_bytes(), 0, text.len()) {
                assert_eq!(got.to_bits(), want.to_bits(), "{text}");
                taken += 1;
            }
            // Inside a row: the words read around the field hold other bytes.
            let row = format!("1700000000,rapl,{text},9.5");
            let at = row.len() - text.len() - 4;
            let inside = plain_decimal(row.as_bytes(), at, at + text.len());
            assert_eq!(
                inside.map(f64::to_bits),
                plain_decimal(text.as_bytes(), 0, text.len()).map(f64::to_bits),
                "{row}"
            );
        }
        assert!(taken > 100_000, "the fast path took {taken}");
        for refused in [
            "",
            ".",
            "1..2",
            "1e5",
            "-1",
            "+1",
            "9007199254740993",
            "1.2.3",
            " 1",
        ] {
            assert_eq!(
                plain_decimal(refused.as_bytes(), 0, refused.len()),
                None,
                "{refused:?}"
            );
        }
        assert_eq!(
            plain_decimal(b"9007199254740992", 0, 16),
            Some(9007199254740992.0)
        );
        assert_eq!(plain_decimal(b"5.", 0, 2), Some(5.0));
        assert_eq!(plain_decimal(b".5", 0, 2), Some(0.5));
    }

    #[test]
    fn digits_read_every_length_and_refuse_what_is_not_a_digit() {
        for text in [
            "0",
            "7",
            "12345678",
            "123456789",
            "1700000000123456789",
            "18446744073709551615",
        ] {
            assert_eq!(digits(text.as_bytes()), text.parse::<u64>().ok(), "{text}");
        }
        for refused in [
            "",
            "18446744073709551616",
            "1234567/",
            "1234567:",
            "12345678a",
            "+1",
            " 1",
            "１",
        ] {
            assert_eq!(digits(refused.as_bytes()), None, "{refused:?}");
        }
        // A non-digit in each position of an eight-digit group.
        for i in 0..8 {
            let mut text = *b"1234567890123456";
            text[i] = b'a';
            assert_eq!(digits(&text), None, "position {i}");
        }
    }
}
