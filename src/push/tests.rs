use std::sync::Arc;
use std::time::Duration;

use super::one::push_error;
use super::*;
use crate::engine::fake::Fake;
use crate::registry::Credentials;
use crate::registry::{Access, Failure};
use crate::run::{Quiet, Recorder};
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
    /// What each `repository:tag` holds when it is an index.
    indexes: Mutex<HashMap<String, crate::registry::Contents>>,
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

    /// A push never asks for labels.
    fn image<'a>(
        &'a self,
        _: &'a str,
        _: &'a str,
        _: Option<&'a Credentials>,
    ) -> futures_util::future::BoxFuture<'a, Result<Option<crate::registry::Held>, Failure>> {
        Box::pin(async { unreachable!("a push asks for digests, not labels") })
    }

    /// An index it was given, for a target of several platforms.
    fn contents<'a>(
        &'a self,
        repository: &'a str,
        tag: &'a str,
        _: Option<&'a Credentials>,
    ) -> futures_util::future::BoxFuture<'a, Result<Option<crate::registry::Contents>, Failure>>
    {
        let reference = format!("{repository}:{tag}");
        Box::pin(async move { Ok(self.indexes.lock().unwrap().get(&reference).cloned()) })
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

fn setup() -> (Arc<Fake>, Vec<Push>) {
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
            jobs.push(Push {
                target: format!("app:{tag}"),
                registry: Arc::clone(registry),
                repository: registry.repository("app").unwrap().into(),
                tag: tag.into(),
                platforms: Vec::new(),
                attest: false,
            });
        }
    }
    (engine, jobs)
}

fn options() -> PushOptions {
    PushOptions {
        jobs: 2,
        attempts: 3,
        backoff: Duration::from_millis(1),
    }
}

async fn run(engine: &Arc<Fake>, jobs: Vec<Push>, held: HashMap<String, String>) -> Summary {
    refused(engine, jobs, held, HashMap::new()).await
}

async fn refused(
    engine: &Arc<Fake>,
    jobs: Vec<Push>,
    held: HashMap<String, String>,
    refusing: HashMap<String, Failure>,
) -> Summary {
    reporting(engine, jobs, held, refusing, Arc::new(Quiet)).await
}

