//! Token-count origins, unpinned outputs and bursty streams, from synthetic records: the
//! flags with their shares in summary.csv/md/json, and the TTFT and ITL percentiles.

use joulebench_report as report;
use report::synthetic::Synthetic;
use std::path::Path;

/// Rewrites the measured requests of `config` in `requests.csv` with `f(index, columns)`.
fn rewrite_requests(dir: &Path, config: &str, mut f: impl FnMut(u32, &mut Cell<'_>)) {
    let path = dir.join("requests.csv");
    let mut reader = csv::Reader::from_path(&path).expect("open");
    let header = reader.headers().expect("header").clone();
    let rows: Vec<Vec<String>> = reader
        .records()
        .map(|r| r.expect("row").iter().map(str::to_string).collect())
        .collect();
    let mut w = csv::Writer::from_path(&path).expect("write");
    w.write_record(&header).expect("header");
    for mut v in rows {
        let mut cell = Cell {
            header: &header,
            values: &mut v,
        };
        if cell.get("config") == config && cell.get("phase") == "measured" {
            let index: u32 = cell.get("index").parse().expect("index");
            f(index, &mut cell);
        }
        w.write_record(&v).expect("row");
    }
    w.flush().expect("flush");
}

/// One row's values by column name.
struct Cell<'a> {
    header: &'a csv::StringRecord,
    values: &'a mut Vec<String>,
}

impl Cell<'_> {
    fn at(&self, name: &str) -> usize {
        self.header.iter().position(|h| h == name).expect(name)
    }
    fn get(&self, name: &str) -> String {
        self.values[self.at(name)].clone()
    }
    fn set(&mut self, name: &str, value: impl ToString) {
        let i = self.at(name);
        self.values[i] = value.to_string();
    }
}

#[test]
fn streamed_configurations_get_their_flags_shares_and_percentiles() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path();
    let run = Synthetic::small();
    run.write(dir).expect("run");
    let streamed = run.id(1);
    // Per repetition of 20 requests: 5 counted by events, 10 unpinned, 15 in bursts.
    rewrite_requests(dir, &streamed, |i, c| {
        let latency: f64 = c.get("latency_ms").parse().expect("latency");
        c.set("ttft_ms", latency / 10.0);
        c.set("itl_ms", 2.0 + f64::from(i));
        c.set("itl_p50_ms", if i < 15 { 0.004 } else { 2.0 });
        c.set(
            "completion_tokens_source",
            if i % 4 == 0 { "events" } else { "usage" },
        );
        c.set("pin_requested", true);
        c.set("output_pinned", i >= 10);
    });
    let report = crate::render_without_plots(dir).expect("render");
    let s = report.config_summary(&streamed).expect("streamed config");
    let row = &s.row;
    assert_eq!(row.tokens_not_server_counted_share, Some(0.25));
    assert_eq!(row.output_unpinned_share, Some(0.5));
    assert_eq!(row.bursty_stream_share, Some(0.75));
    assert_eq!(
        row.itl_ms_p50,
        Some(11.5),
        "median of 2..=21 ms, each 5 times"
    );
    assert!(row.ttft_ms_p90.is_some() && row.ttft_ms_p99 >= row.ttft_ms_p90);
    assert!(row.itl_ms_p99 > row.itl_ms_p90 && row.itl_ms_p90 > row.itl_ms_p50);
    for flag in [
        "tokens-not-server-counted(25 of 100 requests, 25.0%)",
        "output-unpinned(50 of 100 asked to be pinned, 50.0%)",
        "bursty-stream(75 of 100 streamed requests, 75.0%)",
    ] {
        assert!(row.flags.contains(flag), "{flag} in {}", row.flags);
    }
    // The other configurations are neither streamed nor pinned: no flag, no share.
    let other = report.config_summary(&run.id(0)).expect("config 0");
    assert_eq!(
        (
            other.row.output_unpinned_share,
            other.row.bursty_stream_share,
            other.row.itl_ms_p50
        ),
        (None, None, None)
    );
    assert!(!other.row.flags.contains("bursty"), "{}", other.row.flags);
    let counted = report.config_summary(&run.id(2)).expect("config 2");
    assert!(
        !counted.row.flags.contains("tokens-not"),
        "{}",
        counted.row.flags
    );

    let csv = std::fs::read_to_string(dir.join("summary.csv")).expect("summary.csv");
    let header = csv.lines().next().expect("header");
    assert!(
        header.contains(
            ",tokens_not_server_counted_share,output_unpinned_share,bursty_stream_share,"
        ),
        "{header}"
    );
    let md = std::fs::read_to_string(dir.join("summary.md")).expect("summary.md");
    for text in [
        "Output tokens not counted by the server",
        "Outputs not pinned to the asked length",
        "Bursty streams (median inter-token gap under 0.05 ms",
        "## Streamed requests",
        "| flan-t5-base | text-classification | sst2 |",
    ] {
        assert!(md.contains(text), "{text} in {md}");
    }
    let json = std::fs::read_to_string(dir.join("summary.json")).expect("summary.json");
    for flag in [
        "tokens-not-server-counted",
        "output-unpinned",
        "bursty-stream",
    ] {
        assert!(
            json.contains(&format!("\"flag\": \"{flag}\"")),
            "{flag} in JSON"
        );
    }
}
