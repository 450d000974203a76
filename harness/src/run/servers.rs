//! The servers a run talks to: started when first needed (all at once in interleaved
//! order), stopped when done, and asked why they died.

use super::RunError;
use super::requests::{BatchResult, StopCause};
use super::resume::Prior;
use crate::client::HttpClient;
use crate::plan::Plan;
use crate::server::{Placeholders, Readiness, RunningServer};
use crate::suite::{RunOrder, ServerProcesses, Suite};
use indicatif::ProgressBar;
use probes::cpu_time::ProcessScope;
use records::files;
use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

/// Why a server can no longer serve the run.
#[derive(Debug, thiserror::Error)]
pub enum ServerDeath {
    /// A launched server's process exited after it was ready.
    #[error(
        "server `{server}` exited mid-run ({status}); `joulebench run --resume` this folder starts it again; last lines of {}:\n{tail}",
        log.display()
    )]
    Exited {
        /// Server key.
        server: String,
        /// Its exit status.
        status: String,
        /// Its log file.
        log: PathBuf,
        /// The end of its log.
        tail: String,
    },
    /// Requests in a row got no answer within the request timeout.
    #[error(
        "server `{server}` at {url} is hung: {timeouts} requests in a row got no answer within schedule.request_timeout_seconds ({timeout_s} s); restart it (or raise the timeout if its answers are that slow) and `joulebench run --resume` this folder"
    )]
    Hung {
        /// Server key.
        server: String,
        /// Its base URL.
        url: String,
        /// Timeouts in a row.
        timeouts: u32,
        /// The request timeout (s).
        timeout_s: f64,
    },
    /// Connections to it failed in a row after it had answered.
    #[error(
        "server `{server}` at {url} stopped answering: {failures} consecutive connection failures; start it again and `joulebench run --resume` this folder"
    )]
    Gone {
        /// Server key.
        server: String,
        /// Its base URL.
        url: String,
        /// Connection failures in a row.
        failures: u32,
    },
    /// Connections to it failed in a row and no request of this run ever got an answer.
    #[error(
        "server `{server}` at {url} never answered: {failures} connection failures in a row and no answer to any request (last: {last}); check the host and port of servers.{server}.url, and that the server listens there"
    )]
    NeverAnswered {
        /// Server key.
        server: String,
        /// Its base URL.
        url: String,
        /// Connection failures in a row.
        failures: u32,
        /// The last connection error.
        last: String,
    },
    /// It answered requests in a row with the same HTTP error.
    #[error(
        "server `{server}` at {url} answered {errors} requests in a row with the same HTTP error (last: {last}); fix the server (is the model still loaded? is the path right?) and `joulebench run --resume` this folder"
    )]
    HttpErrors {
        /// Server key.
        server: String,
        /// Its base URL.
        url: String,
        /// HTTP errors in a row.
        errors: u32,
        /// The last error, with the URL requested.
        last: String,
    },
}

/// A server that is up, and the client that talks to it.
struct Up {
    server: RunningServer,
    client: HttpClient,
    /// Whether any request of this session, or of the interrupted run it resumes, got an
    /// HTTP answer from it.
    answered: bool,
}

/// The running servers of a run, by server key.
pub struct ServerPool<'a> {
    suite: &'a Suite,
    plan: &'a Plan,
    /// Servers that answered a request of the interrupted run this one resumes.
    answered_before: BTreeSet<String>,
    joulebench_exe: &'a Path,
    log_dir: PathBuf,
    stop: &'a AtomicBool,
    running: BTreeMap<String, Up>,
}

impl<'a> ServerPool<'a> {
    /// An empty pool for the servers of `plan`; launched servers log into `dir`, waiting
    /// for one to be ready ends when `stop` is set, and `prior` (what an interrupted run
    /// did) tells which servers already answered.
    pub fn new(
        suite: &'a Suite,
        plan: &'a Plan,
        prior: &Prior,
        joulebench_exe: &'a Path,
        dir: &Path,
        stop: &'a AtomicBool,
    ) -> Self {
        Self {
            suite,
            plan,
            answered_before: answered_servers(plan, prior),
            joulebench_exe,
            log_dir: dir.join(files::SERVER_LOGS_DIR),
            stop,
            running: BTreeMap::new(),
        }
    }

    fn grouped(&self) -> bool {
        self.suite.schedule.order == RunOrder::Grouped
    }

