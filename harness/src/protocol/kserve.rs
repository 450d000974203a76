//! KServe v2 / Open Inference Protocol `POST /v2/models/{name}/infer` (Triton, MLServer).

use super::ProtocolKind;
use super::{Input, Parsed, Prepared, Protocol, ProtocolError};
use crate::dataset::Row;
use serde_json::{Value, json};

/// `kserve-v2`: `POST /v2/models/{name}/infer` with one BYTES tensor.
#[derive(Clone, Copy, Debug)]
pub struct KserveV2;

impl Protocol for KserveV2 {
    fn kind(&self) -> ProtocolKind {
        ProtocolKind::KserveV2
    }
    fn prepare(&self, input: &Input<'_>, _row: &Row) -> Result<Prepared, ProtocolError> {
        Ok(infer(input))
    }
    fn parse(&self, answer: &Value) -> Result<Parsed, ProtocolError> {
        parse(answer)
    }
    fn generates(&self) -> bool {
        false
    }
}

/// Name of the input tensor holding the text.
pub const TEXT_INPUT: &str = "text";

/// One BYTES tensor of shape [1] holding the text.
fn infer(input: &Input<'_>) -> Prepared {
    Prepared {
        path: format!("/v2/models/{}/infer", input.model),
        body: json!({
            "inputs": [{ "name": TEXT_INPUT, "shape": [1], "datatype": "BYTES", "data": [input.text] }]
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
        ..Parsed::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_and_answer_follow_the_v2_protocol() {
        let p = infer(&Input {
            model: "clf",
            text: "good",
            generation: None,
        });
        assert_eq!(p.path, "/v2/models/clf/infer");
        assert_eq!(p.body["inputs"][0]["datatype"], "BYTES");
        assert_eq!(p.body["inputs"][0]["data"], json!(["good"]));
        let v = json!({"model_name": "clf", "outputs": [
            {"name": "label", "shape": [1], "datatype": "BYTES", "data": ["POSITIVE"]},
            {"name": "score", "shape": [1], "datatype": "FP32", "data": [0.98]}]});
        assert_eq!(parse(&v).expect("valid").output_chars, 9);
        assert!(parse(&json!({"outputs": []})).is_err());
    }
}