async fn reporting(
    engine: &Arc<Fake>,
    jobs: Vec<Push>,
    held: HashMap<String, String>,
    refusing: HashMap<String, Failure>,
    reporter: Arc<dyn crate::run::Reporter>,
) -> Summary {
    let registries: Vec<Enabled> = jobs.iter().map(|j| (*j.registry).clone()).collect();
    let registry = Arc::new(Held {
        engine: Arc::clone(engine),
        answers: Mutex::new(held),
        hanging: false,
        refusing,
        verifying_hangs: false,
        indexes: Mutex::new(HashMap::new()),
    });
    let engine: Arc<dyn crate::engine::Pusher> =
        Arc::clone(engine) as Arc<dyn crate::engine::Pusher>;
    push(
        jobs,
        engine,
        registry,
        Arc::new(Scrubber::new(&registries)),
        &options(),
        reporter,
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
    assert!(summary.targets.iter().all(|p| {
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
            .targets
            .iter()
            .find(|p| p.reference.as_deref() == Some(r))
            .unwrap()
            .clone()
    };
    let retried = by_reference("one.example/org/app:1");
    assert_eq!(
        (retried.status, retried.attempts),
        (Status::Pushed, Some(3))
    );
    let gave_up = by_reference("two.example/org/app:2");
    assert_eq!(
        (gave_up.status, gave_up.attempts),
        (Status::Failed, Some(3))
    );
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
        .targets
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
        indexes: Mutex::new(HashMap::new()),
        verifying_hangs: false,
    });
    let dyn_engine: Arc<dyn crate::engine::Pusher> =
        Arc::clone(&engine) as Arc<dyn crate::engine::Pusher>;
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
            .targets
            .iter()
            .all(|p| !p.target.is_empty() && p.reference.as_ref().is_some_and(|r| !r.is_empty())),
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
        indexes: Mutex::new(HashMap::new()),
        verifying_hangs: false,
    });
    let options = options();
    let pushing = push(
        jobs,
        Arc::clone(&engine) as Arc<dyn crate::engine::Pusher>,
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
    assert_eq!(summary.targets[0].status, Status::Skipped);
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
        indexes: Mutex::new(HashMap::new()),
        verifying_hangs: true,
    });
    let summary = push(
        jobs,
        Arc::clone(&engine) as Arc<dyn crate::engine::Pusher>,
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
    for pushed in summary
        .targets
        .iter()
        .filter(|p| p.status == Status::Pushed)
    {
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
    let refusing = HashMap::from([("one.example".to_string(), Failure::Denied { status: 401 })]);
    let summary = refused(&engine, jobs, HashMap::new(), refusing).await;
    assert_eq!(summary.checks.len(), 1, "{summary:?}");
    assert_eq!(
        summary.checks[0].message,
        "authentication to `one.example` failed (401): check the variables its `user`/`pwd` name, `one.example_USER` and `one.example_PASSWORD`"
    );
    let failed: Vec<&Outcome> = summary
        .targets
        .iter()
        .filter(|p| p.status == Status::Failed)
        .collect();
    assert_eq!(failed.len(), 2);
    assert!(
        failed
            .iter()
            .all(|p| p.registry.as_deref() == Some("one.example") && p.attempts == Some(1))
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
            .targets
            .iter()
            .filter(|p| p.registry.as_deref() == Some("two.example"))
            .all(|p| p.attempts == Some(3) && p.status == Status::Failed),
        "{summary:?}"
    );
}

/// One event stream: the run says how many pushes it has, checks each
/// repository's credentials once, then each push's start and end; a
/// failed check is said once, with the pushes it stops.
#[tokio::test]
async fn a_push_says_its_checks_and_each_push_in_order() {
    let (engine, jobs) = setup();
    let recorder = Arc::new(Recorder::default());
    let refusing = HashMap::from([("two.example".to_string(), Failure::Denied { status: 401 })]);
    let summary = reporting(
        &engine,
        jobs,
        HashMap::new(),
        refusing,
        Arc::clone(&recorder) as _,
    )
    .await;
    let lines = recorder.lines();
    assert_eq!(
        lines[..6],
        [
            "begin 4",
            "checking one.example one.example/org/app",
            "checked one.example one.example/org/app",
            "checking two.example two.example/org/app",
            "checked two.example two.example/org/app",
            "check-failed two.example 2",
        ]
    );
    for reference in ["one.example/org/app:1", "one.example/org/app:2"] {
        let target = format!("app:{}", &reference[reference.len() - 1..]);
        let start = lines
            .iter()
            .position(|l| *l == format!("pushing {target} {reference}"))
            .unwrap();
        let end = lines
            .iter()
            .position(|l| *l == format!("finished {reference} pushed"))
            .unwrap();
        assert!(start < end, "{lines:?}");
    }
    assert_eq!(lines.len(), 10, "{lines:?}");
    assert_eq!(summary.checks.len(), 1);
}

/// A target of several platforms: the tag must be an index of exactly
/// those; the report lists each platform's digest.
#[tokio::test]
async fn an_index_missing_a_declared_platform_fails_and_a_whole_one_is_listed() {
    use crate::registry::index::{Child, Index};
    let (engine, jobs) = setup();
    let jobs: Vec<Push> = jobs
        .into_iter()
        .filter(|j| j.registry.host == "one.example")
        .map(|mut j| {
            j.platforms = vec!["linux/amd64".into(), "linux/arm64".into()];
            j
        })
        .collect();
    let index = |tag: &str, platforms: &[&str]| {
        crate::registry::Contents::Index(Index {
            digest: engine.images.lock().unwrap()[&format!("app:{tag}")]
                .id
                .clone(),
            media_type: crate::registry::index::OCI_INDEX.into(),
            platforms: platforms
                .iter()
                .map(|p| Child {
                    platform: p.parse().unwrap(),
                    digest: format!("sha256:{}", p.replace('/', "")),
                })
                .collect(),
            attestations: Vec::new(),
            unplaced: Vec::new(),
        })
    };
    let registries: Vec<Enabled> = jobs.iter().map(|j| (*j.registry).clone()).collect();
    let registry = Arc::new(Held {
        engine: Arc::clone(&engine),
        answers: Mutex::new(HashMap::new()),
        hanging: false,
        refusing: HashMap::new(),
        indexes: Mutex::new(HashMap::from([
            (
                "one.example/org/app:1".to_string(),
                index("1", &["linux/amd64"]),
            ),
            (
                "one.example/org/app:2".to_string(),
                index("2", &["linux/amd64", "linux/arm64"]),
            ),
        ])),
        verifying_hangs: false,
    });
    let summary = push(
        jobs,
        Arc::clone(&engine) as Arc<dyn crate::engine::Pusher>,
        registry,
        Arc::new(Scrubber::new(&registries)),
        &options(),
        Arc::new(Quiet),
        std::future::pending(),
    )
    .await;
    let of = |tag: &str| {
        summary
            .targets
            .iter()
            .find(|o| o.target == format!("app:{tag}"))
            .unwrap()
    };
    assert_eq!(of("1").status, Status::Failed);
    let reason = of("1").reason.clone().unwrap();
    assert!(reason.contains("linux/arm64"), "{reason}");
    assert_eq!(of("2").status, Status::Pushed);
    let listed: Vec<&str> = of("2")
        .platforms
        .iter()
        .map(|p| p.platform.as_str())
        .collect();
    assert_eq!(listed, ["linux/amd64", "linux/arm64"]);
}
