//! KServe v2 / Open Inference Protocol `POST /v2/models/{name}/infer` (Triton, MLServer).

use super::ProtocolKind;
use super::{Input, Parsed, Prepared, Protocol, ProtocolError};
use crate::dataset::Row;
use serde_json::{Value, json};

/// `kserve-v2`: `POST /v2/models/{name}/infer` with one BYTES tensor, named
/// [`TEXT_INPUT`] unless the suite's `kserve_input` names it otherwise.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KserveV2 {
    /// Name of the input tensor holding the text.
    pub input: String,
}

impl Default for KserveV2 {
    fn default() -> Self {
        Self::with_input(TEXT_INPUT)
    }
}

impl KserveV2 {
    /// The protocol with its text tensor named `input`.
    pub fn with_input(input: &str) -> Self {
        Self {
            input: input.to_string(),
        }
    }
}

impl Protocol for KserveV2 {
    fn kind(&self) -> ProtocolKind {
        ProtocolKind::KserveV2
    }
    fn prepare(&self, input: &Input<'_>, _row: &Row) -> Result<Prepared, ProtocolError> {
        Ok(infer(input, &self.input))
    }
    fn parse(&self, answer: &Value) -> Result<Parsed, ProtocolError> {
        parse(answer)
    }
    fn generates(&self) -> bool {
        false
    }
}

/// Default name of the input tensor holding the text.
pub const TEXT_INPUT: &str = "text";

/// One BYTES tensor of shape [1], named `name`, holding the text.
fn infer(input: &Input<'_>, name: &str) -> Prepared {
    Prepared {
        path: format!("/v2/models/{}/infer", input.model),
        body: json!({
            "inputs": [{ "name": name, "shape": [1], "datatype": "BYTES", "data": [input.text] }]
        }),
        pins_output_length: false,
        stream: false,
    }
}

/// `{model_name, outputs:[{name, shape, datatype, data}]}`; `output_chars` counts data items.
fn parse(v: &Value) -> Result<Parsed, ProtocolError> {
    let outputs = v
        .get("outputs")
        .and_then(Value::as_array)
        .filter(|o| !o.is_empty())
        .ok_or(ProtocolError::Shape("answer has no `outputs` tensors"))?;
    let mut count = 0;
    // The first string item of the first tensor that holds strings (a label tensor).
    let answer = outputs
        .iter()
        .filter_map(|o| o.get("data").and_then(Value::as_array))
        .find_map(|data| data.iter().find_map(Value::as_str))
        .map(str::to_string);
    for o in outputs {
        let data = o
            .get("data")
            .and_then(Value::as_array)
            .ok_or(ProtocolError::Shape("output tensor without a `data` array"))?;
        count += data
            .iter()
            .map(|d| d.as_str().map_or(1, |s| s.chars().count() as u64))
            .sum::<u64>();
    }
    Ok(Parsed {
        output_chars: count,
        answer,
        ..Parsed::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_and_answer_follow_the_v2_protocol() {
        let p = infer(
            &Input {
                model: "clf",
                text: "good",
                generation: None,
            },
            TEXT_INPUT,
        );
        assert_eq!(p.path, "/v2/models/clf/infer");
        assert_eq!(p.body["inputs"][0]["name"], "text");
        assert_eq!(p.body["inputs"][0]["datatype"], "BYTES");
        assert_eq!(p.body["inputs"][0]["data"], json!(["good"]));
        let v = json!({"model_name": "clf", "outputs": [
            {"name": "label", "shape": [1], "datatype": "BYTES", "data": ["POSITIVE"]},
            {"name": "score", "shape": [1], "datatype": "FP32", "data": [0.98]}]});
        assert_eq!(parse(&v).expect("valid").output_chars, 9);
        assert!(parse(&json!({"outputs": []})).is_err());
    }

    #[test]
    fn the_input_tensor_takes_the_name_the_suite_gives() {
        let input = Input {
            model: "clf",
            text: "good",
            generation: None,
        };
        let p = KserveV2::with_input("INPUT__0")
            .prepare(&input, &Row::new())
            .expect("prepares");
        assert_eq!(p.body["inputs"][0]["name"], "INPUT__0");
        let p = KserveV2::default()
            .prepare(&input, &Row::new())
            .expect("prepares");
        assert_eq!(p.body["inputs"][0]["name"], TEXT_INPUT);
    }
}
