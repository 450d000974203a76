//! ROUGE-1, ROUGE-2 and ROUGE-L F-measures, as Google's `rouge-score` package computes them.
//!
//! A port of `rouge_score.rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"],
//! use_stemmer=False)` from rouge-score 0.1.2 (`rouge_scorer.py`, `tokenize.py`,
//! `scoring.py`): its default tokeniser without the Porter stemmer, clipped n-gram counts for
//! ROUGE-N, the sentence-level longest common subsequence for ROUGE-L (not `rougeLsum`), and
//! `score_multi`'s choice, per measure, of the reference with the highest F-measure.
//!
//! Lower-casing is Unicode (`str.lower()` there, `str::to_lowercase` here); a few non-ASCII
//! letters lower-case to ASCII (U+212A KELVIN SIGN to "k", U+0130 to "i" plus a combining dot)
//! and so yield tokens in both.

use std::collections::HashMap;
use std::sync::LazyLock;

use regex::Regex;

/// A token of rouge-score's default tokeniser: a maximal run of `[a-z0-9]`.
static TOKEN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new("[a-z0-9]+").expect("the token pattern is a valid regex"));

/// rouge-score's default tokenisation without stemming: lower-case, every run of characters outside `[a-z0-9]` becomes a space, split on whitespace, keep tokens matching `^[a-z0-9]+$`.
pub fn tokenize(text: &str) -> Vec<String> {
    // After the substitution only [a-z0-9] and spaces remain, so the tokens are exactly the
    // maximal [a-z0-9] runs of the lower-cased text.
    let lowered = text.to_lowercase();
    TOKEN
        .find_iter(&lowered)
        .map(|m| m.as_str().to_owned())
        .collect()
}

/// ROUGE-1, ROUGE-2 and ROUGE-L (sentence-level LCS, not rougeLsum) F-measures of a prediction.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RougeScore {
    /// Unigram-overlap F-measure.
    pub rouge1: f64,
    /// Bigram-overlap F-measure.
    pub rouge2: f64,
    /// Longest-common-subsequence F-measure.
    pub rouge_l: f64,
}

/// rouge-score's `scoring.fmeasure`: the harmonic mean, or 0 when both are 0.
fn fmeasure(precision: f64, recall: f64) -> f64 {
    if precision + recall > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    }
}

/// rouge-score's `_create_ngrams`: each n-gram of `tokens` with its count.
fn ngrams(tokens: &[String], n: usize) -> HashMap<&[String], usize> {
    let mut counts = HashMap::new();
    for gram in tokens.windows(n) {
        *counts.entry(gram).or_insert(0) += 1;
    }
    counts
}

/// rouge-score's `_score_ngrams` F-measure: clipped overlap over each side's n-gram count.
fn rouge_n(target: &[String], prediction: &[String], n: usize) -> f64 {
    let target_ngrams = ngrams(target, n);
    let prediction_ngrams = ngrams(prediction, n);
    let overlap: usize = target_ngrams
        .iter()
        .map(|(gram, &count)| count.min(prediction_ngrams.get(gram).copied().unwrap_or(0)))
        .sum();
    let target_count: usize = target_ngrams.values().sum();
    let prediction_count: usize = prediction_ngrams.values().sum();
    let precision = overlap as f64 / prediction_count.max(1) as f64;
    let recall = overlap as f64 / target_count.max(1) as f64;
    fmeasure(precision, recall)
}

