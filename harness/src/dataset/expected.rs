//! A row's reference answers (`fields.expected`): a label, a summary, or a list of answers,
//! read from a column or from a field nested in one (`answers.text`).

use super::Row;
use serde_json::Value;

/// The reference answers of `row` at `path`: a column, or a dotted path into a column
/// holding JSON (JSONL objects, Parquet groups and lists, CSV cells with JSON). A list
/// gives its items, a scalar one answer, `null` none, and so does a column the row lacks
/// while other rows have it (`known`: a null Parquet cell, a JSONL row without the key).
/// The error says what is missing, or that an object needs a dotted path into it.
pub fn expected_of(
    row: &Row,
    path: &str,
    known: &dyn Fn(&str) -> bool,
) -> Result<Vec<String>, String> {
    if let Some(cell) = row.get(path) {
        return match serde_json::from_str::<Value>(cell) {
            Ok(v @ (Value::Array(_) | Value::Object(_) | Value::Null)) => answers(&v, path),
            _ => Ok(vec![cell.clone()]),
        };
    }
    let mut parts = path.split('.');
    let column = parts.next().unwrap_or(path);
    let Some(cell) = row.get(column) else {
        if known(column) {
            return Ok(Vec::new());
        }
        return Err(format!("has no field `{column}`"));
    };
    let Ok(mut value) = serde_json::from_str::<Value>(cell) else {
        return Err(format!(
            "field `{column}` is not JSON, so `{path}` cannot be read inside it"
        ));
    };
    for key in parts {
        value = step(value, key).ok_or_else(|| format!("has no `{path}`"))?;
    }
    answers(&value, path)
}

/// `key` of an object, or of each object of a list (SQuAD's `answers` as a list of
/// `{text, answer_start}`); `null` stays `null`.
fn step(value: Value, key: &str) -> Option<Value> {
    match value {
        Value::Null => Some(Value::Null),
        Value::Object(mut map) => map.remove(key),
        Value::Array(items) => items
            .into_iter()
            .map(|item| step(item, key))
            .collect::<Option<Vec<_>>>()
            .map(Value::Array),
        _ => None,
    }
}

/// The answers a JSON value holds: a string as is, a number or boolean as written, a list
/// item by item, `null` none; an object is an error naming a dotted path to use instead.
fn answers(value: &Value, path: &str) -> Result<Vec<String>, String> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => {
            let mut out = Vec::new();
            for item in items {
                out.extend(answers(item, path)?);
            }
            Ok(out)
        }
        Value::Object(map) => {
            let keys: Vec<&str> = map.keys().map(String::as_str).collect();
            let example = if keys.contains(&"text") {
                "text"
            } else {
                keys.first().copied().unwrap_or("text")
            };
            Err(format!(
                "holds an object at `{path}` (keys: {}), not answers: name the field inside it, e.g. expected = \"{path}.{example}\"",
                keys.join(", ")
            ))
        }
        other => Ok(vec![other.to_string()]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none(_: &str) -> bool {
        false
    }

    fn row(pairs: &[(&str, &str)]) -> Row {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_column_gives_one_answer_and_a_json_list_several() {
        let r = row(&[("label", "1"), ("refs", r#"["a", "b"]"#), ("s", "[sic] ok")]);
        assert_eq!(expected_of(&r, "label", &none).expect("label"), vec!["1"]);
        assert_eq!(
            expected_of(&r, "refs", &none).expect("list"),
            vec!["a", "b"]
        );
        assert_eq!(expected_of(&r, "s", &none).expect("text"), vec!["[sic] ok"]);
    }

    #[test]
    fn a_nested_path_reads_squad_answers_in_both_layouts() {
        let columns = row(&[(
            "answers",
            r#"{"text": ["Denver Broncos", "Broncos"], "answer_start": [177, 184]}"#,
        )]);
        assert_eq!(
            expected_of(&columns, "answers.text", &none).expect("nested"),
            vec!["Denver Broncos", "Broncos"]
        );
        let records = row(&[(
            "answers",
            r#"[{"text": "a", "answer_start": 1}, {"text": "b", "answer_start": 2}]"#,
        )]);
        assert_eq!(
            expected_of(&records, "answers.text", &none).expect("each item"),
            vec!["a", "b"]
        );
        assert_eq!(
            expected_of(&columns, "answers.answer_start", &none).expect("numbers"),
            vec!["177", "184"]
        );
    }

    #[test]
    fn null_and_a_missing_known_column_are_no_answers_and_an_object_needs_a_path() {
        let r = row(&[
            ("label", "null"),
            ("answers", r#"{"text": ["a"], "answer_start": [0]}"#),
        ]);
        assert_eq!(
            expected_of(&r, "label", &none).expect("null"),
            Vec::<String>::new()
        );
        let known = |c: &str| c == "label2";
        assert_eq!(
            expected_of(&r, "label2", &known).expect("a null Parquet cell"),
            Vec::<String>::new()
        );
        let e = expected_of(&r, "answers", &none).expect_err("an object");
        assert!(e.contains("e.g. expected = \"answers.text\""), "{e}");
        let nested = row(&[("answers", r#"{"text": null}"#)]);
        assert_eq!(
            expected_of(&nested, "answers.text", &none).expect("null inside"),
            Vec::<String>::new()
        );
    }

    #[test]
    fn what_is_missing_is_said() {
        let r = row(&[("answers", r#"{"text": []}"#), ("plain", "x")]);
        assert_eq!(
            expected_of(&r, "answers.text", &none).expect("empty"),
            Vec::<String>::new()
        );
        assert!(
            expected_of(&r, "answers.label", &none)
                .expect_err("absent")
                .contains("has no `answers.label`")
        );
        assert!(
            expected_of(&r, "label", &none)
                .expect_err("absent")
                .contains("no field `label`")
        );
        assert!(
            expected_of(&r, "plain.x", &none)
                .expect_err("not JSON")
                .contains("not JSON")
        );
    }
}
