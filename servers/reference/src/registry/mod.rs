//! Which models are served: spec parsing (`spec`), loading (`load`, `served`), the
//! architectures a folder may name (`architectures`), and lookup by name or task (here).

pub mod architectures;
pub mod calibration;
pub mod load;
pub mod served;
pub mod spec;

pub use served::{Network, ServedModel};
pub use spec::{LoadOptions, ModelSpec, Source, Task};

use crate::error::{ModelError, Result};
use std::sync::Arc;

/// The loaded models, in the order given.
#[derive(Debug, Default)]
pub struct ModelRegistry {
    models: Vec<Arc<ServedModel>>,
}

impl ModelRegistry {
    /// Loads every spec; names must be unique.
    pub fn load(specs: &[ModelSpec], options: &LoadOptions) -> Result<Self> {
        let mut models: Vec<Arc<ServedModel>> = Vec::new();
        for spec in specs {
            if models.iter().any(|m| m.name == spec.name) {
                return Err(ModelError::Spec {
                    spec: spec.name.clone(),
                    message: "two models have this name; give one `NAME=...`".into(),
                });
            }
            models.push(Arc::new(ServedModel::load(spec, options)?));
        }
        Ok(Self { models })
    }

    /// A registry of already loaded models.
    pub fn from_models(models: Vec<ServedModel>) -> Self {
        Self {
            models: models.into_iter().map(Arc::new).collect(),
        }
    }

    /// All models.
    pub fn models(&self) -> &[Arc<ServedModel>] {
        &self.models
    }

    /// The model of this name.
    pub fn get(&self, name: &str) -> Option<Arc<ServedModel>> {
        self.models.iter().find(|m| m.name == name).cloned()
    }

    /// The first model for a task.
    pub fn first(&self, task: Task) -> Option<Arc<ServedModel>> {
        self.models.iter().find(|m| m.task == task).cloned()
    }
}
