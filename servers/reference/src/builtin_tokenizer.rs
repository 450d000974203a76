//! A simple built-in tokenizer for models served without a `tokenizer.json`: one token per
//! word or punctuation mark, words hashed into the vocabulary, ids decoded as pseudo-words.

use crate::init::fnv1a;

const CONSONANTS: &[u8] = b"bdfgklmnprstvz";
const VOWELS: &[u8] = b"aeiou";
const SYLLABLES: u32 = 14 * 5;

/// The built-in word tokenizer: deterministic, no files, invertible on its own output.
#[derive(Debug, Clone)]
pub struct BuiltinTokenizer {
    vocab_size: u32,
    first_word_id: u32,
    specials: Vec<u32>,
}

/// One piece of text and where it lies (byte offsets) in its source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    /// The token id.
    pub id: u32,
    /// Byte range of the piece in the text.
    pub span: (usize, usize),
}

impl BuiltinTokenizer {
    /// A tokenizer over `vocab_size` ids whose words use ids from `first_word_id` on,
    /// never producing any of `specials`.
    pub fn new(vocab_size: u32, first_word_id: u32, specials: Vec<u32>) -> Self {
        Self {
            vocab_size: vocab_size.max(first_word_id + 2),
            first_word_id,
            specials,
        }
    }

    /// Splits text into words (runs of letters and digits) and single punctuation marks.
    pub fn pieces(&self, text: &str) -> Vec<Piece> {
        let mut out = Vec::new();
        let mut start: Option<usize> = None;
        for (i, c) in text.char_indices() {
            if c.is_alphanumeric() {
                start.get_or_insert(i);
                continue;
            }
            if let Some(s) = start.take() {
                out.push(self.piece(text, s, i));
            }
            if !c.is_whitespace() {
                out.push(self.piece(text, i, i + c.len_utf8()));
            }
        }
        if let Some(s) = start {
            out.push(self.piece(text, s, text.len()));
        }
        out
    }

    fn piece(&self, text: &str, start: usize, end: usize) -> Piece {
        let word = text[start..end].to_lowercase();
        Piece {
            id: self.word_id(&word),
            span: (start, end),
        }
    }

    /// The id of one (lower-case) word.
    fn word_id(&self, word: &str) -> u32 {
        if let Some(id) = parse_pseudo_word(word)
            && id >= self.first_word_id
            && id < self.vocab_size
            && !self.specials.contains(&id)
        {
            return id;
        }
        let range = u64::from(self.vocab_size - self.first_word_id);
        let mut h = fnv1a(word);
        loop {
            let id = self.first_word_id + (h % range) as u32;
            if !self.specials.contains(&id) {
                return id;
            }
            h = h.wrapping_mul(31).wrapping_add(7);
        }
    }

    /// Token ids of a text (no special tokens).
    pub fn encode(&self, text: &str) -> Vec<u32> {
        self.pieces(text).into_iter().map(|p| p.id).collect()
    }

    /// Text of token ids: pseudo-words separated by spaces, special tokens left out.
    pub fn decode(&self, ids: &[u32]) -> String {
        let words: Vec<String> = ids
            .iter()
            .filter(|id| !self.specials.contains(id))
            .map(|&id| pseudo_word(id))
            .collect();
        words.join(" ")
    }
}

/// The pronounceable word that stands for an id (base-70 syllables, least significant first).
pub fn pseudo_word(id: u32) -> String {
    let mut out = String::new();
    let mut n = id;
    loop {
        let s = n % SYLLABLES;
        out.push(CONSONANTS[(s / 5) as usize] as char);
        out.push(VOWELS[(s % 5) as usize] as char);
        n /= SYLLABLES;
        if n == 0 {
            return out;
        }
    }
}

/// The id a pseudo-word stands for, if it is one in canonical form.
fn parse_pseudo_word(word: &str) -> Option<u32> {
    let bytes = word.as_bytes();
    if bytes.is_empty() || !bytes.len().is_multiple_of(2) || bytes.len() > 10 {
        return None;
    }
    let mut id: u64 = 0;
    let mut scale: u64 = 1;
    let mut last = 0;
    for pair in bytes.chunks(2) {
        let c = CONSONANTS.iter().position(|&x| x == pair[0])? as u64;
        let v = VOWELS.iter().position(|&x| x == pair[1])? as u64;
        last = c * 5 + v;
        id += last * scale;
        scale *= u64::from(SYLLABLES);
    }
    if bytes.len() > 2 && last == 0 {
        return None;
    }
    u32::try_from(id).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudo_words_round_trip() {
        let t = BuiltinTokenizer::new(50257, 0, vec![50256]);
        for id in [0, 1, 69, 70, 4899, 50255] {
            assert_eq!(t.encode(&pseudo_word(id)), vec![id]);
        }
        let ids = t.encode("Hello, world! hello");
        assert_eq!(ids.len(), 5);
        assert_eq!(ids[0], ids[4]);
        assert_eq!(t.encode(&t.decode(&ids)), ids);
    }

    #[test]
    fn pieces_keep_offsets() {
        let t = BuiltinTokenizer::new(30522, 1000, vec![]);
        let text = "Paris is big.";
        let spans: Vec<_> = t
            .pieces(text)
            .iter()
            .map(|p| &text[p.span.0..p.span.1])
            .collect();
        assert_eq!(spans, ["Paris", "is", "big", "."]);
    }
}
