//! Publishes built images to every enabled registry: each target to
//! `<repository of its package>:<tag>`, several at once, retrying what may
//! pass (connection errors, 5xx, 429) with backoff, and then asking the
//! registry itself for the tag's digest to check that what arrived is what
//! was pushed. Registry messages are scrubbed of credentials. Credentials
//! are checked once per repository first; a registry that fails the check
//! is reported once ([`CheckFailure`]), not once per target.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::task::JoinSet;

use crate::engine::{self, Engine};
use crate::plan::Target;
use crate::registry::{Access, Enabled, Failure, Registry, Scrubber, classify, reference};

/// How to push.
#[derive(Clone, Debug)]
pub struct Options {
    /// Pushes at once.
    pub jobs: usize,
    /// Attempts per push (and per verification) before giving up.
    pub attempts: u32,
    /// The first wait between attempts; it doubles each time.
    pub backoff: Duration,
}

/// What happened to one target on one registry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Pushed, and the registry holds the pushed digest (unless `reason`
    /// says an interruption came before that was checked).
    Pushed,
    /// The push or its verification failed.
    Failed,
    /// Stopped by an interruption while pushing.
    Cancelled,
    /// Not attempted (no local image, or interrupted before it started).
    Skipped,
}

impl Status {
    /// How the summary names it.
    #[must_use]
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Pushed => "pushed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::Skipped => "skipped",
        }
    }
}

/// One push: a target to a registry.
#[derive(Clone, Debug)]
pub struct Job {
    /// The local image, `PACKAGE:TAG`.
    pub target: String,
    /// The registry.
    pub registry: Arc<Enabled>,
    /// The repository path on it.
    pub repository: String,
    /// The tag.
    pub tag: String,
}

impl Job {
    /// `repository:tag`.
    #[must_use]
    pub fn reference(&self) -> String {
        reference::tagged(&self.repository, &self.tag)
    }
}

/// The result of one push.
#[derive(Clone, Debug, Serialize)]
pub struct Outcome {
    /// The local image.
    pub target: String,
    /// The registry's key in the manifest.
    pub registry: String,
    /// Where it went.
    pub reference: String,
    /// What happened.
    pub status: Status,
    /// The digest the registry holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// Why it failed or was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Requests made: pushes, or for a failed credential check, its attempts.
    pub attempts: u32,
    /// Seconds spent.
    pub seconds: f64,
}

/// A registry (or one of its repositories) that failed the credential
/// check: said once, not once per target.
#[derive(Clone, Debug, Serialize)]
pub struct CheckFailure {
    /// The registry's key in the manifest.
    pub registry: String,
    /// What happened and what to check, credentials scrubbed.
    pub message: String,
    /// Attempts made.
    pub attempts: u32,
}

/// Every push's outcome.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// One per target and registry.
    pub pushes: Vec<Outcome>,
    /// The failed credential checks: their targets were not pushed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<CheckFailure>,
    /// True when interrupted.
    pub interrupted: bool,
    /// Seconds for the run.
    pub seconds: f64,
}

impl Summary {
    /// True when every push is verified.
    #[must_use]
    pub fn success(&self) -> bool {
        !self.interrupted && self.pushes.iter().all(|p| p.status == Status::Pushed)
    }

    /// How many pushes ended with `status`.
    #[must_use]
    pub fn count(&self, status: &Status) -> usize {
        self.pushes.iter().filter(|p| &p.status == status).count()
    }
}

/// Draws push progress.
pub trait Reporter: Send + Sync {
    /// A push started.
    fn started(&self, job: &Job);
    /// A push ended.
    fn finished(&self, outcome: &Outcome);
    /// The credentials of `job`'s registry are being checked for its
    /// repository (which may take the retries and the timeout).
    fn checking(&self, job: &Job);
    /// That check ended, however it ended.
    fn checked(&self, job: &Job);
    /// A credential check failed: its `pushes` will not be attempted.
    fn check_failed(&self, failure: &CheckFailure, pushes: usize);
}