    /// Stops what an interrupted run's launched servers left running (on `--resume`), then
    /// connects to or launches every server of the plan (interleaved order), or none yet
    /// (grouped order: each starts before its first configuration).
    pub async fn start_up(&mut self, plan: &Plan, progress: &ProgressBar) -> Result<(), RunError> {
        super::resume::stop_left_servers(&self.log_dir).await;
        if self.grouped() {
            return Ok(());
        }
        for config in &plan.configurations {
            self.ensure(&config.server, progress).await?;
        }
        Ok(())
    }

    /// The client of server `key`, connecting to or launching the server unless it is up.
    pub async fn ensure(
        &mut self,
        key: &str,
        progress: &ProgressBar,
    ) -> Result<&HttpClient, RunError> {
        let up = match self.running.entry(key.to_string()) {
            Entry::Occupied(up) => up.into_mut(),
            Entry::Vacant(slot) => {
                let up = start(
                    self.suite,
                    self.plan,
                    self.joulebench_exe,
                    &self.log_dir,
                    key,
                    progress,
                    self.stop,
                )
                .await?;
                slot.insert(up)
            }
        };
        Ok(&up.client)
    }

    /// Called after visiting a configuration of server `key`, with the server of the next
    /// visit: in grouped order the server is stopped once its configurations are done.
    pub async fn visited(&mut self, key: &str, next: Option<&str>) {
        if self.grouped() && next != Some(key) {
            self.release(key).await;
        }
    }

    /// Stops a server the run launched (grouped order, after its last configuration).
    async fn release(&mut self, key: &str) {
        if let Some(up) = self.running.remove(key) {
            tracing::info!("stopping server `{key}`: its configurations are done");
            up.server.stop().await;
        }
    }

    /// The processes of server `key` whose CPU time is the server's: a launched server's
    /// process group, or what its suite entry names; `Ok(None)` when nothing names them,
    /// an error when the suite's pid file cannot be read.
    pub fn process_scope(&self, key: &str) -> Result<Option<ProcessScope>, String> {
        if let Some(pid) = self.running.get(key).and_then(|up| up.server.pid()) {
            return Ok(Some(ProcessScope::Group(pid)));
        }
        let Some(named) = self
            .suite
            .servers
            .get(key)
            .and_then(|s| s.processes.as_ref())
        else {
            return Ok(None);
        };
        Ok(Some(match named {
            ServerProcesses::Pid(pid) => ProcessScope::Pid(*pid),
            ServerProcesses::Name(name) => ProcessScope::Name(name.clone()),
            ServerProcesses::PidFile(file) => {
                let path = self.suite.dir.join(file);
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| format!("pid_file {}: {e}", path.display()))?;
                let pid = text.trim().parse::<u32>().map_err(|e| {
                    format!(
                        "pid_file {} holds {:?}, not a pid ({e})",
                        path.display(),
                        text.trim()
                    )
                })?;
                ProcessScope::Pid(pid)
            }
        }))
    }

    /// Stops every server still up.
    pub async fn stop_all(&mut self) {
        for (_, up) in std::mem::take(&mut self.running) {
            up.server.stop().await;
        }
    }

    /// Notes what `batch` (just sent to server `key`) says, and why the server is dead,
    /// if it is: its process exited, or the batch stopped early.
    pub fn why_dead(&mut self, key: &str, batch: &BatchResult) -> Option<ServerDeath> {
        let up = self.running.get_mut(key)?;
        up.answered |= batch.answered > 0 || self.answered_before.contains(key);
        if let Some(status) = up.server.exit_status() {
            let (log, tail) = up.server.log_tail();
            return Some(ServerDeath::Exited {
                server: key.to_string(),
                status,
                log,
                tail,
            });
        }
        let server = key.to_string();
        let url = up.server.base_url.clone();
        let last = batch.last_error.clone().unwrap_or_default();
        match batch.stop_cause? {
            StopCause::Timeouts(timeouts) => Some(ServerDeath::Hung {
                server,
                url,
                timeouts,
                timeout_s: self.suite.schedule.request_timeout_seconds,
            }),
            StopCause::ConnectionFailures(failures) if up.answered => Some(ServerDeath::Gone {
                server,
                url,
                failures,
            }),
            StopCause::ConnectionFailures(failures) => Some(ServerDeath::NeverAnswered {
                server,
                url,
                failures,
                last,
            }),
            StopCause::HttpErrors(errors) => Some(ServerDeath::HttpErrors {
                server,
                url,
                errors,
                last,
            }),
        }
    }
}

