//! Model server lifecycle: an address, or a command the runner starts, waits for and stops.

mod launch_record;
mod readiness;

pub use launch_record::{LaunchRecord, ProcStat};
pub use readiness::{Probe, Readiness, ReadyCheck};

use crate::suite::{Server, ServerAddress};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

/// How long a launched server is given to exit after SIGTERM before it gets SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(10);

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
    /// A readiness URL did not answer ready (2xx, listing the models where asked) in time.
    #[error("server `{name}` not ready: GET {url} did not answer ready within {timeout_s} s (last: {last}); {}{}", if *answered { "raise ready_timeout_seconds or check the server" } else { "nothing ever answered there: check its host and port (or raise ready_timeout_seconds if the server is slow to start)" }, log.as_ref().map(|l| format!(", whose log is {}", l.display())).unwrap_or_default())]
    NotReady {
        /// Server key.
        name: String,
        /// Readiness URL.
        url: String,
        /// Seconds waited.
        timeout_s: f64,
        /// The last answer or error.
        last: String,
        /// Whether any poll got an HTTP answer.
        answered: bool,
        /// Its log file, for launched servers.
        log: Option<PathBuf>,
    },
    /// A readiness URL its protocol defines answered 404, 405 or 501: the server does not
    /// have it, so waiting longer cannot help.
    #[error("server `{name}`: GET {url} answered {status}: {}; set ready_url = \"...\" in [servers.{name}] to a URL the server answers 2xx on once it is ready", match model { Some(m) => format!("the server does not serve model {m:?} (the {protocol} readiness URL of each model; check the model's served_name)"), None => format!("the server does not have the readiness URL the {protocol} protocol defines") })]
    NoReadyUrl {
        /// Server key.
        name: String,
        /// The URL asked.
        url: String,
        /// Its HTTP status.
        status: String,
        /// The protocol that defines the URL.
        protocol: &'static str,
        /// The served model the URL is about (KServe `/v2/models/{name}/ready`).
        model: Option<String>,
    },
    /// Ctrl-C or SIGTERM came while waiting for the server to be ready.
    #[error(
        "server `{name}`: stopped by a signal (Ctrl-C or SIGTERM) while waiting for {url} to answer"
    )]
    Interrupted {
        /// Server key.
        name: String,
        /// Readiness URL.
        url: String,
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
    /// `servers/NAME.pid`, removed once the server is stopped.
    record: Option<PathBuf>,
    /// Keeps alive the thread that forked the server (see [`spawn_on_own_thread`]).
    _launcher: Option<std::sync::mpsc::Sender<()>>,
    /// The URL and answer of the readiness check that listed the models (OpenAI
    /// `GET /v1/models`), when one did.
    pub models_answer: Option<(String, Vec<u8>)>,
}

/// Values substituted into launch commands and URLs.
pub struct Placeholders<'a> {
    /// This binary, for `{joulebench}`.
    pub joulebench: &'a Path,
    /// The suite's folder, for `{suite_dir}` (made absolute) and the server's working
    /// directory.
    pub suite_dir: &'a Path,
}

impl RunningServer {
    /// Connects to or launches a server, and waits until it is ready (as `readiness` says)
    /// or `stop` is set; a launched server that does not get ready is stopped.
    pub async fn start(
        name: &str,
        spec: &Server,
        readiness: &Readiness,
        places: &Placeholders<'_>,
        log_dir: &Path,
        stop: &AtomicBool,
    ) -> Result<Self, ServerError> {
        let timeout = Duration::from_secs_f64(spec.ready_timeout_seconds);
        let launch = match &spec.address {
            ServerAddress::Launch(argv) => argv,
            ServerAddress::Url(url) => {
                let base_url = url.trim_end_matches('/').to_string();
                let ready = readiness.probes(&base_url, str::to_string);
                let mut server = Self {
                    name: name.to_string(),
                    base_url,
                    child: None,
                    log: None,
                    record: None,
                    _launcher: None,
                    models_answer: None,
                };
                server.wait_ready(&ready, timeout, stop).await?;
                return Ok(server);
            }
        };
        let port = free_port().map_err(|e| ServerError::Spawn {
            name: name.into(),
            command: String::new(),
            reason: format!("no free loopback port: {e}"),
        })?;
        let suite_dir =
            std::fs::canonicalize(places.suite_dir).map_err(|e| ServerError::Spawn {
                name: name.into(),
                command: launch.join(" "),
                reason: format!(
                    "cannot resolve the suite folder {}: {e}",
                    places.suite_dir.display()
                ),
            })?;
        let fill = |s: &str| {
            s.replace("{joulebench}", &places.joulebench.to_string_lossy())
                .replace("{suite_dir}", &suite_dir.to_string_lossy())
                .replace("{port}", &port.to_string())
        };
        let argv: Vec<String> = launch.iter().map(|a| fill(a)).collect();
        let base_url = format!("http://127.0.0.1:{port}");
        let ready = readiness.probes(&base_url, fill);
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
            .current_dir(&suite_dir)
            .process_group(0)
            .kill_on_drop(true);
        die_with_parent(&mut command);
        let (child, launcher) = spawn_on_own_thread(command).map_err(|e| ServerError::Spawn {
            name: name.into(),
            command: argv.join(" "),
            reason: e.to_string(),
        })?;
        tracing::info!(
            "server `{name}`: started {} in {} (pid {:?})",
            argv.join(" "),
            suite_dir.display(),
            child.id()
        );
        let mut server = Self {
            name: name.to_string(),
            base_url,
            record: child
                .id()
                .map(|pid| write_record(log_dir, name, pid))
                .transpose()?,
            child: Some(child),
            log: Some(log),
            _launcher: Some(launcher),
            models_answer: None,
        };
        if let Err(e) = server.wait_ready(&ready, timeout, stop).await {
            server.stop().await;
            return Err(e);
        }
        Ok(server)
    }

