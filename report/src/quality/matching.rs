//! Exact and pattern matching of an answer against its references.

/// Whether `answer`, trimmed, equals one of `references` (trimmed; case-insensitive unless
/// `case_sensitive`).
pub fn exact<S: AsRef<str>>(answer: &str, references: &[S], case_sensitive: bool) -> bool {
    let norm = |s: &str| {
        if case_sensitive {
            s.trim().to_string()
        } else {
            s.trim().to_lowercase()
        }
    };
    let a = norm(answer);
    references.iter().any(|r| norm(r.as_ref()) == a)
}

/// What `pattern` extracts from `answer`: its first group when the pattern has one and it
/// took part, else the whole first match, trimmed; `None` when it does not match.
pub fn extract<'a>(pattern: &regex::Regex, answer: &'a str) -> Option<&'a str> {
    let captures = pattern.captures(answer)?;
    let m = captures.get(1).or_else(|| captures.get(0))?;
    Some(m.as_str().trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_trims_and_ignores_case_unless_asked() {
        assert!(exact(" Paris\n", &["paris"], false));
        assert!(!exact(" Paris\n", &["paris"], true));
        assert!(exact("Paris", &["Lyon", "Paris"], true));
        assert!(!exact("Paris.", &["Paris"], false));
        assert!(!exact("x", &[] as &[&str], false));
    }

    #[test]
    fn a_pattern_gives_its_first_group_or_its_match() {
        let with_group = regex::Regex::new(r"answer is (\d+)").expect("pattern");
        assert_eq!(extract(&with_group, "so the answer is 42."), Some("42"));
        assert_eq!(extract(&with_group, "no idea"), None);
        let whole = regex::Regex::new(r"\d+").expect("pattern");
        assert_eq!(extract(&whole, "about 17 apples"), Some("17"));
    }
}
