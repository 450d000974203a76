//! Every request of every configuration, rendered before anything is sent, and the
//! SHA-256 of each dataset file read for them.

use super::RunError;
use super::requests::PreparedInputs;
use crate::dataset::Dataset;
use crate::plan::Plan;
use crate::protocol::Input;
use crate::suite::Suite;
use records::manifest::DatasetInfo;
use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

/// The requests of a plan and the datasets they were rendered from.
pub struct Inputs {
    /// Prepared requests per configuration of the plan, in plan order.
    pub prepared: Vec<PreparedInputs>,
    /// Every dataset file read, in suite order, with its SHA-256.
    pub datasets: Vec<DatasetInfo>,
}

/// Renders every request of every configuration before anything is sent.
pub fn prepare_inputs(suite: &Suite, plan: &Plan) -> Result<Inputs, RunError> {
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
        all.push(PreparedInputs {
            requests,
            expected: dataset.expected.clone(),
        });
    }
    let datasets = datasets
        .into_iter()
        .map(|(di, d)| DatasetInfo {
            name: d.name,
            path: std::fs::canonicalize(&suite.datasets[di].path)
                .unwrap_or_else(|_| suite.datasets[di].path.clone())
                .display()
                .to_string(),
            sha256: d.sha256,
            expected: suite.datasets[di].expected.clone(),
            scorer: suite.datasets[di].scorer.clone(),
        })
        .collect();
    Ok(Inputs {
        prepared: all,
        datasets,
    })
}