/// The pushes of `targets`: each to every registry that has a repository
/// for its package, in target order.
#[must_use]
pub fn jobs(targets: &[&Target], registries: &[Arc<Enabled>]) -> Vec<Job> {
    let mut jobs = Vec::new();
    for target in targets {
        for registry in registries {
            if let Some(repository) = registry.repository(&target.package) {
                jobs.push(Job {
                    target: target.name.clone(),
                    registry: Arc::clone(registry),
                    repository: repository.to_string(),
                    tag: target.tag.clone(),
                });
            }
        }
    }
    jobs
}

/// The result of checking one repository's credentials.
struct Checked {
    repository: String,
    /// Index into the summary's `checks` when it failed.
    failure: Option<usize>,
}

/// The digest a running push got from the daemon, if it got that far, so
/// that an interruption reports it truly.
#[derive(Clone, Default)]
struct PushedDigest(Arc<std::sync::Mutex<Option<String>>>);

impl PushedDigest {
    fn pushed(&self, digest: &str) {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(digest.into());
    }

    fn digest(&self) -> Option<String> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// Pushes every job, `options.jobs` at once; stops starting new ones when
/// `interrupt` resolves.
pub async fn push(
    jobs: Vec<Job>,
    engine: Arc<dyn Engine>,
    registry: Arc<dyn Registry>,
    scrubber: Arc<Scrubber>,
    options: &Options,
    reporter: Arc<dyn Reporter>,
    interrupt: impl std::future::Future<Output = ()>,
) -> Summary {
    let started = Instant::now();
    let total = jobs.len();
    let mut outcomes: Vec<Option<Outcome>> = vec![None; total];
    // Credentials are checked once per repository before any push: a wrong
    // password fails fast here, and an authentication error during a push
    // whose credentials were accepted is then a passing fault (a registry
    // that failed the daemon's first requests), retried like one. A
    // registry that refuses the credentials or does not answer fails all
    // its repositories at once: it is said, and waited for, once.
    let mut interrupted = false;
    tokio::pin!(interrupt);
    let mut checks: Vec<CheckFailure> = Vec::new();
    let mut checked: Vec<Checked> = Vec::new();
    let mut failed_hosts: Vec<(String, usize)> = Vec::new();
    for job in &jobs {
        if interrupted {
            break;
        }
        if checked.iter().any(|c| c.repository == job.repository) {
            continue;
        }
        if let Some((_, index)) = failed_hosts.iter().find(|(h, _)| *h == job.registry.host) {
            checked.push(Checked {
                repository: job.repository.clone(),
                failure: Some(*index),
            });
            continue;
        }
        reporter.checking(job);
        tokio::select! {
            result = check(job, &*registry, options) => {
                reporter.checked(job);
                let failure = result.err().map(|(failure, attempts)| {
                    let whole_registry = classify::whole_registry(&failure);
                    let described = failure.describe(&job.registry, &job.repository, Access::Push, attempts);
                    let message = if matches!(failure, Failure::Other { .. }) {
                        format!("cannot push to `{}`: {described}", job.repository)
                    } else {
                        described
                    };
                    checks.push(CheckFailure {
                        registry: job.registry.host.clone(),
                        message: scrubber.scrub(&message),
                        attempts,
                    });
                    if whole_registry {
                        failed_hosts.push((job.registry.host.clone(), checks.len() - 1));
                    }
                    checks.len() - 1
                });
                checked.push(Checked { repository: job.repository.clone(), failure });
            }
            () = &mut interrupt => interrupted = true,
        }
    }
    let mut not_attempted = vec![0; checks.len()];
    for (i, job) in jobs.iter().enumerate() {
        let failure = checked
            .iter()
            .find(|c| c.repository == job.repository)
            .and_then(|c| c.failure);
        if let Some(index) = failure {
            not_attempted[index] += 1;
            let check = &checks[index];
            let outcome = Outcome {
                target: job.target.clone(),
                registry: job.registry.host.clone(),
                reference: job.reference(),
                status: Status::Failed,
                digest: None,
                reason: Some(check.message.clone()),
                attempts: check.attempts,
                seconds: 0.0,
            };
            outcomes[i] = Some(outcome);
        }
    }
    // Said once per failed check, not once per target.
    for (check, pushes) in checks.iter().zip(not_attempted) {
        reporter.check_failed(check, pushes);
    }
    // Every job's names, to describe the pushes an interruption cut off.
    let names: Vec<(String, String, String)> = jobs
        .iter()
        .map(|j| (j.target.clone(), j.registry.host.clone(), j.reference()))
        .collect();
    let digests: Vec<PushedDigest> = (0..total).map(|_| PushedDigest::default()).collect();
    let mut started_jobs = vec![false; total];
    let jobs: Vec<(usize, Job)> = jobs
        .into_iter()
        .enumerate()
        .filter(|(i, _)| outcomes[*i].is_none())
        .collect();
    let mut pending = jobs.into_iter();
    let mut running: JoinSet<(usize, Outcome)> = JoinSet::new();
    loop {
        while !interrupted && running.len() < options.jobs.max(1) {
            let Some((i, job)) = pending.next() else {
                break;
            };
            started_jobs[i] = true;
            let engine = Arc::clone(&engine);
            let registry = Arc::clone(&registry);
            let scrubber = Arc::clone(&scrubber);
            let reporter = Arc::clone(&reporter);
            let digest = digests[i].clone();
            let options = options.clone();
            running.spawn(async move {
                reporter.started(&job);
                let outcome =
                    push_one(&job, &*engine, &*registry, &scrubber, &options, &digest).await;
                reporter.finished(&outcome);
                (i, outcome)
            });
        }
        if running.is_empty() {
            break;
        }
        tokio::select! {
            joined = running.join_next() => {
                if let Some(Ok((i, outcome))) = joined {
                    outcomes[i] = Some(outcome);
                }
            }
            () = &mut interrupt, if !interrupted => {
                interrupted = true;
                running.abort_all();
                while let Some(joined) = running.join_next().await {
                    if let Ok((i, outcome)) = joined {
                        outcomes[i] = Some(outcome);
                    }
                }
                break;
            }
        }
    }
    let mut pushes = Vec::with_capacity(total);
    for (i, ((target, registry, reference), outcome)) in names.into_iter().zip(outcomes).enumerate()
    {
        if let Some(outcome) = outcome {
            pushes.push(outcome);
            continue;
        }
        // Cut off: what it had done decides what it is called.
        let (status, digest, reason) = match digests[i].digest() {
            Some(digest) => (
                Status::Pushed,
                Some(digest),
                "interrupted before the registry was asked to confirm it",
            ),
            None if started_jobs[i] => (Status::Cancelled, None, "interrupted while pushing"),
            None => (Status::Skipped, None, "interrupted"),
        };
        pushes.push(Outcome {
            target,
            registry,
            reference,
            status,
            digest,
            reason: Some(reason.into()),
            attempts: 0,
            seconds: 0.0,
        });
    }
    Summary {
        pushes,
        checks,
        interrupted,
        seconds: started.elapsed().as_secs_f64(),
    }
}

/// Runs `attempt` until it succeeds, or fails in a way `retry` does not
/// forgive, or `options.attempts` are spent, waiting `options.backoff`
/// (doubling) in between. `retry(error, faulted)` says whether the error
/// may pass (`Some`), and then whether it is a registry fault; `faulted`
/// says whether the previous error was one. Returns the last result and
/// the number of attempts.
async fn retrying<T, E, F>(
    options: &Options,
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

/// Proves that the job's credentials may push to its repository (before
/// any image is pushed), retrying what may pass; a failure comes with the
/// attempts made.
async fn check(
    job: &Job,
    registry: &dyn Registry,
    options: &Options,
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

/// A push error of the engine in words: a registry that refuses the
/// connection is named, rather than quoting the client's error chain.
fn push_error(job: &Job, message: &str, attempts: u32) -> String {
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

async fn push_one(
    job: &Job,
    engine: &dyn Engine,
    registry: &dyn Registry,
    scrubber: &Scrubber,
    options: &Options,
    digest: &PushedDigest,
) -> Outcome {
    let started = Instant::now();
    let mut outcome = Outcome {
        target: job.target.clone(),
        registry: job.registry.host.clone(),
        reference: job.reference(),
        status: Status::Failed,
        digest: None,
        reason: None,
        attempts: 0,
        seconds: 0.0,
    };
    let finish = |mut outcome: Outcome| {
        outcome.reason = outcome.reason.map(|r| scrubber.scrub(&r));
        outcome.seconds = started.elapsed().as_secs_f64();
        outcome
    };
    match engine.inspect(&job.target).await {
        Ok(Some(_)) => {}
        Ok(None) => {
            outcome.status = Status::Skipped;
            outcome.reason = Some("no local image: build it first".into());
            return finish(outcome);
        }
        Err(e) => {
            outcome.reason = Some(format!("cannot inspect `{}`: {e}", job.target));
            return finish(outcome);
        }
    }
    let credentials = job.registry.credentials.as_ref();
    // An authentication error right after a registry fault may be the
    // fault's doing (credentials were accepted before); any other
    // authentication error is final.
    let (pushed, attempts) = retrying(
        options,
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
    outcome.attempts = attempts;
    let pushed = match pushed {
        Ok(digest) => digest,
        Err(e) => {
            outcome.reason = Some(push_error(job, &e.to_string(), attempts));
            return finish(outcome);
        }
    };
    digest.pushed(&pushed);
    // Ask the registry itself what the tag points to now.
    let (held, tries) = retrying(
        options,
        || registry.digest(&job.repository, &job.tag, credentials),
        |failure: &Failure, _| failure.transient().then_some(true),
    )
    .await;
    let held = match held {
        Ok(held) => held,
        Err(failure) => {
            outcome.reason = Some(format!(
                "pushed {pushed}, but the registry could not be asked for it: {}",
                failure.describe(&job.registry, &job.repository, Access::Read, tries)
            ));
            return finish(outcome);
        }
    };
    match held {
        Some(digest) if digest == pushed => {
            outcome.status = Status::Pushed;
            outcome.digest = Some(digest);
        }
        Some(digest) => {
            outcome.reason = Some(format!("pushed {pushed}, but the registry holds {digest}"));
            outcome.digest = Some(digest);
        }
        None => outcome.reason = Some(format!("pushed {pushed}, but the registry has no such tag")),
    }
    finish(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::fake::Fake;
    use crate::registry::Credentials;
    use std::collections::HashMap;
    use std::sync::Mutex;

    /// A registry that holds what the fake engine pushed.
    struct Held {
        engine: Arc<Fake>,
        answers: Mutex<HashMap<String, String>>,
        /// The credential check never answers.
        hanging: bool,
        /// The credential check fails so for these hosts.
        refusing: HashMap<String, Failure>,
        /// Asked for a digest, it never answers.
        verifying_hangs: bool,
    }

    impl Registry for Held {
        fn digest<'a>(
            &'a self,
            repository: &'a str,
            tag: &'a str,
            _: Option<&'a Credentials>,
        ) -> futures_util::future::BoxFuture<'a, Result<Option<String>, Failure>> {
            Box::pin(async move {
                if self.verifying_hangs {
                    std::future::pending::<()>().await;
                }
                let reference = format!("{repository}:{tag}");
                if let Some(answer) = self.answers.lock().unwrap().get(&reference) {
                    return Ok(Some(answer.clone()));
                }
                let pushed = self
                    .engine
                    .pushed
                    .lock()
                    .unwrap()
                    .iter()
                    .any(|p| p.ends_with(&format!("-> {reference}")));
                Ok(pushed.then(|| {
                    self.engine.images.lock().unwrap()[&format!("app:{tag}")]
                        .id
                        .clone()
                }))
            })
        }

        fn tags<'a>(
            &'a self,
            _: &'a str,
            _: Option<&'a Credentials>,
        ) -> futures_util::future::BoxFuture<'a, Result<Vec<String>, Failure>> {
            Box::pin(async { Ok(Vec::new()) })
        }

        fn writable<'a>(
            &'a self,
            repository: &'a str,
            _: Option<&'a Credentials>,
        ) -> futures_util::future::BoxFuture<'a, Result<(), Failure>> {
            Box::pin(async move {
                if self.hanging {
                    std::future::pending::<()>().await;
                }
                let host = repository.split('/').next().unwrap_or_default();
                self.refusing.get(host).map_or(Ok(()), |f| Err(f.clone()))
            })
        }
    }

