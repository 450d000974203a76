//! Prompt templates with `{field}` placeholders (`{{` and `}}` for literal braces).

use std::collections::BTreeMap;

/// A parsed template: literal text and placeholders in order.
#[derive(Clone, Debug, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Clone, Debug, PartialEq)]
enum Part {
    Text(String),
    Field(String),
}

/// Why a template could not be parsed.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum TemplateError {
    /// A `{` without its `}`.
    #[error(
        "unclosed `{{` at character {0}: close it with `}}`, or write `{{{{` for a literal brace"
    )]
    Unclosed(usize),
    /// A `}` without its `{`.
    #[error("stray `}}` at character {0}: write `}}}}` for a literal brace")]
    Stray(usize),
    /// `{}` with no name.
    #[error("empty placeholder `{{}}` at character {0}: name a field, e.g. `{{text}}`")]
    Empty(usize),
}

impl Template {
    /// Parses a template.
    pub fn parse(text: &str) -> Result<Self, TemplateError> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = text.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            match c {
                '{' if chars.peek().map(|&(_, n)| n) == Some('{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek().map(|&(_, n)| n) == Some('}') => {
                    chars.next();
                    literal.push('}');
                }
                '{' => {
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some((_, '}')) => break,
                            Some((_, ch)) => name.push(ch),
                            None => return Err(TemplateError::Unclosed(i)),
                        }
                    }
                    let name = name.trim().to_string();
                    if name.is_empty() {
                        return Err(TemplateError::Empty(i));
                    }
                    if !literal.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut literal)));
                    }
                    parts.push(Part::Field(name));
                }
                '}' => return Err(TemplateError::Stray(i)),
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Text(literal));
        }
        Ok(Self { parts })
    }

    /// The placeholder names, in order of appearance.
    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Field(f) => Some(f.as_str()),
            Part::Text(_) => None,
        })
    }

    /// Fills the placeholders from `values`; the first missing name is the error.
    pub fn render(&self, values: &BTreeMap<String, String>) -> Result<String, String> {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Field(f) => out.push_str(values.get(f).ok_or_else(|| f.clone())?),
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> BTreeMap<String, String> {
        [("text", "great film"), ("question", "who")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn renders_fields_and_escaped_braces() {
        let t = Template::parse("what is the binary sentiment of the following sentence? {text}")
            .expect("valid");
        assert_eq!(
            t.render(&values()).expect("fields present"),
            "what is the binary sentiment of the following sentence? great film"
        );
        let t = Template::parse("{{literal}} {question}?").expect("valid");
        assert_eq!(t.render(&values()).expect("present"), "{literal} who?");
        assert_eq!(t.fields().collect::<Vec<_>>(), vec!["question"]);
    }

    #[test]
    fn reports_bad_templates_and_missing_fields() {
        assert_eq!(Template::parse("a {text"), Err(TemplateError::Unclosed(2)));
        assert_eq!(Template::parse("a } b"), Err(TemplateError::Stray(2)));
        assert_eq!(Template::parse("{}"), Err(TemplateError::Empty(0)));
        let t = Template::parse("{context}").expect("valid");
        assert_eq!(t.render(&values()), Err("context".to_string()));
    }
}
