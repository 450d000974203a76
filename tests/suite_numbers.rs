//! Every number of a suite is checked at load: an out-of-range value gets one line naming
//! file:line:column, the key and the allowed range, never a panic (issue 18, items 15, 16
//! and 20).

use crate::common;

use common::{GOOD_SUITE as GOOD, dry_run_at, suite_dir};

/// `GOOD` with `line` added to `table` (a table header of `GOOD`, or a new table at the end).
fn with(table: &str, line: &str) -> String {
    match GOOD.find(&format!("{table}\n")) {
        Some(at) => {
            let end = at + table.len() + 1;
            format!("{}{line}\n{}", &GOOD[..end], &GOOD[end..])
        }
        None => format!("{GOOD}\n{table}\n{line}\n"),
    }
}

/// `line:column` of the value assigned on `line` in `suite`.
fn value_position(suite: &str, line: &str) -> String {
    let at = suite.find(line).expect("line in suite");
    let n = suite[..at].matches('\n').count() + 1;
    let column = line.find('=').expect("assignment") + 2 + 1;
    format!("{n}:{column}")
}

/// A dry run of `suite` fails at load: one line, no panic, naming where and what.
fn refused(suite: &str, line: &str, key: &str, range: &str) {
    let (_dir, path) = suite_dir(suite, 3);
    let (code, _, err) = dry_run_at(&path);
    assert!(code != 0 && code != 101 && code != -1, "exit {code}: {err}");
    assert!(!err.contains("panicked"), "{err}");
    let at = format!("suite.toml:{}: key `{key}`", value_position(suite, line));
    assert!(err.contains(&at), "want {at:?} for {line:?}: {err}");
    assert!(
        err.contains(range),
        "want range {range:?} for {line:?}: {err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn timeouts_and_pauses_that_panicked_or_overflowed_are_refused_at_load() {
    for value in ["-5", "0", "1e300", "inf", "nan"] {
        let line = format!("ready_timeout_seconds = {value}");
        refused(
            &with("[servers.local]", &line),
            &line,
            "servers.local.ready_timeout_seconds",
            "a finite number of seconds above 0 and at most 86400",
        );
    }
    for key in ["idle_seconds", "cooldown_seconds"] {
        for value in ["-1", "1e300", "inf", "-inf", "nan"] {
            let line = format!("{key} = {value}");
            refused(
                &with("[schedule]", &line),
                &line,
                &format!("schedule.{key}"),
                "a finite number of seconds at least 0 and at most 86400",
            );
        }
    }
    for value in ["0", "1e300", "inf", "nan"] {
        let line = format!("request_timeout_seconds = {value}");
        refused(
            &with("[schedule]", &line),
            &line,
            "schedule.request_timeout_seconds",
            "a finite number of seconds above 0 and at most 86400",
        );
    }
}

#[test]
fn a_plan_too_large_to_hold_is_refused_before_it_is_built() {
    let line = "repetitions = 4294967295";
    refused(
        &with("[schedule]", line),
        line,
        "schedule.repetitions",
        "an integer at least 1 and at most 10000",
    );
}

#[test]
fn carbon_and_estimate_figures_out_of_range_are_refused() {
    let cases = [
        (
            "[carbon]",
            "pue = inf",
            "carbon.pue",
            "a finite number at least 1 and at most 10",
        ),
        (
            "[carbon]",
            "pue = 0.9",
            "carbon.pue",
            "at least 1 and at most 10",
        ),
        (
            "[carbon]",
            "intensity_g_per_kwh = inf",
            "carbon.intensity_g_per_kwh",
            "a finite number of gCO2eq/kWh at least 0 and at most 5000",
        ),
        (
            "[carbon]",
            "intensity_g_per_kwh = nan",
            "carbon.intensity_g_per_kwh",
            "at least 0 and at most 5000",
        ),
        (
            "[probes]",
            "cpu_tdp_w = -50",
            "probes.cpu_tdp_w",
            "a finite number of watts above 0 and at most 5000",
        ),
        (
            "[probes]",
            "cpu_tdp_w = 0",
            "probes.cpu_tdp_w",
            "above 0 and at most 5000",
        ),
        (
            "[probes]",
            "cpu_tdp_w = inf",
            "probes.cpu_tdp_w",
            "above 0 and at most 5000",
        ),
        (
            "[probes]",
            "cpu_tdp_w = nan",
            "probes.cpu_tdp_w",
            "above 0 and at most 5000",
        ),
        (
            "[probes]",
            "dram_w_per_gb = -1",
            "probes.dram_w_per_gb",
            "a finite number of watts per GB above 0 and at most 10",
        ),
        (
            "[probes]",
            "dram_w_per_gb = inf",
            "probes.dram_w_per_gb",
            "above 0 and at most 10",
        ),
    ];
    for (table, line, key, range) in cases {
        refused(&with(table, line), line, key, range);
    }
}

#[test]
fn a_suite_asking_for_no_energy_source_is_refused() {
    let line = "sources = []";
    refused(
        &with("[probes]", line),
        line,
        "probes.sources",
        "add \"estimate\" to [probes] sources",
    );
}

#[test]
fn values_in_range_still_load() {
    let suite = with("[servers.local]", "ready_timeout_seconds = 86400").replace(
        "inferences = 10\n",
        "inferences = 10\nidle_seconds = 0\ncooldown_seconds = 0.5\nrequest_timeout_seconds = 2\n\
         [carbon]\npue = 1.0\nintensity_g_per_kwh = 0\n\
         [probes]\nsources = [\"estimate\"]\ncpu_tdp_w = 65\ndram_w_per_gb = 0.375\n",
    );
    let (_dir, path) = suite_dir(&suite, 3);
    let (code, _, err) = dry_run_at(&path);
    assert_eq!(code, 0, "{err}");
}