    struct Quiet;
    impl Reporter for Quiet {
        fn started(&self, _: &Job) {}
        fn finished(&self, _: &Outcome) {}
        fn checking(&self, _: &Job) {}
        fn checked(&self, _: &Job) {}
        fn check_failed(&self, _: &CheckFailure, _: usize) {}
    }

    /// The bug: retries were said in two formats from three places
    /// (`after 3 attempts`, `(after 3 attempts)`).
    #[test]
    fn retries_are_said_one_way_wherever_they_are_said() {
        let (_, jobs) = setup();
        let job = &jobs[0];
        let other = Failure::Other {
            message: "boom".into(),
            transient: true,
        };
        let refused = Failure::Unreachable {
            refused: true,
            message: String::new(),
            proxy: None,
        };
        let said = [
            other.describe(&job.registry, &job.repository, Access::Push, 3),
            refused.describe(&job.registry, &job.repository, Access::Push, 3),
            push_error(job, "boom", 3),
        ];
        for message in &said {
            assert!(message.contains(" after 3 attempts"), "{message}");
            assert!(!message.contains("(after"), "{message}");
        }
        assert_eq!(said[2], "failed after 3 attempts: boom");
        assert_eq!(push_error(job, "boom", 1), "boom");
    }

    fn setup() -> (Arc<Fake>, Vec<Job>) {
        let engine = Arc::new(Fake::with_images(&["app:1", "app:2"]));
        let registry = |host: &str, password: &str| {
            Arc::new(Enabled {
                host: host.into(),
                repositories: vec![("app".into(), format!("{host}/org/app"))],
                credentials: Some(Credentials {
                    username: "u".into(),
                    password: password.into(),
                }),
                variables: vec![format!("{host}_USER"), format!("{host}_PASSWORD")],
            })
        };
        let registries = [
            registry("one.example", "pw-one"),
            registry("two.example", "pw-two"),
        ];
        let mut jobs = Vec::new();
        for tag in ["1", "2"] {
            for registry in &registries {
                jobs.push(Job {
                    target: format!("app:{tag}"),
                    registry: Arc::clone(registry),
                    repository: registry.repository("app").unwrap().into(),
                    tag: tag.into(),
                });
            }
        }
        (engine, jobs)
    }

