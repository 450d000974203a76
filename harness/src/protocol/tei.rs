//! Hugging Face Text Embeddings Inference `POST /predict` and `POST /embed`.

use super::ProtocolKind;
use super::{Input, Parsed, Prepared, Protocol, ProtocolError};
use crate::dataset::Row;
use serde_json::{Value, json};

/// `tei-predict`: `POST /predict` (sequence classification).
#[derive(Clone, Copy, Debug)]
pub struct TeiPredict;

/// `tei-embed`: `POST /embed`.
#[derive(Clone, Copy, Debug)]
pub struct TeiEmbed;

impl Protocol for TeiPredict {
    fn kind(&self) -> ProtocolKind {
        ProtocolKind::TeiPredict
    }
    fn prepare(&self, input: &Input<'_>, _row: &Row) -> Result<Prepared, ProtocolError> {
        Ok(predict(input))
    }
    fn parse(&self, answer: &Value) -> Result<Parsed, ProtocolError> {
        parse_predict(answer)
    }
    fn generates(&self) -> bool {
        false
    }
}

impl Protocol for TeiEmbed {
    fn kind(&self) -> ProtocolKind {
        ProtocolKind::TeiEmbed
    }
    fn prepare(&self, input: &Input<'_>, _row: &Row) -> Result<Prepared, ProtocolError> {
        Ok(embed(input))
    }
    fn parse(&self, answer: &Value) -> Result<Parsed, ProtocolError> {
        parse_embed(answer)
    }
    fn generates(&self) -> bool {
        false
    }
}

/// `{inputs}` to `/predict` (sequence classification).
fn predict(input: &Input<'_>) -> Prepared {
    Prepared {
        path: "/predict".into(),
        body: json!({ "inputs": input.text }),
        pins_output_length: false,
        stream: false,
    }
}

/// `{inputs}` to `/embed`.
fn embed(input: &Input<'_>) -> Prepared {
    Prepared {
        path: "/embed".into(),
        body: json!({ "inputs": input.text }),
        pins_output_length: false,
        stream: false,
    }
}

/// `[{label, score}, ...]` (or nested one level for batched inputs).
fn parse_predict(v: &Value) -> Result<Parsed, ProtocolError> {
    let list = match v.as_array() {
        Some(a) if a.first().is_some_and(Value::is_array) => a[0].as_array(),
        other => other,
    }
    .ok_or(ProtocolError::Shape(
        "expected a JSON array of {label, score}",
    ))?;
    let mut chars = 0;
    let mut top: Option<(&str, f64)> = None;
    for item in list {
        let label = item
            .get("label")
            .and_then(Value::as_str)
            .ok_or(ProtocolError::Shape("prediction without a string `label`"))?;
        let score = item
            .get("score")
            .and_then(Value::as_f64)
            .ok_or(ProtocolError::Shape("prediction without a numeric `score`"))?;
        chars += label.chars().count() as u64;
        if top.is_none_or(|(_, best)| score > best) {
            top = Some((label, score));
        }
    }
    if list.is_empty() {
        return Err(ProtocolError::Shape("empty list of predictions"));
    }
    Ok(Parsed {
        output_chars: chars,
        answer: top.map(|(label, _)| label.to_string()),
        ..Parsed::default()
    })
}

/// `[[f32, ...]]`: one embedding per input; `output_chars` counts its values.
fn parse_embed(v: &Value) -> Result<Parsed, ProtocolError> {
    let first = v
        .pointer("/0")
        .and_then(Value::as_array)
        .ok_or(ProtocolError::Shape("expected a JSON array of embeddings"))?;
    if first.is_empty() || !first.iter().all(Value::is_number) {
        return Err(ProtocolError::Shape("embedding is empty or not numeric"));
    }
    Ok(Parsed {
        output_chars: first.len() as u64,
        ..Parsed::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predictions_and_embeddings_parse() {
        let v = json!([{"label": "POSITIVE", "score": 0.9}, {"label": "NEGATIVE", "score": 0.1}]);
        assert_eq!(parse_predict(&v).expect("valid").output_chars, 16);
        assert!(parse_predict(&json!([[{"label": "A", "score": 1.0}]])).is_ok());
        assert!(parse_predict(&json!([{"label": "A"}])).is_err());
        assert_eq!(
            parse_embed(&json!([[0.1, 0.2, 0.3]]))
                .expect("valid")
                .output_chars,
            3
        );
        assert!(parse_embed(&json!([["x"]])).is_err());
        let p = predict(&Input {
            model: "m",
            text: "t",
            generation: None,
        });
        assert_eq!(
            (p.path.as_str(), &p.body),
            ("/predict", &json!({"inputs": "t"}))
        );
    }
}
