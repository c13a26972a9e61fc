//! The credential check before any push, once per repository.
//!
//! A wrong password fails fast here, and an authentication error during a
//! push whose credentials were accepted is then a passing fault (a registry
//! that failed the daemon's first requests), retried like one. A registry
//! that refuses the credentials or does not answer fails all its
//! repositories at once: it is said, and waited for, once.

use super::one::retrying;
use super::{Push, Shared, not_attempted};
use crate::registry::{Access, Failure, Registry, classify};
use crate::run::{CheckFailure, Event, Outcome};

/// What the checks found.
pub(super) struct Checked {
    /// The failures, each said once.
    pub(super) failures: Vec<CheckFailure>,
    /// Per job, its outcome when its check failed.
    pub(super) outcomes: Vec<Option<Outcome>>,
    /// True when an interruption cut the checks short.
    pub(super) interrupted: bool,
}

/// Checks the credentials of every repository `jobs` push to, until done or
/// interrupted.
pub(super) async fn credentials(
    jobs: &[Push],
    shared: &Shared,
    interrupt: &mut std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
) -> Checked {
    let mut failures: Vec<CheckFailure> = Vec::new();
    // Per repository checked: the index of its failure, if it failed.
    let mut checked: Vec<(String, Option<usize>)> = Vec::new();
    // Registries that failed as a whole, with the index of their failure.
    let mut failed_hosts: Vec<(String, usize)> = Vec::new();
    let mut interrupted = false;
    for job in jobs {
        if checked.iter().any(|(r, _)| *r == job.repository) {
            continue;
        }
        if let Some((_, index)) = failed_hosts.iter().find(|(h, _)| *h == job.registry.host) {
            checked.push((job.repository.clone(), Some(*index)));
            continue;
        }
        let (registry, repository) = (job.registry.host.as_str(), job.repository.as_str());
        shared.reporter.event(Event::Checking {
            registry,
            repository,
        });
        let result = tokio::select! {
            result = check(job, &*shared.registry, &shared.options) => result,
            () = interrupt.as_mut() => {
                interrupted = true;
                break;
            }
        };
        shared.reporter.event(Event::Checked {
            registry,
            repository,
        });
        let failure = result.err().map(|(failure, attempts)| {
            failures.push(described(job, &failure, attempts, shared));
            let index = failures.len() - 1;
            if classify::whole_registry(&failure) {
                failed_hosts.push((job.registry.host.clone(), index));
            }
            index
        });
        checked.push((job.repository.clone(), failure));
    }
    let mut outcomes = vec![None; jobs.len()];
    let mut stopped = vec![0; failures.len()];
    for (i, job) in jobs.iter().enumerate() {
        let failure = checked
            .iter()
            .find(|(r, _)| *r == job.repository)
            .and_then(|(_, f)| *f);
        if let Some(index) = failure {
            stopped[index] += 1;
            outcomes[i] = Some(not_attempted(job, &failures[index]));
        }
    }
    // Said once per failed check, not once per target.
    for (failure, pushes) in failures.iter().zip(stopped) {
        shared
            .reporter
            .event(Event::CheckFailed { failure, pushes });
    }
    Checked {
        failures,
        outcomes,
        interrupted,
    }
}

/// A failed check in words, credentials scrubbed.
fn described(job: &Push, failure: &Failure, attempts: u32, shared: &Shared) -> CheckFailure {
    let described = failure.describe(&job.registry, &job.repository, Access::Push, attempts);
    let message = if matches!(failure, Failure::Other { .. }) {
        format!("cannot push to `{}`: {described}", job.repository)
    } else {
        described
    };
    CheckFailure {
        registry: job.registry.host.clone(),
        message: shared.scrubber.scrub(&message),
        attempts,
    }
}

/// Proves that the job's credentials may push to its repository (before
/// any image is pushed), retrying what may pass; a failure comes with the
/// attempts made.
async fn check(
    job: &Push,
    registry: &dyn Registry,
    options: &super::PushOptions,
) -> Result<(), (Failure, u32)> {
    // After a registry fault, an authentication error may only mean that
    // the fault broke the authentication handshake: retry it then too.
    let (result, attempts) = retrying(
        options,
        || registry.writable(&job.repository, job.registry.credentials.as_ref()),
        |failure: &Failure, faulted| {
            (failure.transient() || (faulted && matches!(failure, Failure::Denied { .. })))
                .then_some(true)
        },
    )
    .await;
    result.map_err(|failure| (failure, attempts))
}
