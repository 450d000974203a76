//! The suite's servers, models and datasets as checked plain values.

use super::ModelClass;
use crate::protocol::{Generation, Protocol};
use crate::template::Template;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Where a server is: the address of a running one, or a command the runner starts.
#[derive(Clone, Debug, PartialEq)]
pub enum ServerAddress {
    /// Base URL of a running server, as written (`http://` or `https://`).
    Url(String),
    /// The command that starts the server and its arguments (at least the command);
    /// `{joulebench}` is this binary, `{port}` a free port, `{suite_dir}` the suite's folder.
    Launch(Vec<String>),
}

/// `[servers.NAME]`, checked: a model server and how to reach it.
#[derive(Clone, Debug)]
pub struct Server {
    /// Its address or launch command.
    pub address: ServerAddress,
    /// URL polled until it answers 2xx (default: the readiness URLs of the protocol).
    pub ready_url: Option<String>,
    /// Seconds to wait for readiness.
    pub ready_timeout_seconds: f64,
    /// Environment variable holding an API key sent as a bearer token.
    pub api_key_env: Option<String>,
    /// Extra environment variables for a launched server.
    pub env: BTreeMap<String, String>,
    /// How a server given by URL names its processes (`pid`, `pid_file`, `process_name`);
    /// `None` for a launched server (its process group) or when not given.
    pub processes: Option<ServerProcesses>,
}

/// How the suite names the processes of a server it does not launch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerProcesses {
    /// `pid = N`.
    Pid(u32),
    /// `pid_file = "path"`, relative to the suite's folder unless absolute.
    PidFile(std::path::PathBuf),
    /// `process_name = "name"`, as `/proc/PID/comm` shows it.
    Name(String),
}

impl Server {
    /// Whether the runner starts this server (rather than reaching a running one).
    pub fn is_launched(&self) -> bool {
        matches!(self.address, ServerAddress::Launch(_))
    }
}

/// `[[models]]`, checked: one model to measure and how its requests are built.
#[derive(Clone, Debug)]
pub struct Model {
    /// Name in records and plots.
    pub name: String,
    /// Name sent to the server.
    pub served_name: String,
    /// Task it is measured on.
    pub task: String,
    /// Task-specific or general-purpose.
    pub class: ModelClass,
    /// Parameter count, when given.
    pub parameters: Option<u64>,
    /// Parameters used per token, when given (at most `parameters`).
    pub active_parameters: Option<u64>,
    /// Bytes of the weights as served, when given.
    pub weight_bytes: Option<u64>,
    /// The baseline this model is a variant of (another model of the suite).
    pub variant_of: Option<String>,
    /// What makes it a variant; empty for a model that is none.
    pub techniques: Vec<records::models::Technique>,
    /// Server key (a key of [`Suite::servers`](super::Suite::servers)).
    pub server: String,
    /// The protocol spoken: the model's own, else its server's.
    pub wire: Arc<dyn Protocol>,
    /// Template turning a dataset row into the request text.
    pub template: Template,
    /// The template's text, for the plan printout.
    pub template_text: String,
    /// Generation settings, for generating protocols.
    pub generation: Option<Generation>,
    /// Indices of the datasets it runs on, in suite order.
    pub datasets: Vec<usize>,
    /// The study model it stands for (a `model` of the `[reference]` table).
    pub reference: Option<String>,
    /// The operating points it is measured at, each its own configuration; empty when the
    /// suite sweeps neither load nor power limits.
    pub points: Vec<records::load::OperatingPoint>,
}
