//! The sizes that set the arithmetic cost of a generator step.

/// The sizes that set a decoder step's arithmetic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecoderDims {
    /// Transformer blocks.
    pub layers: usize,
    /// Hidden size.
    pub width: usize,
    /// Inner size of the MLP.
    pub inner: usize,
    /// Vocabulary size (the LM head's output).
    pub vocab: usize,
}

/// `heads` when a layer `hidden` wide splits into that many equal heads; otherwise what to
/// fix in `config.json`, naming both keys.
pub fn attention_heads(
    hidden: usize,
    heads: usize,
    hidden_key: &str,
    heads_key: &str,
) -> Result<usize, String> {
    if heads == 0 || !hidden.is_multiple_of(heads) {
        return Err(format!(
            "`{heads_key}` is {heads}: it must be at least 1 and divide `{hidden_key}` \
             ({hidden}) into equal heads"
        ));
    }
    Ok(heads)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_must_split_the_width_evenly() {
        assert_eq!(
            attention_heads(512, 8, "hidden_size", "num_attention_heads"),
            Ok(8)
        );
        for heads in [0, 3] {
            let e = attention_heads(512, heads, "hidden_size", "num_attention_heads")
                .expect_err("refused");
            assert!(e.contains("`num_attention_heads` is"), "{e}");
            assert!(e.contains("(512)"), "{e}");
        }
    }
}
