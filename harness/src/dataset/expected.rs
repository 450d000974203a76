//! A row's reference answers (`fields.expected`): a label, a summary, or a list of answers,
//! read from a column or from a field nested in one (`answers.text`).

use super::Row;
use serde_json::Value;

/// The reference answers of `row` at `path`: a column, or a dotted path into a column
/// holding JSON (JSONL objects, Parquet groups and lists, CSV cells with JSON). A list
/// gives its items, a scalar one answer, `null` none; the error says what is missing.
pub fn expected_of(row: &Row, path: &str) -> Result<Vec<String>, String> {
    if let Some(cell) = row.get(path) {
        return Ok(match serde_json::from_str::<Value>(cell) {
            Ok(v @ Value::Array(_)) => answers(&v),
            _ => vec![cell.clone()],
        });
    }
    let mut parts = path.split('.');
    let column = parts.next().unwrap_or(path);
    let Some(cell) = row.get(column) else {
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
    Ok(answers(&value))
}

/// `key` of an object, or of each object of a list (SQuAD's `answers` as a list of
/// `{text, answer_start}`).
fn step(value: Value, key: &str) -> Option<Value> {
    match value {
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
/// item by item, `null` none.
fn answers(value: &Value) -> Vec<String> {
    match value {
        Value::Null => Vec::new(),
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items.iter().flat_map(answers).collect(),
        other => vec![other.to_string()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(pairs: &[(&str, &str)]) -> Row {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_column_gives_one_answer_and_a_json_list_several() {
        let r = row(&[("label", "1"), ("refs", r#"["a", "b"]"#), ("s", "[sic] ok")]);
        assert_eq!(expected_of(&r, "label").expect("label"), vec!["1"]);
        assert_eq!(expected_of(&r, "refs").expect("list"), vec!["a", "b"]);
        assert_eq!(expected_of(&r, "s").expect("text"), vec!["[sic] ok"]);
    }

    #[test]
    fn a_nested_path_reads_squad_answers_in_both_layouts() {
        let columns = row(&[(
            "answers",
            r#"{"text": ["Denver Broncos", "Broncos"], "answer_start": [177, 184]}"#,
        )]);
        assert_eq!(
            expected_of(&columns, "answers.text").expect("nested"),
            vec!["Denver Broncos", "Broncos"]
        );
        let records = row(&[(
            "answers",
            r#"[{"text": "a", "answer_start": 1}, {"text": "b", "answer_start": 2}]"#,
        )]);
        assert_eq!(
            expected_of(&records, "answers.text").expect("each item"),
            vec!["a", "b"]
        );
        assert_eq!(
            expected_of(&columns, "answers.answer_start").expect("numbers"),
            vec!["177", "184"]
        );
    }

    #[test]
    fn what_is_missing_is_said() {
        let r = row(&[("answers", r#"{"text": []}"#), ("plain", "x")]);
        assert_eq!(
            expected_of(&r, "answers.text").expect("empty"),
            Vec::<String>::new()
        );
        assert!(
            expected_of(&r, "answers.label")
                .expect_err("absent")
                .contains("has no `answers.label`")
        );
        assert!(
            expected_of(&r, "label")
                .expect_err("absent")
                .contains("no field `label`")
        );
        assert!(
            expected_of(&r, "plain.x")
                .expect_err("not JSON")
                .contains("not JSON")
        );
    }
}
