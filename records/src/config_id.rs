//! `ConfigId`: the name of one configuration (a model on a dataset) in every record.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The id of a configuration, `model@dataset`, as every record and table names it.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ConfigId(String);

impl ConfigId {
    /// The id of `model` on `dataset`.
    pub fn new(model: &str, dataset: &str) -> Self {
        Self(format!("{model}@{dataset}"))
    }

    /// The id of `model` on `dataset` at one operating point of a sweep,
    /// `model@dataset~c8` (`model@dataset` when `point` is `None`).
    pub fn at(model: &str, dataset: &str, point: Option<&crate::load::OperatingPoint>) -> Self {
        match point {
            Some(p) => Self(format!("{model}@{dataset}~{p}")),
            None => Self::new(model, dataset),
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id as an owned string.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for ConfigId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<ConfigId> for String {
    fn from(id: ConfigId) -> Self {
        id.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_at_dataset() {
        let id = ConfigId::new("distilbert", "sst2");
        assert_eq!(id.as_str(), "distilbert@sst2");
        assert_eq!(id.to_string(), "distilbert@sst2");
        assert_eq!(
            serde_json::to_string(&id).expect("json"),
            "\"distilbert@sst2\""
        );
    }
}
