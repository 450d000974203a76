//! `emissions.csv` in CodeCarbon's task-mode format, and its round trip through
//! `import codecarbon`: the energies, emissions and labels come back equal.

use joulebench_report as report;

use records::files::EMISSIONS_CSV;
use report::export::Exporter;
use report::export::codecarbon::{COLUMNS, CodeCarbonCsv};
use report::import::codecarbon::{ImportSettings, import};
use report::import::labels::{Labels, Mapping};
use report::synthetic::Synthetic;
use std::collections::BTreeMap;
use std::path::Path;

/// The rows of a CSV file as column → value maps.
fn rows(path: &Path) -> Vec<BTreeMap<String, String>> {
    let mut reader = csv::Reader::from_path(path).expect("open");
    let header = reader.headers().expect("header").clone();
    reader
        .records()
        .map(|r| {
            let r = r.expect("row");
            header
                .iter()
                .zip(r.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * a.abs().max(b.abs())
}

#[test]
fn the_header_is_codecarbons_task_mode_header_and_unknowns_are_empty() {
    let dir = tempfile::tempdir().expect("temp dir");
    Synthetic::small().write(dir.path()).expect("write run");
    let mut rendered = crate::render_without_plots(dir.path()).expect("render");
    let path = dir.path().join(EMISSIONS_CSV);
    let text = std::fs::read_to_string(&path).expect("emissions.csv written by the report");
    assert_eq!(
        text.lines().next().expect("header"),
        COLUMNS.join(","),
        "{text}"
    );
    let got = rows(&path);
    assert_eq!(got.len(), rendered.summary.len());
    for (row, summary) in got.iter().zip(rendered.rows()) {
        assert_eq!(row["run_id"], summary.config);
        assert_eq!(row["project_name"], summary.model);
        assert_eq!(row["task_name"], summary.task);
        // The whole energy is the sum of the parts, as in CodeCarbon's files.
        let num = |c: &str| {
            row[c]
                .parse::<f64>()
                .unwrap_or_else(|_| panic!("{c}: {row:?}"))
        };
        let parts = num("cpu_energy") + num("gpu_energy") + num("ram_energy");
        assert!(close(parts, num("energy_consumed")), "{row:?}");
        assert_eq!(num("ram_energy"), 0.0, "no memory domain in this run");
        let per_inference_j = num("energy_consumed") * 3.6e6 / summary.inferences as f64;
        let mean = summary.energy_j_mean.expect("energy known");
        assert!(close(per_inference_j, mean), "{per_inference_j} vs {mean}");
        // gCO2eq per 1000 = kWh per 1000 × PUE × intensity, as summary.csv.
        let g_per_1000 = num("emissions") * 1000.0 * 1000.0 / summary.inferences as f64;
        let want = summary.gco2e_per_1000.expect("gCO2eq known");
        assert!(
            (g_per_1000 - want).abs() <= 1e-9 * want,
            "{g_per_1000} vs {want}"
        );
        for unknown in ["water_consumed", "region", "longitude", "python_version"] {
            assert_eq!(row[unknown], "", "{unknown} is unknown: an empty cell");
        }
        assert_eq!(
            row["timestamp"].len(),
            "2025-01-01T00:00:00".len(),
            "{row:?}"
        );
    }

    // An unknown grid intensity (the summary's gCO2eq unknown, as the report leaves it):
    // no emissions, never a 0.
    rendered.manifest.carbon_intensity_g_per_kwh = f64::NAN;
    for s in &mut rendered.summary {
        s.row.gco2e_per_1000 = Some(f64::NAN);
    }
    let bytes = CodeCarbonCsv.serialize(&rendered).expect("serialise");
    std::fs::write(&path, bytes).expect("rewrite");
    for row in rows(&path) {
        assert_eq!(row["emissions"], "");
        assert_eq!(row["emissions_rate"], "");
        assert!(!row["energy_consumed"].is_empty());
    }
}

#[test]
fn a_run_round_trips_through_import_codecarbon() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let run_dir = tmp.path().join("run");
    let run = Synthetic::small();
    run.write(&run_dir).expect("write run");
    let original = crate::render_without_plots(&run_dir).expect("render");
    let emissions = run_dir.join(EMISSIONS_CSV);

    // Labels come back through a mapping keyed by run_id (the configuration id).
    let map = tmp.path().join("map.csv");
    let mut text = String::from("run_id,model,task,dataset,class,parameters\n");
    for r in original.rows() {
        text.push_str(&format!(
            "{},{},{},{},{},{}\n",
            r.config,
            r.model,
            r.task,
            r.dataset,
            r.class,
            r.parameters.map(|p| p.to_string()).unwrap_or_default()
        ));
    }
    std::fs::write(&map, text).expect("map");

    let tasks: std::collections::BTreeSet<&str> =
        original.rows().map(|r| r.task.as_str()).collect();
    assert!(tasks.len() > 1, "a run of several tasks");
    let mut seen = 0;
    for task in tasks {
        let out = tmp.path().join(format!("imported-{task}"));
        let inferences = original
            .rows()
            .find(|r| r.task == task)
            .map(|r| r.inferences)
            .expect("a row");
        let settings = ImportSettings {
            files: vec![emissions.clone()],
            task_name: Some(task.to_string()),
            inferences: u32::try_from(inferences).expect("fits"),
            labels: Labels::default(),
            mapping: Some(Mapping::load(&map).expect("mapping")),
            intensity_g_per_kwh: None,
            // The synthetic run read its CPU from RAPL.
            cpu_measured: true,
        };
        let summary = import(&settings, &out).expect("import");
        assert_eq!(summary.rows_unmapped, 0);
        assert!(!summary.emissions_unknown);
        let imported = crate::render_without_plots(&out).expect("render the import");
        for back in imported.rows() {
            let r = original
                .config_summary(&back.config)
                .unwrap_or_else(|| panic!("{} is not in the original", back.config))
                .row
                .clone();
            seen += 1;
            assert_eq!(
                (
                    &back.model,
                    &back.task,
                    &back.dataset,
                    back.class,
                    back.parameters
                ),
                (&r.model, &r.task, &r.dataset, r.class, r.parameters)
            );
            assert_eq!(back.inferences, r.inferences);
            assert_eq!(back.provenance, r.provenance, "{}", r.config);
            for (name, a, b) in [
                ("energy_j_mean", back.energy_j_mean, r.energy_j_mean),
                ("kwh_per_1000", back.kwh_per_1000, r.kwh_per_1000),
                ("gco2e_per_1000", back.gco2e_per_1000, r.gco2e_per_1000),
            ] {
                let (a, b) = (a.expect(name), b.expect(name));
                assert!(close(a, b), "{} {name}: {a} imported vs {b}", r.config);
            }
            // The CPU and GPU parts come back as the original's domains.
            let domain = |report: &report::Report, name: &str| {
                report
                    .domains
                    .iter()
                    .find(|d| d.config == r.config && d.domain == name)
                    .map(|d| d.energy_j_mean)
                    .unwrap_or_else(|| panic!("{}: no domain {name}", r.config))
            };
            assert!(close(
                domain(&imported, "cpu"),
                domain(&original, "package-0")
            ));
            assert!(close(domain(&imported, "gpu"), domain(&original, "gpu0")));
        }
    }
    assert_eq!(seen, original.summary.len());
}
