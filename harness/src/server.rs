//! Model server lifecycle: an address, or a command the runner starts, waits for and stops.

use crate::suite::{Server, ServerAddress};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// Why a server could not be reached or started.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The launch command could not be started.
    #[error("server `{name}`: cannot start {command:?}: {reason}")]
    Spawn {
        /// Server key.
        name: String,
        /// The command.
        command: String,
        /// Why.
        reason: String,
    },
    /// The server exited before it was ready.
    #[error("server `{name}` exited ({status}) before it was ready; last lines of {}:\n{tail}", log.display())]
    Exited {
        /// Server key.
        name: String,
        /// Exit status.
        status: String,
        /// Its log file.
        log: PathBuf,
        /// The end of its log.
        tail: String,
    },
    /// The readiness URL did not answer 2xx in time.
    #[error("server `{name}` not ready: {url} did not answer 2xx within {timeout_s} s (last: {last}); raise ready_timeout_seconds or check the server{}", log.as_ref().map(|l| format!(", whose log is {}", l.display())).unwrap_or_default())]
    NotReady {
        /// Server key.
        name: String,
        /// Readiness URL.
        url: String,
        /// Seconds waited.
        timeout_s: f64,
        /// The last answer or error.
        last: String,
        /// Its log file, for launched servers.
        log: Option<PathBuf>,
    },
    /// A file of the run folder could not be written.
    #[error("{}: {reason}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

/// A server the run talks to; launched servers are stopped with their process group.
pub struct RunningServer {
    /// Server key.
    pub name: String,
    /// Base URL requests go to.
    pub base_url: String,
    child: Option<tokio::process::Child>,
    log: Option<PathBuf>,
}

/// Values substituted into launch commands and URLs.
pub struct Placeholders<'a> {
    /// This binary, for `{joulebench}`.
    pub joulebench: &'a Path,
    /// The suite's folder, for `{suite_dir}`.
    pub suite_dir: &'a Path,
}

impl RunningServer {
    /// Connects to or launches a server, and waits until it is ready.
    pub async fn start(
        name: &str,
        spec: &Server,
        places: &Placeholders<'_>,
        log_dir: &Path,
    ) -> Result<Self, ServerError> {
        let timeout = Duration::from_secs_f64(spec.ready_timeout_seconds);
        let launch = match &spec.address {
            ServerAddress::Launch(argv) => argv,
            ServerAddress::Url(url) => {
                let base_url = url.trim_end_matches('/').to_string();
                let ready = spec
                    .ready_url
                    .clone()
                    .unwrap_or_else(|| format!("{base_url}/health"));
                let mut server = Self {
                    name: name.to_string(),
                    base_url,
                    child: None,
                    log: None,
                };
                server.wait_ready(&ready, timeout).await?;
                return Ok(server);
            }
        };
        let port = free_port().map_err(|e| ServerError::Spawn {
            name: name.into(),
            command: String::new(),
            reason: format!("no free loopback port: {e}"),
        })?;
        let fill = |s: &str| {
            s.replace("{joulebench}", &places.joulebench.to_string_lossy())
                .replace("{suite_dir}", &places.suite_dir.to_string_lossy())
                .replace("{port}", &port.to_string())
        };
        let argv: Vec<String> = launch.iter().map(|a| fill(a)).collect();
        let base_url = format!("http://127.0.0.1:{port}");
        let ready = spec
            .ready_url
            .as_deref()
            .map(fill)
            .unwrap_or_else(|| format!("{base_url}/health"));
        std::fs::create_dir_all(log_dir).map_err(|e| ServerError::Io {
            path: log_dir.to_path_buf(),
            reason: e.to_string(),
        })?;
        let log = log_dir.join(format!("{name}.log"));
        let open = |p: &Path| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .map_err(|e| ServerError::Io {
                    path: p.to_path_buf(),
                    reason: e.to_string(),
                })
        };
        let stdout = open(&log)?;
        let stderr = open(&log)?;
        let mut command = tokio::process::Command::new(&argv[0]);
        command
            .args(&argv[1..])
            .envs(&spec.env)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .process_group(0)
            .kill_on_drop(true);
        let child = command.spawn().map_err(|e| ServerError::Spawn {
            name: name.into(),
            command: argv.join(" "),
            reason: e.to_string(),
        })?;
        tracing::info!(
            "server `{name}`: started {} (pid {:?})",
            argv.join(" "),
            child.id()
        );
        let mut server = Self {
            name: name.to_string(),
            base_url,
            child: Some(child),
            log: Some(log),
        };
        server.wait_ready(&ready, timeout).await?;
        Ok(server)
    }

    /// Polls `url` until it answers 2xx, the launched process exits, or time runs out.
    async fn wait_ready(&mut self, url: &str, timeout: Duration) -> Result<(), ServerError> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| ServerError::Io {
                path: PathBuf::from(url),
                reason: e.to_string(),
            })?;
        let deadline = Instant::now() + timeout;
        let mut last: String;
        loop {
            if let Some(exit) = self.exit_status() {
                return Err(self.exited(exit));
            }
            match client.get(url).send().await {
                Ok(r) if r.status().is_success() => return Ok(()),
                Ok(r) => last = format!("HTTP {}", r.status()),
                Err(e) => last = e.to_string(),
            }
            if Instant::now() >= deadline {
                return Err(ServerError::NotReady {
                    name: self.name.clone(),
                    url: url.to_string(),
                    timeout_s: timeout.as_secs_f64(),
                    last,
                    log: self.log.clone(),
                });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The exit status of a launched server that has stopped; `None` while it runs.
    pub fn exit_status(&mut self) -> Option<String> {
        let child = self.child.as_mut()?;
        match child.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            Ok(None) => None,
            Err(e) => Some(format!("unknown ({e})")),
        }
    }

    /// The error for a launched server that exited.
    pub fn exited(&self, status: String) -> ServerError {
        let log = self.log.clone().unwrap_or_default();
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(20)..].join("\n");
        ServerError::Exited {
            name: self.name.clone(),
            status,
            log,
            tail,
        }
    }

    /// Stops a launched server: SIGTERM to its process group, SIGKILL after 10 s.
    pub async fn stop(mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Some(pid) = child.id() {
            signal_group(pid, libc::SIGTERM);
            if tokio::time::timeout(Duration::from_secs(10), child.wait())
                .await
                .is_err()
            {
                tracing::warn!(
                    "server `{}` ignored SIGTERM for 10 s; killing it",
                    self.name
                );
                signal_group(pid, libc::SIGKILL);
                let _ = child.wait().await;
            }
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if let Some(pid) = self.child.as_ref().and_then(|c| c.id()) {
            signal_group(pid, libc::SIGKILL);
        }
    }
}

/// Sends `signal` to the process group led by `pid`.
fn signal_group(pid: u32, signal: libc::c_int) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: kill(2) with a negative pid signals a process group; no memory is shared.
        unsafe {
            libc::kill(-pid, signal);
        }
    }
}

/// A loopback port free at the moment of asking.
fn free_port() -> std::io::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}