    fn options() -> Options {
        Options {
            jobs: 2,
            attempts: 3,
            backoff: Duration::from_millis(1),
        }
    }

    async fn run(engine: &Arc<Fake>, jobs: Vec<Job>, held: HashMap<String, String>) -> Summary {
        refused(engine, jobs, held, HashMap::new()).await
    }

    async fn refused(
        engine: &Arc<Fake>,
        jobs: Vec<Job>,
        held: HashMap<String, String>,
        refusing: HashMap<String, Failure>,
    ) -> Summary {
        let registries: Vec<Enabled> = jobs.iter().map(|j| (*j.registry).clone()).collect();
        let registry = Arc::new(Held {
            engine: Arc::clone(engine),
            answers: Mutex::new(held),
            hanging: false,
            refusing,
            verifying_hangs: false,
        });
        let engine: Arc<dyn Engine> = Arc::clone(engine) as Arc<dyn Engine>;
        push(
            jobs,
            engine,
            registry,
            Arc::new(Scrubber::new(&registries)),
            &options(),
            Arc::new(Quiet),
            std::future::pending(),
        )
        .await
    }

    #[tokio::test]
    async fn every_target_reaches_every_registry_verified() {
        let (engine, jobs) = setup();
        let summary = run(&engine, jobs, HashMap::new()).await;
        assert!(summary.success(), "{summary:?}");
        assert_eq!(engine.pushed.lock().unwrap().len(), 4);
        assert!(summary.pushes.iter().all(|p| {
            p.digest
                .as_deref()
                .is_some_and(|d| d.starts_with("sha256:"))
        }));
    }

