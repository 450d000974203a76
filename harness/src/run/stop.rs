//! Why the run loop stopped, and the one mapping from that to the status `run.json` records.

use super::RunError;
use super::servers::ServerDeath;
use records::manifest::RunStatus;

/// The message recorded when Ctrl-C or SIGTERM stopped the run.
const SIGNAL_MESSAGE: &str = "stopped by a signal (Ctrl-C or SIGTERM)";

/// Why the run loop stopped without an error.
#[derive(Debug)]
pub enum StopReason {
    /// Every repetition still to take was taken.
    Finished,
    /// Ctrl-C or SIGTERM asked the run to stop.
    Interrupted,
    /// A server the run needs died or stopped answering.
    ServerDied(ServerDeath),
}

/// How a run ended, as `run.json` and the binary report it.
#[derive(Clone, Debug, PartialEq)]
pub struct Ending {
    /// The run's final status.
    pub status: RunStatus,
    /// Why it ended early, if it did.
    pub reason: Option<String>,
}

impl Ending {
    /// The ending of a run whose loop returned `outcome`; `stop_asked` tells whether a
    /// signal had asked it to stop (an error then counts as an interruption).
    pub fn of(outcome: Result<&StopReason, &RunError>, stop_asked: bool) -> Self {
        match outcome {
            Ok(StopReason::Finished) => Self {
                status: RunStatus::Complete,
                reason: None,
            },
            Ok(StopReason::Interrupted) => Self {
                status: RunStatus::Interrupted,
                reason: Some(SIGNAL_MESSAGE.to_string()),
            },
            Ok(StopReason::ServerDied(death)) => Self {
                status: RunStatus::Interrupted,
                reason: Some(death.to_string()),
            },
            Err(e) => Self {
                status: if stop_asked {
                    RunStatus::Interrupted
                } else {
                    RunStatus::Failed
                },
                reason: Some(e.to_string()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finished_is_complete_with_no_reason_even_after_a_late_signal() {
        let ending = Ending::of(Ok(&StopReason::Finished), true);
        assert_eq!(ending.status, RunStatus::Complete);
        assert_eq!(ending.reason, None);
    }

    #[test]
    fn a_signal_interrupts_with_the_signal_message() {
        let ending = Ending::of(Ok(&StopReason::Interrupted), true);
        assert_eq!(ending.status, RunStatus::Interrupted);
        assert_eq!(
            ending.reason.as_deref(),
            Some("stopped by a signal (Ctrl-C or SIGTERM)")
        );
    }

    #[test]
    fn a_dead_server_interrupts_with_why_it_died() {
        let death = ServerDeath::Gone {
            server: "s".into(),
            url: "http://127.0.0.1:9".into(),
            failures: 3,
        };
        let expected = death.to_string();
        let ending = Ending::of(Ok(&StopReason::ServerDied(death)), false);
        assert_eq!(ending.status, RunStatus::Interrupted);
        assert_eq!(ending.reason, Some(expected));
    }

    #[test]
    fn an_error_fails_the_run_unless_a_signal_asked_it_to_stop() {
        let error = RunError::ApiKey {
            server: "s".into(),
            var: "KEY".into(),
        };
        let failed = Ending::of(Err(&error), false);
        assert_eq!(failed.status, RunStatus::Failed);
        assert_eq!(failed.reason, Some(error.to_string()));
        let interrupted = Ending::of(Err(&error), true);
        assert_eq!(interrupted.status, RunStatus::Interrupted);
        assert_eq!(interrupted.reason, Some(error.to_string()));
    }
}
