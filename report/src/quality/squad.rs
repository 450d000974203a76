//! SQuAD v1.1 answer scoring: exact match and token F1 after answer normalisation.
//!
//! A port of the official SQuAD v1.1 evaluation script, `evaluate-v1.1.py` (Rajpurkar et
//! al., 2016; the same code ships as `metrics/squad/compute_score.py` in Hugging Face's
//! `evaluate` repository): `normalize_answer`, `f1_score`, `exact_match_score` and
//! `metric_max_over_ground_truths`, step for step.
//!
//! Two Python details matter for non-ASCII text and are reproduced here rather than left to
//! Rust's defaults:
//!
//! - Python's `re` decides `\b` with `str.isalnum() or ch == '_'`, that is Unicode general
//!   categories L* and N* plus `_`. Rust's `\w` also counts combining marks (M*), join
//!   controls and every connector punctuation, so `\b` in a Rust regex disagrees on text such
//!   as "the" followed by U+0301 (Python removes the article there). An article is removed
//!   exactly when it is a whole maximal run of such word characters, which is what
//!   `\b(a|an|the)\b` means.
//! - Python's `str.split()` also splits on U+001C..U+001F, which Rust's `char::is_whitespace`
//!   does not treat as white space.
//!
//! With those two, lower-casing (`str.lower()` and `str::to_lowercase` both apply the full
//! Unicode mappings, final sigma included), the word test and the white-space test agree with
//! Python 3.11 on every code point assigned in Unicode 14.0, Python 3.11's Unicode version;
//! characters assigned later may differ.

use std::collections::HashMap;
use std::sync::LazyLock;

use regex::Regex;

/// A maximal run of what Python's `re` counts as word characters in a `str` pattern.
static PY_WORD_RUN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[\p{L}\p{N}_]+").expect("the word-run pattern is a valid regex"));

/// Python's `str.isspace()`: Unicode white space plus the four ASCII information separators.
fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python's `str.split()` with no arguments.
fn py_split(s: &str) -> impl Iterator<Item = &str> {
    s.split(is_py_space).filter(|t| !t.is_empty())
}

/// Lower-cases, drops ASCII punctuation (Python's `string.punctuation`), the articles a/an/the and extra whitespace, as the official script's `normalize_answer`.
pub fn normalize_answer(s: &str) -> String {
    // lower(text): text.lower()
    let lowered = s.to_lowercase();
    // remove_punc(text): drop every character of string.punctuation (ASCII only).
    let no_punc: String = lowered
        .chars()
        .filter(|c| !c.is_ascii_punctuation())
        .collect();
    // remove_articles(text): re.sub(r"\b(a|an|the)\b", " ", text)
    let no_articles =
        PY_WORD_RUN.replace_all(&no_punc, |caps: &regex::Captures<'_>| match &caps[0] {
            "a" | "an" | "the" => " ".to_owned(),
            word => word.to_owned(),
        });
    // white_space_fix(text): " ".join(text.split())
    py_split(&no_articles).collect::<Vec<_>>().join(" ")
}

/// 1.0 when the normalised strings are equal, else 0.0 (the official `exact_match_score`).
pub fn exact_match(prediction: &str, truth: &str) -> f64 {
    if normalize_answer(prediction) == normalize_answer(truth) {
        1.0
    } else {
        0.0
    }
}

/// Token F1 over the bags of normalised tokens; 0.0 when nothing is shared, empty sides included (the official `f1_score`).
pub fn f1(prediction: &str, truth: &str) -> f64 {
    let prediction = normalize_answer(prediction);
    let truth = normalize_answer(truth);
    let prediction_tokens: Vec<&str> = py_split(&prediction).collect();
    let truth_tokens: Vec<&str> = py_split(&truth).collect();
    // common = Counter(prediction_tokens) & Counter(ground_truth_tokens)
    let mut truth_counts: HashMap<&str, usize> = HashMap::new();
    for token in &truth_tokens {
        *truth_counts.entry(token).or_insert(0) += 1;
    }
    let mut num_same = 0usize;
    for token in &prediction_tokens {
        if let Some(count) = truth_counts.get_mut(token)
            && *count > 0
        {
            *count -= 1;
            num_same += 1;
        }
    }
    if num_same == 0 {
        return 0.0;
    }
    let precision = num_same as f64 / prediction_tokens.len() as f64;
    let recall = num_same as f64 / truth_tokens.len() as f64;
    (2.0 * precision * recall) / (precision + recall)
}

