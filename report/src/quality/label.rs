//! Reading a label out of an answer: the label map's words, case-insensitive, whole words,
//! the earliest in the answer; an answer naming none is unparsed.

use std::collections::BTreeMap;

/// What an answer said, for classification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Read {
    /// The label it names.
    Label(String),
    /// None of the labels' words is in it.
    Unparsed,
}

/// The label `answer` names: without a map the whole answer (trimmed); with one, the
/// label whose word starts earliest (the longer word on a tie), whole words only.
pub fn read(answer: &str, labels: &BTreeMap<String, Vec<String>>) -> Read {
    if labels.is_empty() {
        let text = answer.trim();
        return if text.is_empty() {
            Read::Unparsed
        } else {
            Read::Label(text.to_string())
        };
    }
    let text = answer.to_lowercase();
    let mut best: Option<(usize, usize, &str)> = None;
    for (label, words) in labels {
        for word in words {
            let word = word.trim().to_lowercase();
            if let Some(at) = find_word(&text, &word) {
                let better = match best {
                    None => true,
                    Some((b_at, b_len, _)) => at < b_at || (at == b_at && word.len() > b_len),
                };
                if better {
                    best = Some((at, word.len(), label));
                }
            }
        }
    }
    best.map_or(Read::Unparsed, |(_, _, label)| {
        Read::Label(label.to_string())
    })
}

pub use records::scoring::reference_label;

/// Whether two labels are the same (case-insensitive, as answers are read).
pub fn same(a: &str, b: &str) -> bool {
    a.trim().to_lowercase() == b.trim().to_lowercase()
}

/// The byte offset of the first whole-word occurrence of `word` in `text`.
fn find_word(text: &str, word: &str) -> Option<usize> {
    if word.is_empty() {
        return None;
    }
    let boundary = |c: Option<char>| c.is_none_or(|c| !c.is_alphanumeric());
    let mut from = 0;
    while let Some(i) = text[from..].find(word) {
        let at = from + i;
        let end = at + word.len();
        if boundary(text[..at].chars().next_back()) && boundary(text[end..].chars().next()) {
            return Some(at);
        }
        from = at + text[at..].chars().next().map_or(1, char::len_utf8);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sentiment() -> BTreeMap<String, Vec<String>> {
        [
            ("0".to_string(), vec!["negative".to_string()]),
            (
                "1".to_string(),
                vec!["positive".to_string(), "very positive".to_string()],
            ),
        ]
        .into()
    }

    #[test]
    fn the_earliest_whole_word_names_the_label() {
        let m = sentiment();
        assert_eq!(read(" Positive.", &m), Read::Label("1".into()));
        assert_eq!(read("NEGATIVE", &m), Read::Label("0".into()));
        assert_eq!(read("negative, not positive", &m), Read::Label("0".into()));
        assert_eq!(
            read("it is positive, not negative", &m),
            Read::Label("1".into())
        );
        assert_eq!(
            read("nonpositive stuff", &m),
            Read::Unparsed,
            "whole words only"
        );
        assert_eq!(read("the the the", &m), Read::Unparsed);
        // Multi-byte letters around a word: no split inside a character, and a letter
        // that is not ASCII still joins a word ("énegative" is not "negative").
        assert_eq!(read("ééé negative ü", &m), Read::Label("0".into()));
        assert_eq!(read("énegative, ßpositive", &m), Read::Unparsed);
        assert_eq!(read("→positive←", &m), Read::Label("1".into()));
        assert_eq!(read("", &m), Read::Unparsed);
    }

    #[test]
    fn without_a_map_the_answer_is_the_label() {
        let none = BTreeMap::new();
        assert_eq!(read("  POSITIVE \n", &none), Read::Label("POSITIVE".into()));
        assert_eq!(read("  ", &none), Read::Unparsed);
        assert!(same("POSITIVE", "positive"));
    }
}