    #[tokio::test]
    async fn transient_failures_are_retried_within_bounds() {
        let (engine, jobs) = setup();
        engine
            .push_failures
            .lock()
            .unwrap()
            .insert("one.example/org/app:1".into(), 2);
        engine
            .push_failures
            .lock()
            .unwrap()
            .insert("two.example/org/app:2".into(), 5);
        let summary = run(&engine, jobs, HashMap::new()).await;
        let by_reference = |r: &str| {
            summary
                .pushes
                .iter()
                .find(|p| p.reference == r)
                .unwrap()
                .clone()
        };
        let retried = by_reference("one.example/org/app:1");
        assert_eq!((retried.status, retried.attempts), (Status::Pushed, 3));
        let gave_up = by_reference("two.example/org/app:2");
        assert_eq!((gave_up.status, gave_up.attempts), (Status::Failed, 3));
        assert!(gave_up.reason.unwrap().contains("after 3 attempts"));
    }

    #[tokio::test]
    async fn a_digest_the_registry_does_not_hold_fails_verification() {
        let (engine, jobs) = setup();
        let held = HashMap::from([(
            "one.example/org/app:2".to_string(),
            "sha256:other".to_string(),
        )]);
        let summary = run(&engine, jobs, held).await;
        let failed: Vec<_> = summary
            .pushes
            .iter()
            .filter(|p| p.status == Status::Failed)
            .collect();
        assert_eq!(failed.len(), 1);
        assert!(
            failed[0]
                .reason
                .as_deref()
                .unwrap()
                .contains("but the registry holds sha256:other")
        );
    }

