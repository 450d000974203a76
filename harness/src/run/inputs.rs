//! Every request of every configuration, rendered before anything is sent.

use super::RunError;
use super::requests::PreparedInputs;
use crate::dataset::Dataset;
use crate::plan::Plan;
use crate::protocol::Input;
use crate::suite::Suite;
use std::collections::BTreeMap;

/// Renders every request of every configuration before anything is sent.
pub fn prepare_inputs(suite: &Suite, plan: &Plan) -> Result<Vec<PreparedInputs>, RunError> {
    let mut datasets: BTreeMap<usize, Dataset> = BTreeMap::new();
    let mut all = Vec::new();
    for config in &plan.configurations {
        let di = config.dataset_index;
        let dataset = match datasets.entry(di) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(e) => {
                let spec = &suite.spec.datasets[di];
                let path = suite.dataset_path(di);
                let format = spec
                    .format
                    .or_else(|| crate::suite::dataset_format(&path))
                    .unwrap_or(crate::suite::DatasetFormat::Jsonl);
                e.insert(Dataset::load(spec, &path, format)?)
            }
        };
        let mut requests = Vec::with_capacity(dataset.rows.len());
        for (row_number, row) in &dataset.rows {
            let text = config.template.render(row).map_err(|field| {
                let d = &suite.spec.datasets[di];
                suite.error_at(
                    d.path.span(),
                    Some("datasets.fields"),
                    format!(
                        "row at line {row_number} of {} has no field `{field}` used by the template {:?} of {}; map it with fields = {{ {field} = \"COLUMN\" }}",
                        suite.dataset_path(di).display(),
                        config.template_text,
                        config.model
                    ),
                )
            })?;
            let input = Input {
                model: &config.served_name,
                text: &text,
                generation: config.generation,
            };
            let prepared = config.wire.prepare(&input, row).map_err(|message| {
                suite.error_at(
                    suite.spec.datasets[di].path.span(),
                    Some("datasets"),
                    format!(
                        "row at line {row_number} of {}: {message}",
                        suite.dataset_path(di).display()
                    ),
                )
            })?;
            requests.push((*row_number, prepared));
        }
        all.push(PreparedInputs { requests });
    }
    Ok(all)
}