    /// Polls each probe in turn until it passes, the launched process exits, time runs out
    /// (one deadline for all), a probe's URL proves missing, or `stop` is set.
    async fn wait_ready(
        &mut self,
        probes: &[Probe],
        timeout: Duration,
        stop: &AtomicBool,
    ) -> Result<(), ServerError> {
        let deadline = Instant::now() + timeout;
        for probe in probes {
            tokio::select! {
                ready = self.poll_ready(probe, deadline, timeout) => ready?,
                () = crate::run::signals::stopped(stop) => return Err(ServerError::Interrupted {
                    name: self.name.clone(),
                    url: probe.url.clone(),
                }),
            }
        }
        Ok(())
    }

    /// Polls `probe` until it passes, the launched process exits, its URL proves missing
    /// (404, 405 or 501 on a protocol-defined URL), or `deadline` passes.
    async fn poll_ready(
        &mut self,
        probe: &Probe,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<(), ServerError> {
        let url = probe.url.as_str();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| ServerError::Io {
                path: PathBuf::from(url),
                reason: e.to_string(),
            })?;
        let mut last: String;
        let mut answered = false;
        loop {
            if let Some(exit) = self.exit_status() {
                return Err(self.exited(exit));
            }
            match client.get(url).send().await {
                Ok(r) if r.status().is_success() => {
                    answered = true;
                    let code = r.status();
                    let body = r.bytes().await.unwrap_or_default();
                    match probe.unready(&body) {
                        None => {
                            if !probe.lists.is_empty() {
                                self.models_answer = Some((url.to_string(), body.to_vec()));
                            }
                            return Ok(());
                        }
                        Some(why) => last = format!("HTTP {code} from GET {url}, but {why}"),
                    }
                }
                Ok(r) => {
                    answered = true;
                    let code = r.status();
                    if let (Some(protocol), 404 | 405 | 501) = (probe.protocol, code.as_u16()) {
                        return Err(ServerError::NoReadyUrl {
                            name: self.name.clone(),
                            url: url.to_string(),
                            status: code.to_string(),
                            protocol: protocol.as_str(),
                            model: probe.model.clone(),
                        });
                    }
                    last = format!("HTTP {code} from GET {url}");
                }
                Err(e) => last = crate::client::describe(&e),
            }
            if Instant::now() >= deadline {
                return Err(ServerError::NotReady {
                    name: self.name.clone(),
                    url: url.to_string(),
                    timeout_s: timeout.as_secs_f64(),
                    last,
                    answered,
                    log: self.log.clone(),
                });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The pid of a launched server (the leader of its process group); `None` otherwise.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(tokio::process::Child::id)
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

    /// The error for a launched server that exited before it was ready.
    pub fn exited(&self, status: String) -> ServerError {
        let (log, tail) = self.log_tail();
        ServerError::Exited {
            name: self.name.clone(),
            status,
            log,
            tail,
        }
    }

    /// A launched server's log file and its last 20 lines.
    pub fn log_tail(&self) -> (PathBuf, String) {
        let log = self.log.clone().unwrap_or_default();
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(20)..].join("\n");
        (log, tail)
    }

    /// Stops a launched server: SIGTERM to its process group, SIGKILL after [`STOP_GRACE`].
    pub async fn stop(mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Some(pid) = child.id() {
            signal_group(pid, libc::SIGTERM);
            if tokio::time::timeout(STOP_GRACE, child.wait())
                .await
                .is_err()
            {
                tracing::warn!(
                    "server `{}` ignored SIGTERM for {} s; killing it",
                    self.name,
                    STOP_GRACE.as_secs()
                );
                signal_group(pid, libc::SIGKILL);
                let _ = child.wait().await;
            }
        }
        self.forget_record();
    }

    /// Removes `servers/NAME.pid`: the server is gone.
    fn forget_record(&mut self) {
        if let Some(path) = self.record.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if let Some(pid) = self.child.as_ref().and_then(|c| c.id()) {
            signal_group(pid, libc::SIGKILL);
            self.forget_record();
        }
    }
}

/// Writes `servers/NAME.pid` for the server just started as `pid`.
fn write_record(log_dir: &Path, name: &str, pid: u32) -> Result<PathBuf, ServerError> {
    let path = LaunchRecord::path(log_dir, name);
    let io = |reason: String| ServerError::Io {
        path: path.clone(),
        reason,
    };
    let record =
        LaunchRecord::of(pid).ok_or_else(|| io(format!("process {pid} is not in /proc")))?;
    record.write(&path).map_err(|e| io(e.to_string()))?;
    Ok(path)
}

/// Makes the child get SIGKILL when the thread that forked it exits (joulebench killed,
/// or the server's handle dropped): `PR_SET_PDEATHSIG`, Linux only. It reaches the
/// direct child alone; processes the command forks (a shell that does not `exec`) are
/// left to the group signals of [`RunningServer::stop`] and to `--resume`.
fn die_with_parent(command: &mut tokio::process::Command) {
    let parent = libc::pid_t::try_from(std::process::id()).unwrap_or(0);
    // SAFETY: the closure runs in the forked child before exec; it calls only prctl(2)
    // and getppid(2), which are async-signal-safe, and builds errors without allocating.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // joulebench may have died between fork and prctl: then no signal would come.
            if libc::getppid() != parent {
                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
}

/// Spawns `command` from a new thread that lives until the returned sender is dropped:
/// the death signal of [`die_with_parent`] fires when the forking *thread* exits, and an
/// async runtime's worker threads may come and go.
fn spawn_on_own_thread(
    mut command: tokio::process::Command,
) -> std::io::Result<(tokio::process::Child, std::sync::mpsc::Sender<()>)> {
    let runtime = tokio::runtime::Handle::current();
    let (child_tx, child_rx) = std::sync::mpsc::channel();
    let (alive_tx, alive_rx) = std::sync::mpsc::channel::<()>();
    std::thread::Builder::new()
        .name("server-launcher".into())
        .spawn(move || {
            let _runtime = runtime.enter();
            let _ = child_tx.send(command.spawn());
            // Returns when the server's handle drops the sender.
            let _ = alive_rx.recv();
        })?;
    let child = child_rx
        .recv()
        .map_err(|_| std::io::Error::other("the launcher thread ended before spawning"))??;
    Ok((child, alive_tx))
}

/// Sends `signal` to the process group led by `pid`.
pub fn signal_group(pid: u32, signal: libc::c_int) {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Polls `done` every 10 ms for up to 5 s; whether it held.
    fn within_5_s(mut done: impl FnMut() -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !done() {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        true
    }

    /// Whether `pid` runs with no SIGKILL pending.
    fn running_unkilled(pid: u32) -> bool {
        let live = ProcStat::of(pid).is_some_and(|s| s.is_live());
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let kill_pending = status
            .lines()
            .filter_map(|l| {
                l.strip_prefix("SigPnd:")
                    .or_else(|| l.strip_prefix("ShdPnd:"))
            })
            .filter_map(|mask| u64::from_str_radix(mask.trim(), 16).ok())
            .any(|mask| mask & (1 << (libc::SIGKILL - 1)) != 0);
        live && !kill_pending
    }

    #[test]
    fn a_server_outlives_the_thread_that_started_it_and_dies_with_its_launcher() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let handle = runtime.handle().clone();
        // As a runtime's worker thread that ends later: the thread asking for the server.
        let (spawned, starter_tid) = std::thread::spawn(move || {
            let _runtime = handle.enter();
            let mut command = tokio::process::Command::new("sleep");
            command.arg("60");
            die_with_parent(&mut command);
            // SAFETY: gettid(2) has no preconditions and touches no memory.
            let tid = unsafe { libc::gettid() };
            (spawn_on_own_thread(command), tid)
        })
        .join()
        .expect("starter thread");
        let (child, launcher) = spawned.expect("spawn sleep");
        let pid = child.id().expect("pid");
        // Once its task entry is gone, the starter's exit (and any death signal) is done.
        assert!(within_5_s(|| !Path::new(&format!(
            "/proc/self/task/{starter_tid}"
        ))
        .exists()));
        assert!(
            running_unkilled(pid),
            "the server died with the starter thread"
        );
        drop(launcher);
        assert!(
            within_5_s(|| !running_unkilled(pid)),
            "the server outlived its launcher thread"
        );
        drop(child);
    }
}