/// The length of the longest common subsequence of two token lists.
fn lcs_length(a: &[String], b: &[String]) -> usize {
    // One row of rouge-score's `_lcs_table` at a time.
    let mut previous = vec![0usize; b.len() + 1];
    let mut current = vec![0usize; b.len() + 1];
    for x in a {
        for (j, y) in b.iter().enumerate() {
            current[j + 1] = if x == y {
                previous[j] + 1
            } else {
                previous[j + 1].max(current[j])
            };
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

/// rouge-score's `_score_lcs` F-measure; 0 when either side has no tokens.
fn rouge_l(target: &[String], prediction: &[String]) -> f64 {
    if target.is_empty() || prediction.is_empty() {
        return 0.0;
    }
    let lcs = lcs_length(target, prediction) as f64;
    let precision = lcs / prediction.len() as f64;
    let recall = lcs / target.len() as f64;
    fmeasure(precision, recall)
}

/// ROUGE-1, ROUGE-2 and ROUGE-L F-measures of `prediction` against one `reference`.
pub fn score(prediction: &str, reference: &str) -> RougeScore {
    let target = tokenize(reference);
    let prediction = tokenize(prediction);
    RougeScore {
        rouge1: rouge_n(&target, &prediction, 1),
        rouge2: rouge_n(&target, &prediction, 2),
        rouge_l: rouge_l(&target, &prediction),
    }
}

/// For each measure, the best F-measure over `references` (as rouge-score's `score_multi`); None when `references` is empty.
pub fn score_multi<S: AsRef<str>>(prediction: &str, references: &[S]) -> Option<RougeScore> {
    // score_multi takes, per measure, the Score of the first reference with the highest
    // F-measure (np.argmax); only the F-measure is kept here, so that is the maximum.
    // np.argmax of an empty list raises in Python.
    let mut scores = references.iter().map(|r| score(prediction, r.as_ref()));
    let first = scores.next()?;
    Some(scores.fold(first, |best, s| RougeScore {
        rouge1: best.rouge1.max(s.rouge1),
        rouge2: best.rouge2.max(s.rouge2),
        rouge_l: best.rouge_l.max(s.rouge_l),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn tokenize_keeps_ascii_alphanumeric_runs() {
        assert_eq!(
            tokenize("The quick-brown FOX, 42x!"),
            ["the", "quick", "brown", "fox", "42x"]
        );
        // Non-ASCII letters split words and vanish; Kelvin sign lower-cases to "k".
        assert_eq!(tokenize("Straße café Über"), ["stra", "e", "caf", "ber"]);
        assert_eq!(tokenize("\u{212a}elvin"), ["kelvin"]);
        assert_eq!(tokenize("İstanbul"), ["i", "stanbul"]);
        assert!(tokenize(" \t—…\n").is_empty());
    }

    #[test]
    fn rouge1_clips_repeated_tokens() {
        // target "the cat", prediction "the the the": overlap min(1, 3) = 1.
        let s = score("the the the", "the cat");
        let (p, r) = (1.0 / 3.0, 1.0 / 2.0);
        assert!(close(s.rouge1, 2.0 * p * r / (p + r)));
        assert_eq!(s.rouge2, 0.0);
    }

    #[test]
    fn rouge2_on_single_tokens_is_zero() {
        let s = score("cat", "cat");
        assert_eq!(s.rouge1, 1.0);
        assert_eq!(s.rouge2, 0.0);
        assert_eq!(s.rouge_l, 1.0);
    }

    #[test]
    fn rouge_l_uses_the_longest_common_subsequence() {
        // target "a b c d e", prediction "a x c e b": LCS "a c e" = 3.
        let s = score("a x c e b", "a b c d e");
        assert!(close(s.rouge_l, 0.6));
        // Bigrams: target ab bc cd de, prediction ax xc ce eb: none shared.
        assert_eq!(s.rouge2, 0.0);
        // Unigrams a, c, e, b shared: p = 4/5, r = 4/5.
        assert!(close(s.rouge1, 0.8));
    }

    #[test]
    fn empty_sides_score_zero() {
        let zero = RougeScore {
            rouge1: 0.0,
            rouge2: 0.0,
            rouge_l: 0.0,
        };
        assert_eq!(score("", "some reference"), zero);
        assert_eq!(score("some prediction", "!!"), zero);
        assert_eq!(score("", ""), zero);
    }

    #[test]
    fn score_multi_takes_the_best_per_measure() {
        // Reference 1 shares more unigrams; reference 2 shares the only bigram.
        let refs = ["cat dog bird", "dog fish"];
        let s = score_multi("bird cat dog fish", &refs).expect("references");
        // ref 1: overlap 3, p = 3/4, r = 1 -> 6/7; ref 2: overlap 2, p = 1/2, r = 1 -> 2/3.
        assert!(close(s.rouge1, 6.0 / 7.0));
        // ref 1 bigrams cat-dog shared (1 of 3 pred, 1 of 2 ref) -> 0.4;
        // ref 2 dog-fish shared (1 of 3, 1 of 1) -> 0.5.
        assert!(close(s.rouge2, 0.5));
        // LCS: ref 1 "cat dog" = 2 -> p 1/2, r 2/3 -> 4/7; ref 2 "dog fish" = 2 -> 2/3.
        assert!(close(s.rouge_l, 2.0 / 3.0));
        assert!(score_multi::<&str>("x", &[]).is_none());
    }
}
