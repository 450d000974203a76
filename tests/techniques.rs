//! The technique suites (`suites/techniques/*.toml`): each dry-runs, and declares a
//! baseline and at least one variant of it.

use crate::common::dry_run_at;

#[test]
fn every_technique_suite_dry_runs_with_a_baseline_and_its_variants() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("suites/techniques");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("suites/techniques") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        seen += 1;
        let (code, stdout, stderr) = dry_run_at(&path);
        assert_eq!(code, 0, "{}: {stdout}{stderr}", path.display());
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
    assert!(seen >= 1, "suites/techniques holds no suite");
}
