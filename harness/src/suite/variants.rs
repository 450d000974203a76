//! `variant_of`, `technique`, `active_parameters` and `weight_bytes` of `[[models]]`: a
//! variant names its baseline and what makes it, and is measured on what the baseline is.

use super::SuiteError;
use super::error::SourceText;
use super::file::{ModelSpec, SuiteFile, TechniqueSpec};
use records::models::Technique;
use std::collections::BTreeSet;

/// Checks every model's variant keys: the baseline exists, is not the model itself, the
/// `variant_of` links make no cycle, baseline and variant share the task and a dataset,
/// `technique` is given exactly with `variant_of`, and `active_parameters` ≤ `parameters`.
pub(super) fn check(src: SourceText<'_>, spec: &SuiteFile) -> Result<(), SuiteError> {
    let names: Vec<&str> = spec
        .models
        .iter()
        .map(|m| m.name.get_ref().as_str())
        .collect();
    for m in &spec.models {
        techniques(src, m)?;
        active_parameters(src, m)?;
        let Some(of) = &m.variant_of else {
            continue;
        };
        let name = m.name.get_ref();
        let baseline_name = of.get_ref();
        if baseline_name == name {
            return Err(src.error_at(
                of.span(),
                Some("models.variant_of"),
                format!(
                    "model {name:?} cannot be a variant of itself: set variant_of to the `name` of its baseline, another [[models]] entry"
                ),
            ));
        }
        let Some(baseline) = spec
            .models
            .iter()
            .find(|b| b.name.get_ref() == baseline_name)
        else {
            let others: Vec<&str> = names.iter().copied().filter(|n| n != name).collect();
            return Err(src.error_at(
                of.span(),
                Some("models.variant_of"),
                format!(
                    "no model {baseline_name:?} to be the baseline of {name:?}; expected one of: {}; set variant_of to the `name` of the baseline's [[models]] entry",
                    if others.is_empty() { "(none: add the baseline's [[models]] entry)".to_string() } else { others.join(", ") }
                ),
            ));
        };
        if let Some(cycle) = cycle_from(spec, name) {
            return Err(src.error_at(
                of.span(),
                Some("models.variant_of"),
                format!(
                    "variant_of makes a cycle ({}): a baseline cannot be a variant of its own variants; remove variant_of from the model that is the baseline",
                    cycle.join(" → ")
                ),
            ));
        }
        if baseline.task.get_ref() != m.task.get_ref() {
            return Err(src.error_at(
                of.span(),
                Some("models.variant_of"),
                format!(
                    "variant {name:?} has task {:?} but its baseline {baseline_name:?} has task {:?}: a variant is compared with its baseline on the same task; give both the same `task`",
                    m.task.get_ref(),
                    baseline.task.get_ref()
                ),
            ));
        }
        let mine = datasets_of(spec, m);
        let theirs = datasets_of(spec, baseline);
        if mine.is_disjoint(&theirs) {
            return Err(src.error_at(
                of.span(),
                Some("models.variant_of"),
                format!(
                    "variant {name:?} (datasets {}) shares no dataset with its baseline {baseline_name:?} (datasets {}): they are compared on the same dataset; add a dataset of the baseline to the variant's `datasets` (or leave `datasets` out of both)",
                    listed(&mine),
                    listed(&theirs)
                ),
            ));
        }
    }
    Ok(())
}

/// The techniques of model `m`, checked: required with `variant_of`, refused without it,
/// each an allowed name.
pub(super) fn techniques(src: SourceText<'_>, m: &ModelSpec) -> Result<Vec<Technique>, SuiteError> {
    let name = m.name.get_ref();
    let Some(spec) = &m.technique else {
        if let Some(of) = &m.variant_of {
            return Err(src.error_at(
                of.span(),
                Some("models.technique"),
                format!(
                    "variant {name:?} needs `technique`, what makes it a variant of {:?}: add technique = \"quantization\" (or a list); allowed: {}",
                    of.get_ref(),
                    Technique::allowed()
                ),
            ));
        }
        return Ok(Vec::new());
    };
    if m.variant_of.is_none() {
        return Err(src.error_at(
            spec.span(),
            Some("models.technique"),
            format!(
                "`technique` says what makes a variant, but model {name:?} has no `variant_of`: add variant_of = \"BASELINE\" (the baseline's name) or remove technique"
            ),
        ));
    }
    let written: Vec<&String> = match spec.get_ref() {
        TechniqueSpec::One(t) => vec![t],
        TechniqueSpec::Many(list) => list.iter().collect(),
    };
    if written.is_empty() {
        return Err(src.error_at(
            spec.span(),
            Some("models.technique"),
            format!(
                "expected at least one technique, found an empty list; allowed: {}",
                Technique::allowed()
            ),
        ));
    }
    let mut out: Vec<Technique> = Vec::new();
    for t in written {
        let technique: Technique = t.parse().map_err(|e: String| {
            src.error_at(
                spec.span(),
                Some("models.technique"),
                format!("{e}; write one of them, or a list such as [\"layer-pruning\", \"quantization\"]"),
            )
        })?;
        if !out.contains(&technique) {
            out.push(technique);
        }
    }
    Ok(out)
}

