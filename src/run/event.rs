//! What long work says while it runs. The stages never print: they send
//! events, and only the command line draws them.

use super::{CheckFailure, Outcome, Work};

/// Something happened in a run.
#[derive(Debug)]
pub enum Event<'a> {
    /// The run starts with this many items.
    Begin {
        /// What the run does.
        work: Work,
        /// Items in the run: targets, or pushes (target x registry).
        total: usize,
    },
    /// A target waits for the image it is built FROM to be pulled.
    Pulling {
        /// `PACKAGE:TAG`.
        target: &'a str,
        /// The image pulled.
        image: &'a str,
    },
    /// A target's build started.
    Building {
        /// `PACKAGE:TAG`.
        target: &'a str,
    },
    /// A build reached a Dockerfile step.
    Step {
        /// `PACKAGE:TAG`.
        target: &'a str,
        /// 1-based step.
        current: usize,
        /// Steps in the Dockerfile.
        total: usize,
    },
    /// A test command started in a target's image.
    Testing {
        /// `PACKAGE:TAG`.
        target: &'a str,
        /// The shell command.
        command: &'a str,
    },
    /// The credentials of a registry are being checked for a repository
    /// (which may take the retries and the timeout).
    Checking {
        /// The registry's key in the manifest.
        registry: &'a str,
        /// The repository.
        repository: &'a str,
    },
    /// That check ended, however it ended.
    Checked {
        /// The registry's key in the manifest.
        registry: &'a str,
        /// The repository.
        repository: &'a str,
    },
    /// A credential check failed: `pushes` will not be attempted.
    CheckFailed {
        /// The failure, said once.
        failure: &'a CheckFailure,
        /// The pushes it stops.
        pushes: usize,
    },
    /// A push started.
    Pushing {
        /// The local image, `PACKAGE:TAG`.
        target: &'a str,
        /// Where it goes, `repository:tag`.
        reference: &'a str,
    },
    /// An item is done, whichever way; the pushes a failed credential
    /// check stops are said by [`Event::CheckFailed`] instead.
    Finished {
        /// Its outcome.
        outcome: &'a Outcome,
    },
}

/// Whoever draws a run.
pub trait Reporter: Send + Sync {
    /// Something happened.
    fn event(&self, event: Event<'_>);
}

/// Draws nothing.
#[cfg(test)]
pub struct Quiet;

#[cfg(test)]
impl Reporter for Quiet {
    fn event(&self, _: Event<'_>) {}
}

/// Keeps each event as a line (`finished app:1 built`), for tests of what
/// a run says and in which order.
#[cfg(test)]
#[derive(Default)]
pub struct Recorder(pub std::sync::Mutex<Vec<String>>);

#[cfg(test)]
impl Recorder {
    /// The lines so far.
    pub fn lines(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

#[cfg(test)]
impl Reporter for Recorder {
    fn event(&self, event: Event<'_>) {
        let line = match event {
            Event::Begin { total, .. } => format!("begin {total}"),
            Event::Pulling { target, image } => format!("pulling {target} {image}"),
            Event::Building { target } => format!("building {target}"),
            Event::Step {
                target,
                current,
                total,
            } => format!("step {target} {current}/{total}"),
            Event::Testing { target, command } => format!("testing {target} {command}"),
            Event::Checking {
                registry,
                repository,
            } => format!("checking {registry} {repository}"),
            Event::Checked {
                registry,
                repository,
            } => format!("checked {registry} {repository}"),
            Event::CheckFailed { failure, pushes } => {
                format!("check-failed {} {pushes}", failure.registry)
            }
            Event::Pushing { target, reference } => format!("pushing {target} {reference}"),
            Event::Finished { outcome } => {
                format!("finished {} {}", outcome.item(), outcome.status.as_str())
            }
        };
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(line);
    }
}
