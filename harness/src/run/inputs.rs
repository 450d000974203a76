//! Every request of every configuration, rendered before anything is sent.

use super::RunError;
use super::requests::PreparedInputs;
use crate::dataset::Dataset;
use crate::plan::Plan;
use crate::protocol::Input;
use crate::suite::Suite;
use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

/// Renders every request of every configuration before anything is sent.
pub fn prepare_inputs(suite: &Suite, plan: &Plan) -> Result<Vec<PreparedInputs>, RunError> {
    let mut datasets: BTreeMap<usize, Dataset> = BTreeMap::new();
    let mut all = Vec::new();
    for config in &plan.configurations {
        let di = config.dataset_index;
        let source = &suite.datasets[di];
        let dataset = match datasets.entry(di) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => e.insert(Dataset::load(source)?),
        };
        let mut requests = Vec::with_capacity(dataset.rows.len());
        for (row_number, row) in &dataset.rows {
            let text = config.template.render(row).map_err(|field| {
                suite.dataset_error(
                    di,
                    "datasets.fields",
                    format!(
                        "row at line {row_number} of {} has no field `{field}` used by the template {:?} of {}; map it with fields = {{ {field} = \"COLUMN\" }}",
                        source.path.display(),
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
                suite.dataset_error(
                    di,
                    "datasets",
                    format!(
                        "row at line {row_number} of {}: {message}",
                        source.path.display()
                    ),
                )
            })?;
            requests.push((*row_number, prepared));
        }
        all.push(PreparedInputs { requests });
    }
    Ok(all)
}
