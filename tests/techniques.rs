//! The technique suites (`suites/techniques/*.toml`): each dry-runs, and declares a
//! baseline and at least one variant of it.

use crate::common::dry_run_each_suite_in;

#[test]
fn every_technique_suite_dry_runs_with_a_baseline_and_its_variants() {
    let plans = dry_run_each_suite_in("techniques");
    assert!(!plans.is_empty(), "suites/techniques holds no suite");
    for (path, stdout) in &plans {
        let variants: Vec<&str> = stdout
            .lines()
            .filter(|l| l.contains(" is a variant of baseline "))
            .collect();
        assert!(
            !variants.is_empty(),
            "{}: no variant in the plan: {stdout}",
            path.display()
        );
        for line in variants {
            let baseline = line
                .split(" is a variant of baseline ")
                .nth(1)
                .and_then(|rest| rest.split_whitespace().next())
                .expect("a baseline name");
            assert!(
                stdout.contains(&format!("  {baseline}@")),
                "{}: baseline {baseline} has a configuration: {stdout}",
                path.display()
            );
        }
    }
}
