//! The generic protocol: the suite's JSON body template and JSON pointers into the answer.
//!
//! Placeholders live inside the template's JSON strings, so filled values are always
//! JSON-escaped: `{prompt}` (the rendered task template), `{model}` (the served name),
//! `{max_tokens}` (a number when it is the whole string), and any dataset field.

use super::ProtocolKind;
use super::{Input, Parsed, Prepared, Protocol, ProtocolError, u64_at};
use crate::dataset::Row;
use crate::template::Template;
use records::labels::ModelClass;
use serde_json::Value;

/// `json-template`: a request template and where to find the output (and token counts) in
/// the answer.
#[derive(Clone, Debug, PartialEq)]
pub struct JsonTemplate {
    path: String,
    body: Value,
    output: String,
    prompt_tokens: Option<String>,
    completion_tokens: Option<String>,
}

/// Which key of a JSON template is wrong, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct TemplateKeyError {
    /// Key under `[servers.NAME.json_template]`.
    pub key: &'static str,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl JsonTemplate {
    /// Checks and builds a template: `path` starts with `/`, `body` is JSON whose strings
    /// are valid templates, and every pointer is a JSON pointer (`/a/0/b`).
    pub fn new(
        path: &str,
        body: &str,
        output: &str,
        prompt_tokens: Option<&str>,
        completion_tokens: Option<&str>,
    ) -> Result<Self, TemplateKeyError> {
        let err = |key, message: String| TemplateKeyError { key, message };
        if !path.starts_with('/') {
            return Err(err(
                "path",
                format!("expected a path starting with `/`, e.g. \"/predict\", found {path:?}"),
            ));
        }
        let body: Value = serde_json::from_str(body).map_err(|e| {
            err("body", format!("not JSON ({e}); put placeholders inside strings: '{{\"inputs\": \"{{prompt}}\"}}'"))
        })?;
        check_strings(&body).map_err(|m| err("body", m))?;
        for (key, pointer) in [
            ("output", Some(output)),
            ("prompt_tokens", prompt_tokens),
            ("completion_tokens", completion_tokens),
        ] {
            if let Some(p) = pointer.filter(|p| !p.is_empty() && !p.starts_with('/')) {
                return Err(err(
                    key,
                    format!("expected a JSON pointer such as \"/choices/0/text\", found {p:?}"),
                ));
            }
        }
        Ok(Self {
            path: path.to_string(),
            body,
            output: output.to_string(),
            prompt_tokens: prompt_tokens.map(str::to_string),
            completion_tokens: completion_tokens.map(str::to_string),
        })
    }
}

impl Protocol for JsonTemplate {
    fn kind(&self) -> ProtocolKind {
        ProtocolKind::JsonTemplate
    }

    /// The body for `input`, placeholders filled from it and from `row`.
    fn prepare(&self, input: &Input<'_>, row: &Row) -> Result<Prepared, ProtocolError> {
        let mut values = row.clone();
        values.insert("prompt".into(), input.text.to_string());
        values.insert("model".into(), input.model.to_string());
        let max_tokens = input.generation.map(|g| g.max_tokens);
        if let Some(m) = max_tokens {
            values.insert("max_tokens".into(), m.to_string());
        }
        Ok(Prepared {
            path: self.path.clone(),
            body: fill(&self.body, &values, max_tokens)?,
            pins_output_length: false,
            stream: false,
        })
    }

    /// Reads the output (a string counts characters, an array its items) and token counts.
    fn parse(&self, v: &Value) -> Result<Parsed, ProtocolError> {
        let output = v
            .pointer(&self.output)
            .ok_or_else(|| ProtocolError::NothingAt(self.output.clone()))?;
        let output_chars = match output {
            Value::String(s) => s.chars().count() as u64,
            Value::Array(items) => items
                .iter()
                .map(|i| i.as_str().map_or(1, |s| s.chars().count() as u64))
                .sum(),
            Value::Null => return Err(ProtocolError::NullAt(self.output.clone())),
            _ => 1,
        };
        // The answer: the string, or an array's first string item.
        let answer = match output {
            Value::String(s) => Some(s.clone()),
            Value::Array(items) => items.iter().find_map(Value::as_str).map(str::to_string),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        };
        Ok(Parsed {
            output_chars,
            answer,
            prompt_tokens: self.prompt_tokens.as_deref().and_then(|p| u64_at(v, p)),
            completion_tokens: self.completion_tokens.as_deref().and_then(|p| u64_at(v, p)),
        })
    }

