//! Where images are built: the Docker daemon through its Engine API, or a
//! daemonless builder (`buildah`) where no daemon exists. Both sit behind
//! [`Engine`], so the scheduler does not care which, and tests can use a fake.

pub mod buildah;
pub mod docker;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// A boxed future, so that engines can be chosen at run time.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What to build.
#[derive(Clone, Debug)]
pub struct BuildRequest {
    /// The tag to give the image, `PACKAGE:TAG`.
    pub tag: String,
    /// The Dockerfile, relative to the context, with `/` separators.
    pub dockerfile: String,
    /// Its text, as read for the inputs hash (engines that rewrite it
    /// start from what was hashed, not from a later read).
    pub dockerfile_text: String,
    /// The build context.
    pub context: Arc<crate::build::context::Context>,
    /// Build arguments.
    pub build_args: Vec<(String, String)>,
    /// Labels to set.
    pub labels: Vec<(String, String)>,
    /// The image's creation time (`SOURCE_DATE_EPOCH`), for engines that
    /// can set it; the time of the build when `None`.
    pub timestamp: Option<jiff::Timestamp>,
    /// The network mode of `RUN` steps (`host` where builds fetch packages
    /// and the daemon has no bridge); the engine's default when `None`.
    pub network: Option<String>,
}

/// An image as the engine holds it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Image {
    /// Its ID (`sha256:...`).
    pub id: String,
    /// Its labels.
    pub labels: HashMap<String, String>,
    /// `repository@digest` for each registry it was pushed to or pulled from.
    pub repo_digests: Vec<String>,
}

/// Runs in throwaway containers, each a task of its own, so that a caller
/// that stops waiting (a timeout, Ctrl-C) does not strand a container: the
/// task sees the cut-off, stops its container and removes it, however far
/// it had got (a create the engine completes after the cut-off included).
#[derive(Clone, Debug, Default)]
pub(crate) struct Runs {
    tasks: tokio_util::task::TaskTracker,
}

impl Runs {
    /// Runs `body` to its end in a task; it is told through its token when
    /// the caller was cut off.
    pub(crate) async fn run<Body, Fut>(&self, body: Body) -> Result<RunOutput, Error>
    where
        Body: FnOnce(tokio_util::sync::CancellationToken) -> Fut,
        Fut: Future<Output = Result<RunOutput, Error>> + Send + 'static,
    {
        let token = tokio_util::sync::CancellationToken::new();
        // Dropped with the caller's future: that is the cut-off.
        let _cut_off = token.clone().drop_guard();
        self.tasks
            .spawn(body(token))
            .await
            .map_err(|e| Error::Other(format!("the run failed: {e}")))?
    }

    /// Runs `work` (a clean-up) to its end in a task `finish` waits for;
    /// outside a runtime (the program ending) there is nothing to run it on.
    pub(crate) fn spawn(&self, work: impl Future<Output = ()> + Send + 'static) {
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            self.tasks.spawn_on(work, &runtime);
        }
    }

    /// Waits for every run, those cut off included, to have removed its container.
    pub(crate) async fn finish(&self) {
        self.tasks.close();
        self.tasks.wait().await;
        self.tasks.reopen();
    }
}

/// A container name no other run, of this process or another, uses.
pub(crate) fn container_name() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("bentoml-docker-run-{}-{nanos:09}-{n}", std::process::id())
}

/// What a build reports while it runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Progress {
    /// A Dockerfile step started.
    Step {
        /// 1-based.
        current: usize,
        /// Steps in the Dockerfile.
        total: usize,
    },
    /// A line of build output.
    Line(String),
}

/// The output of a command run in an image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunOutput {
    /// Its exit code.
    pub code: i64,
    /// Standard output and error, interleaved.
    pub output: String,
}

/// Why an engine failed.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum Error {
    /// The engine cannot be reached.
    #[error("cannot reach {engine}: {message}")]
    #[diagnostic(help(
        "start the Docker daemon (or set DOCKER_HOST), or build without one: `--engine buildah`"
    ))]
    Unavailable {
        /// Which engine.
        engine: &'static str,
        /// Why.
        message: String,
    },
    /// The build failed; its log says why.
    #[error("{0}")]
    Build(String),
    /// A push failed; `transient` when retrying may help (connection
    /// errors, 5xx, 429), not for authentication errors.
    #[error("{message}")]
    Push {
        /// What the registry or daemon said (credentials scrubbed by the caller).
        message: String,
        /// Whether to retry.
        transient: bool,
    },
    /// Any other engine error.
    #[error("{0}")]
    Other(String),
}

impl Error {
    /// 1: the engine failed at its work; the input was fine.
    #[must_use]
    pub fn exit_code(&self) -> u8 {
        1
    }
}

