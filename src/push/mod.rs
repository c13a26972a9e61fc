//! Publishes built images to every enabled registry: each target to
//! `<repository of its package>:<tag>`, several at once, retrying what may
//! pass (connection errors, 5xx, 429) with backoff, and then asking the
//! registry itself for the tag's digest to check that what arrived is what
//! was pushed. Registry messages are scrubbed of credentials. Credentials
//! are checked once per repository first (`check`); a registry that fails
//! the check is reported once ([`CheckFailure`]), not once per target.
//!
//! Pushing is a capability of the engines that hold the images and can
//! send them ([`Pusher`]); the verification is the registry's word
//! ([`Registry`]), not the engine's.

mod check;
mod one;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use crate::engine::Pusher;
use crate::plan::Target;
use crate::registry::{Enabled, Registry, Scrubber};
use crate::run::{CheckFailure, Event, Outcome, Reporter, Status, Summary, Work};
use one::PushedDigest;

/// How to push.
#[derive(Clone, Debug)]
pub struct PushOptions {
    /// Pushes at once.
    pub jobs: usize,
    /// Attempts per push (and per verification) before giving up.
    pub attempts: u32,
    /// The first wait between attempts; it doubles each time.
    pub backoff: Duration,
}

/// One push: a target to a registry.
#[derive(Clone, Debug)]
pub struct Push {
    /// The local image, `PACKAGE:TAG`.
    pub target: String,
    /// The registry.
    pub registry: Arc<Enabled>,
    /// The repository path on it.
    pub repository: String,
    /// The tag.
    pub tag: String,
    /// The platforms the target declares: with several, the tag must be
    /// an index of exactly those.
    pub platforms: Vec<String>,
    /// Whether the manifest asks for attestations (`attest`): only then
    /// may an index hold attestation manifests.
    pub attest: bool,
}

impl Push {
    /// `repository:tag`.
    #[must_use]
    pub fn reference(&self) -> String {
        crate::registry::reference::tagged(&self.repository, &self.tag)
    }

    /// Its outcome, nothing done yet.
    fn outcome(&self, status: Status) -> Outcome {
        let mut outcome = Outcome::new(&self.target, status);
        outcome.registry = Some(self.registry.host.clone());
        outcome.reference = Some(self.reference());
        outcome.attempts = Some(0);
        outcome
    }
}

/// The pushes of `targets`: each to every registry that has a repository
/// for its package, in target order; `attest` when the manifest asks for
/// attestations.
#[must_use]
pub fn pushes(targets: &[&Target], registries: &[Arc<Enabled>], attest: bool) -> Vec<Push> {
    let mut jobs = Vec::new();
    for target in targets {
        for registry in registries {
            if let Some(repository) = registry.repository(&target.package) {
                jobs.push(Push {
                    target: target.name.clone(),
                    registry: Arc::clone(registry),
                    repository: repository.to_string(),
                    tag: target.tag.clone(),
                    platforms: target.platforms.clone(),
                    attest,
                });
            }
        }
    }
    jobs
}

/// What every push needs.
#[derive(Clone)]
struct Shared {
    engine: Arc<dyn Pusher>,
    registry: Arc<dyn Registry>,
    scrubber: Arc<Scrubber>,
    options: PushOptions,
    reporter: Arc<dyn Reporter>,
}

/// Pushes every job, `options.jobs` at once; stops starting new ones when
/// `interrupt` resolves.
pub async fn push(
    jobs: Vec<Push>,
    engine: Arc<dyn Pusher>,
    registry: Arc<dyn Registry>,
    scrubber: Arc<Scrubber>,
    options: &PushOptions,
    reporter: Arc<dyn Reporter>,
    interrupt: impl std::future::Future<Output = ()>,
) -> Summary {
    let started = Instant::now();
    let shared = Shared {
        engine,
        registry,
        scrubber,
        options: options.clone(),
        reporter,
    };
    shared.reporter.event(Event::Begin {
        work: Work::Push,
        total: jobs.len(),
    });
    tokio::pin!(interrupt);
    let checked = check::credentials(&jobs, &shared, &mut interrupt).await;
    let mut run = Run {
        outcomes: checked.outcomes,
        digests: (0..jobs.len()).map(|_| PushedDigest::default()).collect(),
        started: vec![false; jobs.len()],
        interrupted: checked.interrupted,
    };
    run.push_all(&jobs, &shared, &mut interrupt).await;
    let interrupted = run.interrupted;
    Summary {
        work: Work::Push,
        engine: shared.engine.name().to_string(),
        targets: run.settle(&jobs, &*shared.reporter),
        checks: checked.failures,
        interrupted,
        seconds: started.elapsed().as_secs_f64(),
        push: None,
    }
}