    /// The template's `{max_tokens}` reaches generators.
    fn generates(&self) -> bool {
        true
    }

    /// A task-specific model behind a template is an encoder (a classifier, an extractive
    /// QA model), which answers in one pass; a general-purpose one generates `max_tokens`.
    fn passes_per_request(&self, class: ModelClass, max_tokens: u32) -> u32 {
        match class {
            ModelClass::TaskSpecific => 1,
            ModelClass::GeneralPurpose => max_tokens.max(1),
        }
    }
}

fn check_strings(v: &Value) -> Result<(), String> {
    match v {
        Value::String(s) => Template::parse(s)
            .map(|_| ())
            .map_err(|e| format!("in string {s:?}: {e}")),
        Value::Array(items) => items.iter().try_for_each(check_strings),
        Value::Object(map) => map.values().try_for_each(check_strings),
        _ => Ok(()),
    }
}

fn fill(v: &Value, values: &Row, max_tokens: Option<u32>) -> Result<Value, ProtocolError> {
    Ok(match v {
        Value::String(s) if s.trim() == "{max_tokens}" && max_tokens.is_some() => {
            Value::from(max_tokens.unwrap_or_default())
        }
        Value::String(s) => {
            let t = Template::parse(s).map_err(|e| ProtocolError::BadTemplate(e.to_string()))?;
            Value::String(
                t.render(values)
                    .map_err(|f| ProtocolError::UnknownPlaceholder(f.to_string()))?,
            )
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|i| fill(i, values, max_tokens))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, i)| Ok((k.clone(), fill(i, values, max_tokens)?)))
                .collect::<Result<_, ProtocolError>>()?,
        ),
        other => other.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::super::Generation;
    use super::*;
    use serde_json::json;

    #[test]
    fn placeholders_are_filled_json_escaped() {
        let t = JsonTemplate::new(
            "/infer",
            r#"{"instances": [{"text": "{prompt}", "id": "{label}"}], "n": "{max_tokens}", "m": "{model}"}"#,
            "/predictions/0",
            None,
            Some("/meta/tokens"),
        )
        .expect("valid");
        let row: Row = [("label".to_string(), "7".to_string())].into();
        let g = Generation {
            max_tokens: 5,
            temperature: 0.0,
            pin_output_length: true,
            stream: false,
        };
        let input = Input {
            model: "m1",
            text: "say \"hi\"\n{x}",
            generation: Some(g),
        };
        let p = t.prepare(&input, &row).expect("fills");
        assert_eq!(p.path, "/infer");
        assert_eq!(
            p.body,
            json!({"instances": [{"text": "say \"hi\"\n{x}", "id": "7"}], "n": 5, "m": "m1"})
        );
        assert!(
            serde_json::to_string(&p.body)
                .expect("json")
                .contains(r#"say \"hi\"\n{x}"#)
        );
        let parsed = t
            .parse(&json!({"predictions": ["POSITIVE"], "meta": {"tokens": 3}}))
            .expect("reads");
        assert_eq!(
            (parsed.output_chars, parsed.completion_tokens),
            (8, Some(3))
        );
        assert!(
            t.parse(&json!({"other": 1}))
                .expect_err("missing")
                .to_string()
                .contains("/predictions/0")
        );
    }

    #[test]
    fn bad_templates_name_their_key() {
        assert_eq!(
            JsonTemplate::new("infer", "{}", "/o", None, None)
                .expect_err("path")
                .key,
            "path"
        );
        assert_eq!(
            JsonTemplate::new("/i", "{prompt}", "/o", None, None)
                .expect_err("json")
                .key,
            "body"
        );
        assert_eq!(
            JsonTemplate::new("/i", r#"{"a": "{b"}"#, "/o", None, None)
                .expect_err("brace")
                .key,
            "body"
        );
        assert_eq!(
            JsonTemplate::new("/i", "{}", "o", None, None)
                .expect_err("pointer")
                .key,
            "output"
        );
        let t = JsonTemplate::new("/i", r#"{"a": "{nope}"}"#, "/o", None, None).expect("valid");
        let input = Input {
            model: "m",
            text: "t",
            generation: None,
        };
        assert!(
            t.prepare(&input, &Row::new())
                .expect_err("unknown")
                .to_string()
                .contains("{nope}")
        );
    }
}