/// Whether a push error may go away on retry.
#[must_use]
pub fn transient(message: &str) -> bool {
    let lower = without_locations(message);
    let auth = [
        "unauthorized",
        "not authorized",
        "authentication required",
        "denied",
        "forbidden",
        "401",
        "403",
    ];
    if auth.iter().any(|a| lower.contains(a)) {
        return false;
    }
    let transient = [
        "500",
        "502",
        "503",
        "504",
        "429",
        "too many requests",
        "internal server error",
        "bad gateway",
        "service unavailable",
        "connection refused",
        "connection reset",
        "eof",
        "timeout",
        "timed out",
        "broken pipe",
        "no such host",
        "dial tcp",
    ];
    transient.iter().any(|t| lower.contains(t))
}

/// A message, lower-cased, without its URLs, `host:port`s and digests:
/// status codes are looked for in what is left, never in a port number
/// (`:5000`) or a digest that happens to contain `500` or `401`.
#[must_use]
pub fn without_locations(message: &str) -> String {
    message
        .to_ascii_lowercase()
        .split_whitespace()
        .map(|word| {
            let bare = word.trim_matches(|c: char| "()[]{},;\"'`".contains(c));
            let is_location = bare.contains("://")
                || bare.starts_with("sha256:")
                || bare.contains('@')
                || bare.rsplit_once(':').is_some_and(|(host, port)| {
                    !host.is_empty()
                        && host.contains(['.', '/'])
                        && !port.is_empty()
                        && port.bytes().all(|b| b.is_ascii_digit())
                })
                || (bare.contains('/') && bare.contains('.'));
            if is_location { "<location>" } else { word }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `reference` with `:latest` when it names neither a tag nor a digest
/// (pulling a bare name would fetch every tag).
#[must_use]
pub fn with_tag(reference: &str) -> String {
    let name = reference.rsplit('/').next().unwrap_or(reference);
    if name.contains(':') || name.contains('@') {
        reference.to_string()
    } else {
        format!("{reference}:latest")
    }
}

/// Builds and inspects images.
pub trait Engine: Send + Sync {
    /// Its name, for messages.
    fn name(&self) -> &'static str;

    /// The image `reference` points to, if the engine has it.
    fn inspect<'a>(&'a self, reference: &'a str) -> BoxFuture<'a, Result<Option<Image>, Error>>;

    /// Fetches `reference` from its registry, as a build would fetch a
    /// `FROM` image it lacks (a reference without tag or digest means
    /// `:latest`).
    fn pull<'a>(&'a self, reference: &'a str) -> BoxFuture<'a, Result<(), Error>>;

    /// Builds an image and tags it; returns its ID. The tag is set only when
    /// the whole build succeeded, so a failed or cancelled build leaves no
    /// half-tagged image.
    fn build<'a>(
        &'a self,
        request: &'a BuildRequest,
        progress: &'a (dyn Fn(Progress) + Send + Sync),
    ) -> BoxFuture<'a, Result<String, Error>>;

    /// Tags `local` as `repository:tag` and pushes it, authenticating with
    /// `credentials` on this request only (no login state is written).
    /// Returns the manifest digest the push reported.
    fn push<'a>(
        &'a self,
        local: &'a str,
        repository: &'a str,
        tag: &'a str,
        credentials: Option<&'a crate::registry::Credentials>,
    ) -> BoxFuture<'a, Result<String, Error>>;

    /// Runs `command` in a throwaway container of `image`, without network.
    fn run<'a>(
        &'a self,
        image: &'a str,
        command: &'a [String],
    ) -> BoxFuture<'a, Result<RunOutput, Error>>;

    /// Waits until the containers of runs that were cut off (a timeout,
    /// Ctrl-C) are gone: each run removes its own at once, and this waits
    /// for those removals before the program ends.
    fn clean_up(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

/// Reads `Step 3/7 : ...` (Docker) or `STEP 3/7: ...` (buildah).
#[must_use]
pub fn parse_step(line: &str) -> Option<Progress> {
    let rest = line
        .strip_prefix("Step ")
        .or_else(|| line.strip_prefix("STEP "))?;
    let (fraction, _) = rest.split_once(':')?;
    let (current, total) = fraction.trim().split_once('/')?;
    Some(Progress::Step {
        current: current.trim().parse().ok()?,
        total: total.trim().parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::time::Duration;

    #[test]
    fn status_codes_are_not_read_in_ports_urls_or_digests() {
        assert!(!transient(
            "Not authorized: url http://127.0.0.1:5000/v2/app/tags/list"
        ));
        assert!(!transient(
            "unknown blob sha256:5004011 on 127.0.0.1:5000/app"
        ));
        assert!(transient(
            "received unexpected HTTP status: 500 Internal Server Error"
        ));
        assert!(transient(
            "Get http://127.0.0.1:4040/v2/: dial tcp 127.0.0.1:4040: connect: connection refused"
        ));
        assert!(transient("toomanyrequests: 429 Too Many Requests"));
        assert!(!transient("unauthorized: authentication required"));
    }

    #[test]
    fn steps_of_both_builders_are_read() {
        assert_eq!(
            parse_step("Step 3/7 : RUN apt-get update"),
            Some(Progress::Step {
                current: 3,
                total: 7
            })
        );
        assert_eq!(
            parse_step("STEP 2/4: COPY a b"),
            Some(Progress::Step {
                current: 2,
                total: 4
            })
        );
        assert_eq!(parse_step("Stepping"), None);
    }

    /// A run cut off stops at once, yet still cleans up after itself, even
    /// from a step it cannot leave (a create the engine completes anyway);
    /// `finish` returns only when it has.
    #[tokio::test]
    async fn a_run_cut_off_cleans_up_and_finish_waits_for_it() {
        let runs = Runs::default();
        let steps = std::sync::Arc::new(Mutex::new(Vec::new()));
        for (name, create) in [("late", 200), ("running", 0)] {
            let log = std::sync::Arc::clone(&steps);
            let run = runs.run(move |cut_off| async move {
                // Not cancellable: the engine finishes it anyway.
                tokio::time::sleep(Duration::from_millis(create)).await;
                log.lock().unwrap().push(format!("{name} created"));
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(600)) => {}
                    () = cut_off.cancelled() => {}
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                log.lock().unwrap().push(format!("{name} removed"));
                Ok(RunOutput {
                    code: 0,
                    output: String::new(),
                })
            });
            let cut = tokio::time::timeout(Duration::from_millis(20), run).await;
            assert!(cut.is_err(), "cut off");
        }
        // Removed at the cut-off, not when the run finishes.
        let removed = async {
            while !steps.lock().unwrap().iter().any(|s| s == "running removed") {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(30), removed)
            .await
            .expect("a run cut off removes its container without waiting for finish");
        tokio::time::timeout(Duration::from_secs(30), runs.finish())
            .await
            .expect("finish returns once every run is done");
        let mut steps = steps.lock().unwrap().clone();
        steps.sort();
        assert_eq!(
            steps,
            [
                "late created",
                "late removed",
                "running created",
                "running removed"
            ]
        );
    }

    #[tokio::test]
    async fn a_run_that_ends_returns_its_output() {
        let runs = Runs::default();
        let output = runs
            .run(|_| async {
                Ok(RunOutput {
                    code: 3,
                    output: "done\n".into(),
                })
            })
            .await
            .unwrap();
        assert_eq!(output.code, 3);
        assert_eq!(output.output, "done\n");
    }
}

/// An engine in memory, for tests: images are recorded, builds can be made
/// to fail or to take time, and the most builds at once is measured.
#[cfg(test)]
#[allow(clippy::missing_panics_doc)]
pub mod fake {
    use std::collections::{HashMap, HashSet};
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::{BoxFuture, BuildRequest, Engine, Error, Image, Progress, RunOutput};

    /// The fake engine.
    #[derive(Default)]
    pub struct Fake {
        /// Images by reference.
        pub images: Mutex<HashMap<String, Image>>,
        /// Tags built, in order.
        pub built: Mutex<Vec<String>>,
        /// Tags whose build fails.
        pub failing: Mutex<HashSet<String>>,
        /// Images in which every command fails.
        pub failing_runs: Mutex<Vec<String>>,
        /// Commands run, as `image: command`.
        pub runs: Mutex<Vec<String>>,
        /// Pushes done, as `local -> repository:tag`.
        pub pushed: Mutex<Vec<String>>,
        /// Transient failures still to give, per `repository:tag`.
        pub push_failures: Mutex<HashMap<String, usize>>,
        /// Images a registry holds: pulled by `pull`, and by a build whose
        /// base (its `org.opencontainers.image.base.name`) is missing.
        pub remote: Mutex<HashMap<String, Image>>,
        /// References pulled, in order.
        pub pulled: Mutex<Vec<String>>,
        /// How long each build takes.
        pub delay: Duration,
        /// How long each pull takes.
        pub pull_delay: Duration,
        /// How long each command run in an image takes.
        pub run_delay: Duration,
        pub running: AtomicUsize,
        /// The most builds that ran at once.
        pub max_running: AtomicUsize,
        pub counter: AtomicUsize,
    }

    impl Fake {
        /// A fake that holds `images` (e.g. the distros' base images).
        pub fn with_images(images: &[&str]) -> Self {
            let fake = Self::default();
            for (i, image) in images.iter().enumerate() {
                fake.images.lock().unwrap().insert(
                    (*image).to_string(),
                    Image {
                        id: format!("sha256:base{i}"),
                        ..Image::default()
                    },
                );
            }
            fake
        }

        /// Tags built so far, and forget them.
        pub fn take_built(&self) -> Vec<String> {
            std::mem::take(&mut *self.built.lock().unwrap())
        }

        fn fetch(&self, reference: &str) -> Result<(), Error> {
            let image = self.remote.lock().unwrap().get(reference).cloned();
            let image =
                image.ok_or_else(|| Error::Other(format!("manifest for {reference} not found")))?;
            self.pulled.lock().unwrap().push(reference.to_string());
            self.images
                .lock()
                .unwrap()
                .insert(reference.to_string(), image);
            Ok(())
        }
    }

    impl Engine for Fake {
        fn name(&self) -> &'static str {
            "fake"
        }

        fn inspect<'a>(
            &'a self,
            reference: &'a str,
        ) -> BoxFuture<'a, Result<Option<Image>, Error>> {
            Box::pin(async move { Ok(self.images.lock().unwrap().get(reference).cloned()) })
        }

        fn pull<'a>(&'a self, reference: &'a str) -> BoxFuture<'a, Result<(), Error>> {
            Box::pin(async move {
                tokio::time::sleep(self.pull_delay).await;
                self.fetch(reference)
            })
        }

        fn build<'a>(
            &'a self,
            request: &'a BuildRequest,
            progress: &'a (dyn Fn(Progress) + Send + Sync),
        ) -> BoxFuture<'a, Result<String, Error>> {
            Box::pin(async move {
                // A builder fetches a FROM image it lacks.
                let base = request
                    .labels
                    .iter()
                    .find(|(k, _)| k == "org.opencontainers.image.base.name")
                    .map(|(_, v)| v.clone());
                if let Some(base) = base
                    && !self.images.lock().unwrap().contains_key(&base)
                {
                    self.fetch(&base)?;
                }
                let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
                self.max_running.fetch_max(now, Ordering::SeqCst);
                progress(Progress::Step {
                    current: 1,
                    total: 1,
                });
                progress(Progress::Line(format!("building {}", request.tag)));
                tokio::time::sleep(self.delay).await;
                self.running.fetch_sub(1, Ordering::SeqCst);
                self.built.lock().unwrap().push(request.tag.clone());
                if self.failing.lock().unwrap().contains(&request.tag) {
                    progress(Progress::Line("RUN failed: exit code 1".into()));
                    return Err(Error::Build(
                        "The command returned a non-zero code: 1".into(),
                    ));
                }
                let id = format!("sha256:{}", self.counter.fetch_add(1, Ordering::SeqCst));
                let image = Image {
                    id: id.clone(),
                    labels: request.labels.iter().cloned().collect(),
                    repo_digests: Vec::new(),
                };
                self.images
                    .lock()
                    .unwrap()
                    .insert(request.tag.clone(), image);
                Ok(id)
            })
        }

        fn push<'a>(
            &'a self,
            local: &'a str,
            repository: &'a str,
            tag: &'a str,
            _: Option<&'a crate::registry::Credentials>,
        ) -> BoxFuture<'a, Result<String, Error>> {
            Box::pin(async move {
                let remote = format!("{repository}:{tag}");
                tokio::time::sleep(self.delay).await;
                if let Some(left) = self.push_failures.lock().unwrap().get_mut(&remote)
                    && *left > 0
                {
                    *left -= 1;
                    return Err(Error::Push {
                        message: "received unexpected HTTP status: 500 Internal Server Error"
                            .into(),
                        transient: true,
                    });
                }
                let id = self.images.lock().unwrap().get(local).map(|i| i.id.clone());
                let id = id.ok_or_else(|| Error::Other(format!("no image `{local}`")))?;
                self.pushed
                    .lock()
                    .unwrap()
                    .push(format!("{local} -> {remote}"));
                Ok(id)
            })
        }

        fn run<'a>(
            &'a self,
            image: &'a str,
            command: &'a [String],
        ) -> BoxFuture<'a, Result<RunOutput, Error>> {
            Box::pin(async move {
                self.runs
                    .lock()
                    .unwrap()
                    .push(format!("{image}: {}", command.join(" ")));
                tokio::time::sleep(self.run_delay).await;
                let code = i64::from(self.failing_runs.lock().unwrap().iter().any(|i| i == image));
                Ok(RunOutput {
                    code,
                    output: "ran\n".into(),
                })
            })
        }
    }
}