/// `active_parameters` is at least 1 and at most `parameters` when both are given.
fn active_parameters(src: SourceText<'_>, m: &ModelSpec) -> Result<(), SuiteError> {
    let Some(active) = &m.active_parameters else {
        return Ok(());
    };
    let a = *active.get_ref();
    if a == 0 {
        return Err(src.error_at(
            active.span(),
            Some("models.active_parameters"),
            "expected a parameter count of at least 1, found 0: give the parameters used per token, or leave it out (it defaults to `parameters`)".into(),
        ));
    }
    match m.parameters {
        Some(total) if a > total => Err(src.error_at(
            active.span(),
            Some("models.active_parameters"),
            format!(
                "active_parameters ({a}) exceeds parameters ({total}): the parameters used per token are part of the total; lower active_parameters or raise parameters"
            ),
        )),
        _ => Ok(()),
    }
}

/// The chain of `variant_of` links from `start`, when it comes back to a model already
/// on it (the names along the cycle, the repeated one last).
fn cycle_from(spec: &SuiteFile, start: &str) -> Option<Vec<String>> {
    let mut seen: Vec<String> = vec![start.to_string()];
    let mut at = start.to_string();
    loop {
        let next = spec
            .models
            .iter()
            .find(|m| m.name.get_ref() == &at)?
            .variant_of
            .as_ref()?
            .get_ref()
            .clone();
        let repeated = seen.contains(&next);
        seen.push(next.clone());
        if repeated {
            return (next == start).then_some(seen);
        }
        at = next;
    }
}

/// The datasets model `m` runs on: its `datasets`, else every dataset of its task.
fn datasets_of<'a>(spec: &'a SuiteFile, m: &'a ModelSpec) -> BTreeSet<&'a str> {
    match &m.datasets {
        Some(list) => list.iter().map(|d| d.get_ref().as_str()).collect(),
        None => spec
            .datasets
            .iter()
            .filter(|d| d.task.get_ref() == m.task.get_ref())
            .map(|d| d.name.get_ref().as_str())
            .collect(),
    }
}

