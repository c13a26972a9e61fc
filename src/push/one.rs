//! One push: the engine sends the image, retried while the failure may
//! pass, then the registry is asked what the tag holds now.

use std::sync::Arc;
use std::time::Instant;

use super::{Push, PushOptions, Shared};
use crate::engine;
use crate::registry::{Access, Failure, classify};
use crate::run::{Outcome, Status};

/// The digest a running push got from the engine, if it got that far, so
/// that an interruption reports it truly.
#[derive(Clone, Default)]
pub(super) struct PushedDigest(Arc<std::sync::Mutex<Option<String>>>);

impl PushedDigest {
    fn pushed(&self, digest: &str) {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(digest.into());
    }

    pub(super) fn digest(&self) -> Option<String> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// Runs `attempt` until it succeeds, or fails in a way `retry` does not
/// forgive, or `options.attempts` are spent, waiting `options.backoff`
/// (doubling) in between. `retry(error, faulted)` says whether the error
/// may pass (`Some`), and then whether it is a registry fault; `faulted`
/// says whether the previous error was one. Returns the last result and
/// the number of attempts.
pub(super) async fn retrying<T, E, F>(
    options: &PushOptions,
    mut attempt: impl FnMut() -> F,
    retry: impl Fn(&E, bool) -> Option<bool>,
) -> (Result<T, E>, u32)
where
    F: std::future::Future<Output = Result<T, E>>,
{
    let mut wait = options.backoff;
    let mut faulted = false;
    let mut attempts = 0;
    loop {
        attempts += 1;
        let error = match attempt().await {
            Ok(value) => return (Ok(value), attempts),
            Err(error) => error,
        };
        match retry(&error, faulted) {
            Some(fault) if attempts < options.attempts => {
                faulted = fault;
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
            _ => return (Err(error), attempts),
        }
    }
}

/// A push error of the engine in words: a registry that refuses the
/// connection is named, rather than quoting the client's error chain.
pub(super) fn push_error(job: &Push, message: &str, attempts: u32) -> String {
    if classify::connection_refused(message) {
        let failure = Failure::Unreachable {
            refused: true,
            message: String::new(),
            proxy: None,
        };
        return failure.describe(&job.registry, &job.repository, Access::Push, attempts);
    }
    if attempts > 1 {
        format!(
            "failed{}: {message}",
            crate::registry::after_attempts(attempts)
        )
    } else {
        message.to_string()
    }
}

/// Pushes `job`: the local image must exist; the pushed digest is kept in
/// `digest` as soon as the engine reports it.
pub(super) async fn push(job: &Push, shared: &Shared, digest: &PushedDigest) -> Outcome {
    let started = Instant::now();
    let mut outcome = pushed(job, shared, digest).await;
    outcome.reason = outcome.reason.map(|r| shared.scrubber.scrub(&r));
    outcome.seconds = started.elapsed().as_secs_f64();
    outcome
}

async fn pushed(job: &Push, shared: &Shared, digest: &PushedDigest) -> Outcome {
    let engine = &*shared.engine;
    match engine.inspect(&job.target).await {
        Ok(Some(_)) => {}
        Ok(None) => {
            return job
                .outcome(Status::Skipped)
                .because("no local image: build it first");
        }
        Err(e) => {
            return job
                .outcome(Status::Failed)
                .because(format!("cannot inspect `{}`: {e}", job.target));
        }
    }
    let credentials = job.registry.credentials.as_ref();
    // An authentication error right after a registry fault may be the
    // fault's doing (credentials were accepted before); any other
    // authentication error is final.
    let (pushed, attempts) = retrying(
        &shared.options,
        || engine.push(&job.target, &job.repository, &job.tag, credentials),
        |error, faulted| match error {
            engine::Error::Push { message, transient }
                if *transient || (faulted && classify::authentication_failed(message)) =>
            {
                Some(*transient)
            }
            _ => None,
        },
    )
    .await;
    let mut outcome = match pushed {
        Ok(pushed) => {
            digest.pushed(&pushed);
            verified(job, shared, &pushed).await
        }
        Err(e) => job
            .outcome(Status::Failed)
            .because(push_error(job, &e.to_string(), attempts)),
    };
    outcome.attempts = Some(attempts);
    outcome
}

/// Asks the registry itself what the tag points to now: pushed only when
/// it is `pushed`.
async fn verified(job: &Push, shared: &Shared, pushed: &str) -> Outcome {
    let credentials = job.registry.credentials.as_ref();
    let (held, tries) = retrying(
        &shared.options,
        || {
            shared
                .registry
                .digest(&job.repository, &job.tag, credentials)
        },
        |failure: &Failure, _| failure.transient().then_some(true),
    )
    .await;
    let failed = |reason: String| job.outcome(Status::Failed).because(reason);
    match held {
        Ok(Some(digest)) if digest == pushed && job.platforms.len() > 1 => {
            platforms_verified(job, shared, digest).await
        }
        Ok(Some(digest)) if digest == pushed => {
            let mut outcome = job.outcome(Status::Pushed);
            outcome.digest = Some(digest);
            outcome
        }
        Ok(Some(digest)) => {
            let mut outcome = failed(format!("pushed {pushed}, but the registry holds {digest}"));
            outcome.digest = Some(digest);
            outcome
        }
        Ok(None) => failed(format!("pushed {pushed}, but the registry has no such tag")),
        Err(failure) => failed(format!(
            "pushed {pushed}, but the registry could not be asked for it: {}",
            failure.describe(&job.registry, &job.repository, Access::Read, tries)
        )),
    }
}

/// A tag of several platforms, its digest the one pushed: the index the
/// registry holds must list exactly the declared platforms (attestation
/// manifests only when asked for). Its children are the ones built: the
/// index is the one pushed, and its digest covers them.
async fn platforms_verified(job: &Push, shared: &Shared, digest: String) -> Outcome {
    let credentials = job.registry.credentials.as_ref();
    let (held, tries) = retrying(
        &shared.options,
        || {
            shared
                .registry
                .contents(&job.repository, &job.tag, credentials)
        },
        |failure: &Failure, _| failure.transient().then_some(true),
    )
    .await;
    let mut outcome = job.outcome(Status::Pushed);
    outcome.digest = Some(digest.clone());
    let contents = match held {
        Ok(Some(contents)) => contents,
        Ok(None) => {
            outcome.status = Status::Failed;
            return outcome.because(format!("pushed {digest}, but the registry has no such tag"));
        }
        Err(failure) => {
            outcome.status = Status::Failed;
            return outcome.because(format!(
                "pushed {digest}, but the registry could not be asked for its platforms: {}",
                failure.describe(&job.registry, &job.repository, Access::Read, tries)
            ));
        }
    };
    let declared: Vec<crate::registry::Platform> = job
        .platforms
        .iter()
        .filter_map(|p| p.parse().ok())
        .collect();
    let expected = crate::registry::index::Expected {
        platforms: &declared,
        built: &[],
        attestations: job.attest,
    };
    let problems = crate::registry::index::verify(&expected, &contents);
    if let crate::registry::Contents::Index(index) = &contents {
        outcome.platforms = index
            .platforms
            .iter()
            .map(|child| crate::run::PlatformDigest {
                platform: child.platform.to_string(),
                digest: child.digest.clone(),
            })
            .collect();
    }
    if problems.is_empty() {
        return outcome;
    }
    let said: Vec<String> = problems.iter().map(ToString::to_string).collect();
    outcome.status = Status::Failed;
    outcome.because(format!("{}: {}", job.reference(), said.join("; ")))
}