/// The servers that answered a request of the interrupted run `prior` describes.
fn answered_servers(plan: &Plan, prior: &Prior) -> BTreeSet<String> {
    plan.configurations
        .iter()
        .filter(|c| prior.answered.contains(&c.id))
        .map(|c| c.server.clone())
        .collect()
}

/// Connects to or launches server `key` and builds its client.
async fn start(
    suite: &Suite,
    plan: &Plan,
    joulebench_exe: &Path,
    log_dir: &Path,
    key: &str,
    progress: &ProgressBar,
    stop: &AtomicBool,
) -> Result<Up, RunError> {
    let places = Placeholders {
        joulebench: joulebench_exe,
        suite_dir: &suite.dir,
    };
    let timeout = Duration::from_secs_f64(suite.schedule.request_timeout_seconds);
    let spec = &suite.servers[key];
    let api_key = match &spec.api_key_env {
        Some(var) => Some(std::env::var(var).map_err(|_| RunError::ApiKey {
            server: key.to_string(),
            var: var.clone(),
        })?),
        None => None,
    };
    if spec.is_launched() {
        progress.set_message(format!("starting server `{key}`"));
    }
    let readiness = Readiness::of(plan, spec, key);
    let server = RunningServer::start(key, spec, &readiness, &places, log_dir, stop).await?;
    if let Some((url, body)) = &server.models_answer {
        write_server_models(plan, log_dir, key, url, body)?;
    }
    let client = HttpClient::new(&server.base_url, timeout, api_key)?;
    Ok(Up {
        server,
        client,
        answered: false,
    })
}

/// Writes `servers/KEY.models.json`: what server `key`'s `/v1/models` answer (`body`,
/// from `url`) says of each model of the plan it serves (their `data[]` entries).
fn write_server_models(
    plan: &Plan,
    log_dir: &Path,
    key: &str,
    url: &str,
    body: &[u8],
) -> Result<(), RunError> {
    let models = server_models(plan, key, body);
    if models.is_empty() {
        return Ok(());
    }
    let record = records::models::ServerModels {
        server: key.to_string(),
        url: url.to_string(),
        models,
    };
    let path = log_dir.join(records::models::server_models_file(key));
    let io = |reason: String| {
        RunError::from(crate::server::ServerError::Io {
            path: path.clone(),
            reason,
        })
    };
    let text = serde_json::to_string_pretty(&record).map_err(|e| io(e.to_string()))?;
    // An external server has no log, so its run may not have made `servers/` yet.
    std::fs::create_dir_all(log_dir).map_err(|e| io(e.to_string()))?;
    std::fs::write(&path, text).map_err(|e| io(e.to_string()))
}