/// A question's SQuAD scores: the maximum of each over its reference answers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SquadScore {
    /// Best exact match over the references: 1.0 or 0.0.
    pub exact_match: f64,
    /// Best token F1 over the references, in [0, 1].
    pub f1: f64,
}

/// The max over `truths` of exact match and of F1, each maximised separately; None when `truths` is empty.
pub fn score<S: AsRef<str>>(prediction: &str, truths: &[S]) -> Option<SquadScore> {
    // metric_max_over_ground_truths: max(...) over an empty list raises in Python.
    if truths.is_empty() {
        return None;
    }
    let exact_match = truths
        .iter()
        .map(|t| exact_match(prediction, t.as_ref()))
        .fold(f64::NEG_INFINITY, f64::max);
    let f1 = truths
        .iter()
        .map(|t| f1(prediction, t.as_ref()))
        .fold(f64::NEG_INFINITY, f64::max);
    Some(SquadScore { exact_match, f1 })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn normalize_drops_case_punctuation_and_articles() {
        assert_eq!(normalize_answer("The  Eiffel Tower!"), "eiffel tower");
        assert_eq!(normalize_answer("An apple, a pear"), "apple pear");
        assert_eq!(normalize_answer("A"), "");
        // Articles only as whole words: "theater", "and", "banana" stay.
        assert_eq!(normalize_answer("theater and banana"), "theater and banana");
        // Punctuation goes first, so "a-b" becomes "ab", while "a.b" also joins up.
        assert_eq!(normalize_answer("a-b the.end"), "ab theend");
        // An apostrophe is removed before articles: "the's" -> "thes".
        assert_eq!(normalize_answer("the's"), "thes");
    }

    #[test]
    fn normalize_handles_unicode_whitespace_and_letters() {
        assert_eq!(
            normalize_answer("\u{a0}Straße\u{2003}über\t\nÜBER\u{1f}x"),
            "straße über über x"
        );
        // Non-ASCII punctuation is not in string.punctuation and stays.
        assert_eq!(normalize_answer("“Quoted” — yes"), "“quoted” — yes");
        // Letters with diacritics are word characters: "thé" is no article.
        assert_eq!(normalize_answer("thé"), "thé");
        // A combining mark is not a word character for Python's re, so "the" before one is.
        assert_eq!(normalize_answer("the\u{301}"), "\u{301}");
        // Digits are word characters: "a1" is no article.
        assert_eq!(normalize_answer("a1 1a"), "a1 1a");
    }

    #[test]
    fn exact_match_compares_normalised_strings() {
        assert_eq!(exact_match("The Beatles.", "beatles"), 1.0);
        assert_eq!(exact_match("Beatles", "Rolling Stones"), 0.0);
        assert_eq!(exact_match("", "the"), 1.0);
        assert_eq!(exact_match("", "x"), 0.0);
    }

    #[test]
    fn f1_uses_bags_of_tokens() {
        // prediction "paris paris france", truth "paris": 1 shared; p = 1/3, r = 1.
        assert!(close(f1("Paris Paris France", "Paris"), 0.5));
        // truth has "paris" twice: 2 shared; p = 2/3, r = 1 -> 0.8.
        assert!(close(f1("paris paris france", "paris paris"), 0.8));
        assert!(close(f1("the cat sat", "a cat"), 2.0 * 0.5 / 1.5));
        assert_eq!(f1("dog", "cat"), 0.0);
    }

    #[test]
    fn f1_is_zero_with_an_empty_side() {
        assert_eq!(f1("", "answer"), 0.0);
        assert_eq!(f1("answer", ""), 0.0);
        // Even two empty answers score 0 F1 in v1.1 (but exact match 1).
        assert_eq!(f1("", ""), 0.0);
        assert_eq!(f1("The", "a"), 0.0);
    }

    #[test]
    fn score_maximises_each_measure_over_truths() {
        let s = score("big red barn", &["red barn", "big red barn door"]).expect("truths");
        assert_eq!(s.exact_match, 0.0);
        // "red barn": p = 2/3, r = 1 -> 0.8; "big red barn door": p = 1, r = 3/4 -> 6/7.
        assert!(close(s.f1, 6.0 / 7.0));
        let s = score("barn", &["a barn", "x"]).expect("truths");
        assert_eq!(s.exact_match, 1.0);
        assert!(close(s.f1, 1.0));
        assert!(score::<&str>("barn", &[]).is_none());
    }
}