/// The pushes under way.
struct Run {
    /// Each job's outcome, once it has one.
    outcomes: Vec<Option<Outcome>>,
    /// The digest each push got from the engine, if it got that far.
    digests: Vec<PushedDigest>,
    /// Whether each job started.
    started: Vec<bool>,
    interrupted: bool,
}

impl Run {
    /// Runs the jobs without an outcome, `jobs` at once, until done or
    /// interrupted.
    async fn push_all(
        &mut self,
        jobs: &[Push],
        shared: &Shared,
        interrupt: &mut std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
    ) {
        let pending: Vec<usize> = (0..jobs.len())
            .filter(|i| self.outcomes[*i].is_none())
            .collect();
        let mut pending = pending.into_iter();
        let mut running: JoinSet<(usize, Outcome)> = JoinSet::new();
        // The job of each task, to name a task that panicked.
        let mut tasks: std::collections::HashMap<tokio::task::Id, usize> =
            std::collections::HashMap::new();
        loop {
            while !self.interrupted && running.len() < shared.options.jobs.max(1) {
                let Some(i) = pending.next() else {
                    break;
                };
                self.started[i] = true;
                let job = jobs[i].clone();
                let shared = shared.clone();
                let digest = self.digests[i].clone();
                let task = running.spawn(async move {
                    shared.reporter.event(Event::Pushing {
                        target: &job.target,
                        reference: &job.reference(),
                    });
                    let outcome = one::push(&job, &shared, &digest).await;
                    shared.reporter.event(Event::Finished { outcome: &outcome });
                    (i, outcome)
                });
                tasks.insert(task.id(), i);
            }
            if running.is_empty() {
                break;
            }
            tokio::select! {
                joined = running.join_next() => match joined {
                    Some(Ok((i, outcome))) => self.outcomes[i] = Some(outcome),
                    Some(Err(error)) => {
                        if let Some(&i) = tasks.get(&error.id()) {
                            let outcome = jobs[i]
                                .outcome(Status::Failed)
                                .because(format!("the push task failed: {error}"));
                            shared.reporter.event(Event::Finished { outcome: &outcome });
                            self.outcomes[i] = Some(outcome);
                        }
                    }
                    None => {}
                },
                () = interrupt.as_mut(), if !self.interrupted => {
                    self.interrupted = true;
                    running.abort_all();
                    while let Some(joined) = running.join_next().await {
                        if let Ok((i, outcome)) = joined {
                            self.outcomes[i] = Some(outcome);
                        }
                    }
                    break;
                }
            }
        }
    }

    /// Every outcome; a push an interruption cut off is named by what it
    /// had done.
    fn settle(&mut self, jobs: &[Push], reporter: &dyn Reporter) -> Vec<Outcome> {
        let mut outcomes = Vec::with_capacity(jobs.len());
        for (i, job) in jobs.iter().enumerate() {
            if let Some(outcome) = self.outcomes[i].take() {
                outcomes.push(outcome);
                continue;
            }
            let (status, digest, reason) = match self.digests[i].digest() {
                Some(digest) => (
                    Status::Pushed,
                    Some(digest),
                    "interrupted before the registry was asked to confirm it",
                ),
                None if self.started[i] => (Status::Cancelled, None, "interrupted while pushing"),
                None => (Status::Skipped, None, "interrupted"),
            };
            let mut outcome = job.outcome(status).because(reason);
            outcome.digest = digest;
            reporter.event(Event::Finished { outcome: &outcome });
            outcomes.push(outcome);
        }
        outcomes
    }
}

/// The outcome of a job whose credential check failed.
fn not_attempted(job: &Push, failure: &CheckFailure) -> Outcome {
    let mut outcome = job.outcome(Status::Failed).because(failure.message.clone());
    outcome.attempts = Some(failure.attempts);
    outcome
}

#[cfg(test)]
mod tests;
