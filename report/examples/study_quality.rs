//! Writes a study quality table from the PHP study's `eval/performance.csv` (used by
//! `suites/php/reference/derive.sh`; `report/tests/php2023.rs` checks the committed table).
//!
//!     cargo run -p joulebench-report --example study_quality -- PERFORMANCE_CSV OUT_CSV

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, output] = args.as_slice() else {
        eprintln!("usage: study_quality PERFORMANCE_CSV OUT_CSV");
        return std::process::ExitCode::from(2);
    };
    let result = records::study_quality::from_php_performance(std::path::Path::new(input))
        .and_then(|rows| records::study_quality::write(std::path::Path::new(output), &rows));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