    #[tokio::test]
    async fn interrupted_pushes_keep_their_names() {
        let (_, jobs) = setup();
        let engine = Arc::new(Fake {
            delay: Duration::from_secs(30),
            ..Fake::with_images(&["app:1", "app:2"])
        });
        let registries: Vec<Enabled> = jobs.iter().map(|j| (*j.registry).clone()).collect();
        let registry = Arc::new(Held {
            engine: Arc::clone(&engine),
            answers: Mutex::new(HashMap::new()),
            hanging: false,
            refusing: HashMap::new(),
            verifying_hangs: false,
        });
        let dyn_engine: Arc<dyn Engine> = Arc::clone(&engine) as Arc<dyn Engine>;
        let interrupt = tokio::time::sleep(Duration::from_millis(50));
        let summary = push(
            jobs,
            dyn_engine,
            registry,
            Arc::new(Scrubber::new(&registries)),
            &options(),
            Arc::new(Quiet),
            interrupt,
        )
        .await;
        assert!(summary.interrupted);
        // Two were pushing (two at once), two had not started.
        assert_eq!(
            (
                summary.count(&Status::Cancelled),
                summary.count(&Status::Skipped)
            ),
            (2, 2)
        );
        assert!(
            summary
                .pushes
                .iter()
                .all(|p| !p.target.is_empty() && !p.reference.is_empty()),
            "{summary:?}"
        );
    }

