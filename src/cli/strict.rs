//! `--strict` for `run` and `report`: a run whose figures fail a validity check exits 4.

use std::process::ExitCode;

/// Exit code of `--strict` when some configuration fails a validity check.
pub(super) const EXIT_CHECKS_FAILED: u8 = 4;

/// With `strict`, names on stderr each configuration failing a check and returns exit 4;
/// otherwise (or when every check passes or does not apply) returns `code` unchanged.
pub(super) fn verdict(strict: bool, report: &report::Report, code: ExitCode) -> ExitCode {
    if !strict || code != ExitCode::SUCCESS {
        return code;
    }
    let failing: Vec<&report::fidelity::ConfigFidelity> =
        report.fidelity.iter().filter(|f| f.fails()).collect();
    if failing.is_empty() {
        eprintln!(
            "strict: every validity check passes or does not apply ({} configurations)",
            report.fidelity.len()
        );
        return code;
    }
    for f in &failing {
        for c in f
            .checklist
            .iter()
            .filter(|c| c.status == report::fidelity::Status::Fail)
        {
            eprintln!("strict: {} fails `{}`: {}", f.config, c.name, c.detail);
        }
    }
    eprintln!(
        "strict: {} of {} configurations fail a validity check (see the checklist in summary.md); exit {EXIT_CHECKS_FAILED}",
        failing.len(),
        report.fidelity.len()
    );
    ExitCode::from(EXIT_CHECKS_FAILED)
}
