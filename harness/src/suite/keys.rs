//! Where a value is in a suite file's text, for errors about values read without spans.

use std::ops::Range;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// One step of a key path: a table key or an index into an array (of tables).
#[derive(Clone, Copy, Debug)]
pub(super) enum Step<'a> {
    /// A key of a table.
    Key(&'a str),
    /// A position in an array, e.g. the second `[[models]]`.
    Index(usize),
}

/// The byte span of the value at `path` in `text`, or `None` when it is not written there.
pub(super) fn value_span(text: &str, path: &[Step<'_>]) -> Option<Range<usize>> {
    let doc = DeTable::parse(text).ok()?;
    let (first, rest) = path.split_first()?;
    let Step::Key(first) = first else {
        return None;
    };
    let mut at: &Spanned<DeValue<'_>> = doc.get_ref().get(*first)?;
    for step in rest {
        at = match step {
            Step::Key(k) => at.get_ref().get(*k)?,
            Step::Index(i) => at.get_ref().get(*i)?,
        };
    }
    Some(at.span())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_found_in_tables_and_arrays_of_tables() {
        let text = "[schedule]\nseed = 1\n[[models]]\nname = \"a\"\n[[models]]\nname = \"b\"\nparameters = 7\n";
        let span = value_span(text, &[Step::Key("schedule"), Step::Key("seed")]).expect("seed");
        assert_eq!(&text[span], "1");
        let span = value_span(
            text,
            &[Step::Key("models"), Step::Index(1), Step::Key("parameters")],
        )
        .expect("parameters");
        assert_eq!(&text[span], "7");
        assert_eq!(
            value_span(text, &[Step::Key("carbon"), Step::Key("pue")]),
            None
        );
    }
}
