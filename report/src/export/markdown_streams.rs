//! `summary.md`'s sentences on token counts, output pinning and bursty streams, and its
//! table of time-to-first-token and inter-token latency percentiles.

use super::format::sig_opt;
use super::markdown::cell;
use crate::flags::Flag;
use crate::model::{ConfigSummary, Report};
use std::fmt::Write as _;

/// Writes the sentences for configurations flagged `tokens-not-server-counted`,
/// `output-unpinned` or `bursty-stream`, then the percentiles of streamed configurations.
pub(super) fn render(out: &mut String, report: &Report) {
    let mut tokens = Vec::new();
    let mut unpinned = Vec::new();
    let mut bursty = Vec::new();
    for s in &report.summary {
        for flag in &s.flags {
            let (list, part, whole) = match flag {
                Flag::TokensNotServerCounted { requests, counted } => {
                    (&mut tokens, requests, counted)
                }
                Flag::OutputUnpinned { unpinned: n, asked } => (&mut unpinned, n, asked),
                Flag::BurstyStream {
                    bursty: n,
                    streamed,
                } => (&mut bursty, n, streamed),
                _ => continue,
            };
            list.push(format!(
                "{}: {part} of {whole} ({:.1}%)",
                cell(&s.row.config),
                100.0 * *part as f64 / (*whole).max(1) as f64
            ));
        }
    }
    for (list, sentence) in [
        (
            tokens,
            "Output tokens not counted by the server (it sent no `usage` block or details: \
             joulebench counted the stream's content events, so tokens per inference and \
             J / output token may be off)",
        ),
        (
            unpinned,
            "Outputs not pinned to the asked length (the protocol cannot ask, or the server \
             ignored `ignore_eos`/`min_tokens`: output lengths differ between requests)",
        ),
        (
            bursty,
            "Bursty streams (median inter-token gap under 0.05 ms, or a time to first token of \
             95% of the latency or more: the events arrived together, so TTFT and ITL say how \
             they were read, not how the tokens were made)",
        ),
    ] {
        if !list.is_empty() {
            let _ = writeln!(out, "\n{sentence}: {}.", list.join("; "));
        }
    }
    percentiles(out, report);
}

/// The TTFT and ITL percentiles of every configuration with streamed requests.
fn percentiles(out: &mut String, report: &Report) {
    let streamed: Vec<&ConfigSummary> = report
        .summary
        .iter()
        .filter(|s| s.row.ttft_ms_p50.is_some() || s.row.itl_ms_p50.is_some())
        .collect();
    if streamed.is_empty() {
        return;
    }
    out.push_str("\n## Streamed requests\n\n");
    out.push_str(
        "| Model | Task | Dataset | TTFT p50 / p90 / p99 (ms) | ITL p50 / p90 / p99 (ms) | flags |\n",
    );
    out.push_str("|---|---|---|--:|--:|---|\n");
    for s in streamed {
        let r = &s.row;
        let bursty = s
            .flags
            .iter()
            .filter(|f| matches!(f, Flag::BurstyStream { .. }))
            .map(Flag::to_string)
            .collect::<Vec<_>>()
            .join("; ");
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} / {} / {} | {} / {} / {} | {} |",
            cell(&r.model),
            cell(&r.task),
            cell(&r.dataset),
            sig_opt(r.ttft_ms_p50, 4),
            sig_opt(r.ttft_ms_p90, 4),
            sig_opt(r.ttft_ms_p99, 4),
            sig_opt(r.itl_ms_p50, 4),
            sig_opt(r.itl_ms_p90, 4),
            sig_opt(r.itl_ms_p99, 4),
            cell(&bursty),
        );
    }
    out.push_str(
        "\nITL: each streamed request's mean gap between events with text; percentiles over \
         requests.\n",
    );
}