/// The `data[]` entries of a `/v1/models` answer for the plan's models on server `key`,
/// once per model, in plan order.
fn server_models(plan: &Plan, key: &str, body: &[u8]) -> Vec<records::models::ServerModel> {
    let Ok(answer) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Vec::new();
    };
    let Some(data) = answer.get("data").and_then(|d| d.as_array()) else {
        return Vec::new();
    };
    let mut out: Vec<records::models::ServerModel> = Vec::new();
    for c in plan.configurations.iter().filter(|c| c.server == key) {
        if out.iter().any(|m| m.model == c.model) {
            continue;
        }
        let entry = data
            .iter()
            .find(|e| e.get("id").and_then(|id| id.as_str()) == Some(c.served_name.as_str()));
        if let Some(entry) = entry {
            out.push(records::models::ServerModel::of(&c.model, entry));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_models_answer_gives_the_entries_of_the_plans_models_by_served_name() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("d.jsonl"), "{\"text\": \"a\"}\n").expect("data");
        let text = "[suite]\nname = \"n\"\n[servers.s]\nprotocol = \"openai-completions\"\nurl = \"http://127.0.0.1:9\"\n\
             [[datasets]]\nname = \"d\"\ntask = \"t\"\npath = \"d.jsonl\"\n\
             [[models]]\nname = \"base\"\nserved_name = \"f32\"\ntask = \"t\"\nclass = \"task-specific\"\nserver = \"s\"\n\
             [[models]]\nname = \"small\"\nserved_name = \"q4\"\ntask = \"t\"\nclass = \"task-specific\"\nserver = \"s\"\nvariant_of = \"base\"\ntechnique = \"quantization\"\n";
        let path = dir.path().join("s.toml");
        std::fs::write(&path, text).expect("suite");
        let suite = crate::suite::load(&path).expect("suite");
        let body = br#"{"data":[{"id":"other","parameters":1},{"id":"q4","parameters":135,"active_parameters":135,"weights":{"format":"q4_0","bytes":76,"bits_per_weight":4.5,"fallbacks":[]}},{"id":"f32","parameters":135,"architecture":"Llama"}]}"#;
        let models = server_models(&suite.plan, "s", body);
        let names: Vec<(&str, &str)> = models
            .iter()
            .map(|m| (m.model.as_str(), m.served_name.as_str()))
            .collect();
        assert_eq!(names, vec![("base", "f32"), ("small", "q4")]);
        assert_eq!(models[0].architecture.as_deref(), Some("Llama"));
        assert_eq!(models[1].weights.as_ref().and_then(|w| w.bytes), Some(76));
        assert!(server_models(&suite.plan, "s", b"not json").is_empty());
        let log = dir.path().join("servers");
        std::fs::create_dir_all(&log).expect("dir");
        write_server_models(&suite.plan, &log, "s", "http://h/v1/models", body).expect("write");
        let written: records::models::ServerModels = serde_json::from_str(
            &std::fs::read_to_string(log.join("s.models.json")).expect("file"),
        )
        .expect("json");
        assert_eq!(written.models.len(), 2);
    }

    #[test]
    fn a_hung_server_says_how_long_it_waited_and_how_to_go_on() {
        let death = ServerDeath::Hung {
            server: "llm".into(),
            url: "http://127.0.0.1:8000".into(),
            timeouts: 3,
            timeout_s: 2.5,
        };
        assert_eq!(
            death.to_string(),
            "server `llm` at http://127.0.0.1:8000 is hung: 3 requests in a row got no answer within schedule.request_timeout_seconds (2.5 s); restart it (or raise the timeout if its answers are that slow) and `joulebench run --resume` this folder"
        );
    }

    #[test]
    fn a_gone_server_says_how_many_connections_failed() {
        let death = ServerDeath::Gone {
            server: "llm".into(),
            url: "http://127.0.0.1:8000".into(),
            failures: 4,
        };
        assert_eq!(
            death.to_string(),
            "server `llm` at http://127.0.0.1:8000 stopped answering: 4 consecutive connection failures; start it again and `joulebench run --resume` this folder"
        );
    }

    #[test]
    fn a_server_that_exited_mid_run_says_so_with_its_status() {
        let death = ServerDeath::Exited {
            server: "llm".into(),
            status: "signal: 9 (SIGKILL)".into(),
            log: PathBuf::from("server-logs/llm.log"),
            tail: "boom".into(),
        };
        assert_eq!(
            death.to_string(),
            "server `llm` exited mid-run (signal: 9 (SIGKILL)); `joulebench run --resume` this folder starts it again; last lines of server-logs/llm.log:\nboom"
        );
    }

    #[test]
    fn a_server_that_never_answered_points_at_its_url_not_at_resume() {
        let death = ServerDeath::NeverAnswered {
            server: "llm".into(),
            url: "http://127.0.0.1:8001".into(),
            failures: 3,
            last: "Connection refused".into(),
        };
        let text = death.to_string();
        assert!(text.contains("never answered"), "{text}");
        assert!(text.contains("servers.llm.url"), "{text}");
        assert!(!text.contains("resume"), "{text}");
    }

    #[test]
    fn an_http_error_streak_names_the_last_error_and_how_to_go_on() {
        let death = ServerDeath::HttpErrors {
            server: "llm".into(),
            url: "http://127.0.0.1:8000".into(),
            errors: 10,
            last: "HTTP 404 Not Found from POST http://127.0.0.1:8000/v1/completions: {}".into(),
        };
        assert_eq!(
            death.to_string(),
            "server `llm` at http://127.0.0.1:8000 answered 10 requests in a row with the same HTTP error (last: HTTP 404 Not Found from POST http://127.0.0.1:8000/v1/completions: {}); fix the server (is the model still loaded? is the path right?) and `joulebench run --resume` this folder"
        );
    }
}
