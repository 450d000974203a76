//! Scores predictions against references with the quality scorers, as JSON Lines.
//!
//! Reads JSON Lines from stdin, each `{"prediction": "...", "references": ["...", ...]}`
//! (at least one reference; blank lines are skipped), and writes one line per input to
//! stdout: `{"squad_em": x, "squad_f1": x, "rouge1": x, "rouge2": x, "rougeL": x}`, SQuAD
//! v1.1 maximised over all references and ROUGE via `score_multi`. Exits 1 naming the line
//! on malformed input. `bench/quality_check.sh` uses it to compare against the Python
//! reference implementations.
//!
//! `cargo run --release -p joulebench-report --example score_pairs < pairs.jsonl`

use joulebench_report as report;
use report::quality::{rouge, squad};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufWriter, Write};
use std::process::ExitCode;

/// One input line.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Pair {
    prediction: String,
    references: Vec<String>,
}

/// One output line.
#[derive(Serialize)]
struct Scores {
    squad_em: f64,
    squad_f1: f64,
    rouge1: f64,
    rouge2: f64,
    #[serde(rename = "rougeL")]
    rouge_l: f64,
}

fn score_line(line: &str) -> Result<Scores, String> {
    let pair: Pair = serde_json::from_str(line).map_err(|e| e.to_string())?;
    let squad = squad::score(&pair.prediction, &pair.references);
    let rouge = rouge::score_multi(&pair.prediction, &pair.references);
    let (Some(squad), Some(rouge)) = (squad, rouge) else {
        return Err("\"references\" must hold at least one string".to_owned());
    };
    Ok(Scores {
        squad_em: squad.exact_match,
        squad_f1: squad.f1,
        rouge1: rouge.rouge1,
        rouge2: rouge.rouge2,
        rouge_l: rouge.rouge_l,
    })
}

fn main() -> ExitCode {
    let stdin = std::io::stdin().lock();
    let mut out = BufWriter::new(std::io::stdout().lock());
    for (index, line) in stdin.lines().enumerate() {
        let number = index + 1;
        let line = match line {
            Ok(line) => line,
            Err(e) => {
                eprintln!("score_pairs: stdin line {number}: {e}");
                return ExitCode::FAILURE;
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        let scores = match score_line(&line) {
            Ok(scores) => scores,
            Err(e) => {
                eprintln!(
                    "score_pairs: stdin line {number}: {e} (expected {{\"prediction\": \"...\", \"references\": [\"...\", ...]}})"
                );
                return ExitCode::FAILURE;
            }
        };
        let written = serde_json::to_writer(&mut out, &scores)
            .map_err(std::io::Error::from)
            .and_then(|()| out.write_all(b"\n"));
        if let Err(e) = written {
            eprintln!("score_pairs: writing stdout: {e}");
            return ExitCode::FAILURE;
        }
    }
    if let Err(e) = out.flush() {
        eprintln!("score_pairs: writing stdout: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