fn listed(names: &BTreeSet<&str>) -> String {
    names.iter().copied().collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    /// Loads a suite of the models `models` (TOML `[[models]]` bodies) over datasets `d1`
    /// and `d2` of task `t` and `e` of task `u`; the error text when it is refused.
    fn load(models: &[&str]) -> Result<crate::suite::Suite, String> {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("d.jsonl"), "{\"text\": \"a\"}\n").expect("data");
        let mut text = String::from(
            "[suite]\nname = \"n\"\n[servers.s]\nprotocol = \"tei-predict\"\nurl = \"http://127.0.0.1:9\"\n\
             [[datasets]]\nname = \"d1\"\ntask = \"t\"\npath = \"d.jsonl\"\n\
             [[datasets]]\nname = \"d2\"\ntask = \"t\"\npath = \"d.jsonl\"\n\
             [[datasets]]\nname = \"e\"\ntask = \"u\"\npath = \"d.jsonl\"\n",
        );
        for body in models {
            text += &format!("[[models]]\nclass = \"task-specific\"\nserver = \"s\"\n{body}\n");
        }
        let path = dir.path().join("s.toml");
        std::fs::write(&path, text).expect("suite");
        crate::suite::load(&path).map_err(|e| e.to_string())
    }

    const BASE: &str = "name = \"base\"\ntask = \"t\"\nparameters = 100";

    /// The error of loading `models`, which must be refused.
    fn refused(models: &[&str]) -> String {
        match load(models) {
            Ok(_) => panic!("expected a refusal of {models:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn a_variant_carries_its_baseline_techniques_and_sizes_into_the_plan() {
        let suite = load(&[
            BASE,
            "name = \"v\"\ntask = \"t\"\nvariant_of = \"base\"\ntechnique = [\"layer-pruning\", \"quantization\"]\nparameters = 80\nactive_parameters = 20\nweight_bytes = 1000",
        ])
        .expect("valid");
        let v = &suite.models[1];
        assert_eq!(v.variant_of.as_deref(), Some("base"));
        assert_eq!(
            v.techniques,
            vec![
                records::models::Technique::LayerPruning,
                records::models::Technique::Quantization
            ]
        );
        assert_eq!(
            (v.active_parameters, v.weight_bytes),
            (Some(20), Some(1000))
        );
        assert!(suite.models[0].variant_of.is_none());
        assert!(suite.models[0].techniques.is_empty());
    }

    #[test]
    fn a_baseline_that_is_not_a_model_is_named_with_the_models_there_are() {
        let err = refused(&[
            BASE,
            "name = \"v\"\ntask = \"t\"\nvariant_of = \"nope\"\ntechnique = \"quantization\"",
        ]);
        assert!(err.contains("key `models.variant_of`"), "{err}");
        assert!(err.contains("no model \"nope\""), "{err}");
        assert!(err.contains("expected one of: base"), "{err}");
        assert!(err.contains("set variant_of to the `name`"), "{err}");
        assert!(err.contains(":29:14:"), "points at the line: {err}");
    }

    #[test]
    fn a_model_cannot_be_its_own_baseline() {
        let err = refused(&["name = \"v\"\ntask = \"t\"\nvariant_of = \"v\"\ntechnique = \"moe\""]);
        assert!(err.contains("key `models.variant_of`"), "{err}");
        assert!(err.contains("variant of itself"), "{err}");
        assert!(err.contains("another [[models]] entry"), "{err}");
    }

    #[test]
    fn variant_links_that_come_back_are_a_cycle() {
        let err = refused(&[
            "name = \"a\"\ntask = \"t\"\nvariant_of = \"b\"\ntechnique = \"moe\"",
            "name = \"b\"\ntask = \"t\"\nvariant_of = \"a\"\ntechnique = \"moe\"",
        ]);
        assert!(err.contains("key `models.variant_of`"), "{err}");
        assert!(err.contains("cycle (a → b → a)"), "{err}");
        assert!(err.contains("remove variant_of"), "{err}");
    }

    #[test]
    fn a_variant_of_another_task_is_refused() {
        let err = refused(&[
            BASE,
            "name = \"v\"\ntask = \"u\"\nvariant_of = \"base\"\ntechnique = \"distillation\"",
        ]);
        assert!(err.contains("key `models.variant_of`"), "{err}");
        assert!(
            err.contains("has task \"u\" but its baseline \"base\" has task \"t\""),
            "{err}"
        );
        assert!(err.contains("give both the same `task`"), "{err}");
    }

    #[test]
    fn a_variant_must_share_a_dataset_with_its_baseline() {
        let err = refused(&[
            "name = \"base\"\ntask = \"t\"\ndatasets = [\"d1\"]",
            "name = \"v\"\ntask = \"t\"\ndatasets = [\"d2\"]\nvariant_of = \"base\"\ntechnique = \"ternary\"",
        ]);
        assert!(err.contains("key `models.variant_of`"), "{err}");
        assert!(err.contains("shares no dataset"), "{err}");
        assert!(
            err.contains("add a dataset of the baseline to the variant's `datasets`"),
            "{err}"
        );
        assert!(
            load(&[
                "name = \"base\"\ntask = \"t\"\ndatasets = [\"d1\", \"d2\"]",
                "name = \"v\"\ntask = \"t\"\ndatasets = [\"d2\"]\nvariant_of = \"base\"\ntechnique = \"ternary\"",
            ])
            .is_ok(),
            "one shared dataset is enough"
        );
    }

    #[test]
    fn a_variant_needs_a_technique_and_a_technique_needs_a_variant() {
        let err = refused(&[BASE, "name = \"v\"\ntask = \"t\"\nvariant_of = \"base\""]);
        assert!(err.contains("key `models.technique`"), "{err}");
        assert!(err.contains("add technique = \"quantization\""), "{err}");
        let err = refused(&[
            BASE,
            "name = \"v\"\ntask = \"t\"\ntechnique = \"quantization\"",
        ]);
        assert!(err.contains("key `models.technique`"), "{err}");
        assert!(err.contains("add variant_of = \"BASELINE\""), "{err}");
        assert!(err.contains("or remove technique"), "{err}");
    }

    #[test]
    fn an_unknown_or_empty_technique_lists_the_allowed_names() {
        let err = refused(&[
            BASE,
            "name = \"v\"\ntask = \"t\"\nvariant_of = \"base\"\ntechnique = [\"quantization\", \"pruning\"]",
        ]);
        assert!(err.contains("key `models.technique`"), "{err}");
        assert!(err.contains("unknown technique \"pruning\""), "{err}");
        for name in [
            "quantization",
            "ternary",
            "moe",
            "layer-pruning",
            "mixture-of-depths",
            "distillation",
        ] {
            assert!(err.contains(&format!("\"{name}\"")), "{name}: {err}");
        }
        let err = refused(&[
            BASE,
            "name = \"v\"\ntask = \"t\"\nvariant_of = \"base\"\ntechnique = []",
        ]);
        assert!(err.contains("key `models.technique`"), "{err}");
        assert!(err.contains("at least one technique"), "{err}");
    }

    #[test]
    fn active_parameters_cannot_exceed_the_total() {
        let err =
            refused(&["name = \"m\"\ntask = \"t\"\nparameters = 100\nactive_parameters = 101"]);
        assert!(err.contains("key `models.active_parameters`"), "{err}");
        assert!(err.contains("exceeds parameters (100)"), "{err}");
        assert!(
            err.contains("lower active_parameters or raise parameters"),
            "{err}"
        );
        let err = refused(&["name = \"m\"\ntask = \"t\"\nactive_parameters = 0"]);
        assert!(err.contains("key `models.active_parameters`"), "{err}");
        assert!(
            load(&["name = \"m\"\ntask = \"t\"\nparameters = 100\nactive_parameters = 100"])
                .is_ok()
        );
    }
}