    /// A registry that never answers the credential check must not keep
    /// Ctrl-C waiting: the run stops, every push named and skipped.
    #[tokio::test]
    async fn an_interruption_during_the_credential_check_stops_the_run() {
        let (engine, jobs) = setup();
        let registries: Vec<Enabled> = jobs.iter().map(|j| (*j.registry).clone()).collect();
        let registry = Arc::new(Held {
            engine: Arc::clone(&engine),
            answers: Mutex::new(HashMap::new()),
            hanging: true,
            refusing: HashMap::new(),
            verifying_hangs: false,
        });
        let options = options();
        let pushing = push(
            jobs,
            Arc::clone(&engine) as Arc<dyn Engine>,
            registry,
            Arc::new(Scrubber::new(&registries)),
            &options,
            Arc::new(Quiet),
            tokio::time::sleep(Duration::from_millis(50)),
        );
        // Without the interruption this would never end.
        let summary = tokio::time::timeout(Duration::from_secs(30), pushing)
            .await
            .expect("the interruption ends the run");
        assert!(summary.interrupted);
        assert_eq!(summary.count(&Status::Skipped), 4);
        assert!(engine.pushed.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn images_that_are_not_built_are_skipped() {
        let (engine, mut jobs) = setup();
        jobs[0].target = "app:missing".into();
        let summary = run(&engine, jobs, HashMap::new()).await;
        assert_eq!(summary.pushes[0].status, Status::Skipped);
        assert_eq!(summary.count(&Status::Pushed), 3);
    }

    /// The bug: targets already pushed when Ctrl-C came were reported
    /// `skipped: interrupted`, as if nothing had reached the registry.
    #[tokio::test]
    async fn an_interrupted_push_labels_what_was_already_pushed_pushed() {
        let (engine, jobs) = setup();
        let registries: Vec<Enabled> = jobs.iter().map(|j| (*j.registry).clone()).collect();
        let registry = Arc::new(Held {
            engine: Arc::clone(&engine),
            answers: Mutex::new(HashMap::new()),
            hanging: false,
            refusing: HashMap::new(),
            verifying_hangs: true,
        });
        let summary = push(
            jobs,
            Arc::clone(&engine) as Arc<dyn Engine>,
            registry,
            Arc::new(Scrubber::new(&registries)),
            &options(),
            Arc::new(Quiet),
            tokio::time::sleep(Duration::from_millis(100)),
        )
        .await;
        assert!(summary.interrupted);
        // Two at once: two pushed (their verification cut off), two never started.
        assert_eq!(engine.pushed.lock().unwrap().len(), 2);
        assert_eq!(
            (
                summary.count(&Status::Pushed),
                summary.count(&Status::Skipped)
            ),
            (2, 2),
            "{summary:?}"
        );
        for pushed in summary.pushes.iter().filter(|p| p.status == Status::Pushed) {
            assert!(
                pushed
                    .digest
                    .as_deref()
                    .is_some_and(|d| d.starts_with("sha256:"))
            );
        }
    }

    /// The bug: a wrong password printed the registry's 401 once per
    /// target, and the report said `"attempts": 0` beside "after 4 attempts".
    #[tokio::test]
    async fn refused_credentials_are_said_once_per_registry_in_words() {
        let (engine, jobs) = setup();
        let refusing =
            HashMap::from([("one.example".to_string(), Failure::Denied { status: 401 })]);
        let summary = refused(&engine, jobs, HashMap::new(), refusing).await;
        assert_eq!(summary.checks.len(), 1, "{summary:?}");
        assert_eq!(
            summary.checks[0].message,
            "authentication to `one.example` failed (401): check the variables its `user`/`pwd` name, `one.example_USER` and `one.example_PASSWORD`"
        );
        let failed: Vec<&Outcome> = summary
            .pushes
            .iter()
            .filter(|p| p.status == Status::Failed)
            .collect();
        assert_eq!(failed.len(), 2);
        assert!(
            failed
                .iter()
                .all(|p| p.registry == "one.example" && p.attempts == 1)
        );
        assert_eq!(summary.count(&Status::Pushed), 2);
    }

    #[tokio::test]
    async fn a_failed_check_reports_the_attempts_its_message_names() {
        let (engine, jobs) = setup();
        let refusing = HashMap::from([(
            "two.example".to_string(),
            Failure::Unreachable {
                refused: true,
                message: String::new(),
                proxy: None,
            },
        )]);
        let summary = refused(&engine, jobs, HashMap::new(), refusing).await;
        assert_eq!(
            summary.checks[0].message,
            "`two.example` refused the connection after 3 attempts: is it running?"
        );
        assert_eq!(summary.checks[0].attempts, 3);
        assert!(
            summary
                .pushes
                .iter()
                .filter(|p| p.registry == "two.example")
                .all(|p| p.attempts == 3 && p.status == Status::Failed),
            "{summary:?}"
        );
    }
}
