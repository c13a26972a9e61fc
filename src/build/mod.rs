//! Turns the plan into images: every target as soon as the image it is built
//! FROM is ready, up to `jobs` at once, skipping what is up to date (its
//! inputs hash label matches) and what depends on a failure.

pub mod context;
pub mod inputs;
pub mod log;

use std::collections::{HashMap, VecDeque};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::task::JoinSet;

use crate::engine::{BuildRequest, Engine, Progress};
use crate::plan::{Plan, Target};
use context::Context;

/// How to build.
#[derive(Clone, Debug)]
pub struct Options {
    /// Builds at once.
    pub jobs: usize,
    /// After a failure, go on with everything that does not depend on it.
    pub keep_going: bool,
    /// Rebuild even what is up to date.
    pub overwrite: bool,
    /// Network mode of `RUN` steps.
    pub network: Option<String>,
    /// Time allowed to each build.
    pub timeout: Duration,
    /// Extra build arguments, over the plan's.
    pub build_args: Vec<(String, String)>,
    /// Extra labels on every image (revision, source).
    pub labels: Vec<(String, String)>,
    /// When the images were made, from `SOURCE_DATE_EPOCH` (see
    /// [`source_date_epoch`]); the time of each build when `None`.
    pub source_date_epoch: Option<jiff::Timestamp>,
    /// Where each build's log goes.
    pub log_dir: PathBuf,
    /// Decide, and build nothing.
    pub dry_run: bool,
    /// Run each target's tests after it is built.
    pub test: bool,
    /// Only run the tests of images that exist; build nothing.
    pub test_only: bool,
}

/// What happened to a target.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Built now.
    Built,
    /// Its image carries the current inputs hash.
    UpToDate,
    /// Would be built (dry run).
    WouldBuild,
    /// Its tests passed (`test`).
    Passed,
    /// Its build failed.
    Failed,
    /// Not attempted: what it is built FROM failed, or the run stopped.
    Skipped,
    /// Stopped by an interruption.
    Cancelled,
}

impl Status {
    /// How the summary names it.
    #[must_use]
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Built => "built",
            Self::UpToDate => "up to date",
            Self::WouldBuild => "would build",
            Self::Passed => "passed",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
            Self::Cancelled => "cancelled",
        }
    }

    /// Built, up to date, or tested: what others can be built FROM.
    #[must_use]
    pub fn ready(&self) -> bool {
        matches!(self, Self::Built | Self::UpToDate | Self::Passed)
    }
}

/// The result of one target.
#[derive(Clone, Debug, Serialize)]
pub struct Outcome {
    /// `PACKAGE:TAG`.
    pub target: String,
    /// What happened.
    pub status: Status,
    /// Why (for anything but a plain success).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The image ID.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Its inputs hash.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inputs: Option<String>,
    /// The build log.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<PathBuf>,
    /// The tests run, with their exit codes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tests: Vec<TestRun>,
    /// The last lines of a failed build's log.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub log_tail: Vec<String>,
    /// Seconds spent.
    pub seconds: f64,
}

impl Outcome {
    fn new(target: &str, status: Status) -> Self {
        Self {
            target: target.to_string(),
            status,
            reason: None,
            image: None,
            inputs: None,
            log: None,
            tests: Vec::new(),
            log_tail: Vec::new(),
            seconds: 0.0,
        }
    }

    fn because(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }
}

/// One test command run in an image.
#[derive(Clone, Debug, Serialize)]
pub struct TestRun {
    /// The shell command.
    pub command: String,
    /// Its exit code.
    pub code: i64,
}

/// Every target's outcome, in build order.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// The engine used.
    pub engine: String,
    /// One per target.
    pub targets: Vec<Outcome>,
    /// True when the run was interrupted.
    pub interrupted: bool,
    /// Seconds for the whole run.
    pub seconds: f64,
}

impl Summary {
    /// True when every target is built or up to date (or would be built).
    #[must_use]
    pub fn success(&self) -> bool {
        !self.interrupted
            && self
                .targets
                .iter()
                .all(|o| o.status.ready() || o.status == Status::WouldBuild)
    }

    /// How many targets ended with `status`.
    #[must_use]
    pub fn count(&self, status: &Status) -> usize {
        self.targets.iter().filter(|o| &o.status == status).count()
    }
}

/// What the scheduler tells whoever draws progress.
#[derive(Debug)]
pub enum Event<'a> {
    /// The run starts with this many targets.
    Begin {
        /// Targets in the run.
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
    Started {
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
    /// A target is done, whichever way.
    Finished {
        /// Its outcome.
        outcome: &'a Outcome,
    },
}

/// Draws progress; the core never prints.
pub trait Reporter: Send + Sync {
    /// Something happened.
    fn event(&self, event: Event<'_>);
}

/// How long the end of a run waits for cut-off tests and builds to be gone.
const CLEAN_UP_LIMIT: Duration = Duration::from_secs(60);

/// `SOURCE_DATE_EPOCH` (seconds since 1970, the reproducible-builds
/// convention), read as the time images were made when it is set, so that
/// two builds of the same inputs carry the same labels; unset or empty, the
/// time of each build.
///
/// # Errors
/// When it is not a whole number of seconds in range.
pub fn source_date_epoch(value: Option<&str>) -> Result<Option<jiff::Timestamp>, String> {
    let Some(text) = value.filter(|t| !t.trim().is_empty()) else {
        return Ok(None);
    };
    let seconds: i64 = text.trim().parse().map_err(|_| {
        format!("`SOURCE_DATE_EPOCH={text}` is not a number of seconds since 1970-01-01")
    })?;
    jiff::Timestamp::from_second(seconds)
        .map(Some)
        .map_err(|_| format!("`SOURCE_DATE_EPOCH={text}` is out of range"))
}

/// Labels every image gets, beside the inputs hash.
fn labels(plan: &Plan, target: &Target, options: &Options) -> Vec<(String, String)> {
    let mut labels = vec![
        (
            "org.opencontainers.image.title".to_string(),
            target.name.clone(),
        ),
        (
            "org.opencontainers.image.version".to_string(),
            plan.matrix.bentoml_version.clone(),
        ),
        (
            "org.opencontainers.image.created".to_string(),
            options
                .source_date_epoch
                .unwrap_or_else(jiff::Timestamp::now)
                .to_string(),
        ),
        (
            "org.opencontainers.image.base.name".to_string(),
            target.from.clone(),
        ),
    ];
    labels.extend(options.labels.iter().cloned());
    labels
}

/// The targets of `selected`, with every target they are built FROM, in build order.
#[must_use]
pub fn with_dependencies<'p>(plan: &'p Plan, selected: &[&'p Target]) -> Vec<&'p Target> {
    let mut wanted: Vec<&str> = selected.iter().map(|t| t.name.as_str()).collect();
    for target in selected {
        let mut parent = target.depends_on.as_deref();
        while let Some(name) = parent {
            wanted.push(name);
            parent = plan.target(name).and_then(|t| t.depends_on.as_deref());
        }
    }
    let by_name: HashMap<&str, &Target> =
        plan.targets.iter().map(|t| (t.name.as_str(), t)).collect();
    plan.build_order
        .iter()
        .filter(|n| wanted.contains(&n.as_str()))
        .filter_map(|n| by_name.get(n.as_str()).copied())
        .collect()
}

/// A log file name for a target.
fn log_name(target: &str) -> String {
    let safe: String = target
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{safe}.log")
}

const TAIL_LINES: usize = 30;

/// Builds `targets` (in build order, dependencies included).
///
/// `interrupt` resolves when the user asks to stop (Ctrl-C): no build starts
/// after it, running ones are cancelled (their tag is never set).
pub async fn build(
    plan: &Plan,
    targets: &[&Target],
    engine: Arc<dyn Engine>,
    context: Arc<Context>,
    options: &Options,
    reporter: Arc<dyn Reporter>,
    interrupt: impl std::future::Future<Output = ()>,
) -> Summary {
    let started = Instant::now();
    // Partial logs of killed runs, whichever targets they were for.
    log::sweep(&options.log_dir);
    reporter.event(Event::Begin {
        total: targets.len(),
    });
    let index: HashMap<&str, usize> = targets
        .iter()
        .enumerate()
        .map(|(i, t)| (t.name.as_str(), i))
        .collect();
    let mut outcomes: Vec<Option<Outcome>> = vec![None; targets.len()];
    let mut waiting: VecDeque<usize> = (0..targets.len()).collect();
    let mut running: JoinSet<(usize, Outcome)> = JoinSet::new();
    let mut running_names: HashMap<tokio::task::Id, usize> = HashMap::new();
    let mut stop_reason: Option<&str> = None;
    let mut interrupted = false;
    tokio::pin!(interrupt);

    loop {
        if stop_reason.is_none() {
            let mut still = VecDeque::with_capacity(waiting.len());
            while let Some(i) = waiting.pop_front() {
                let target = targets[i];
                let parent = target
                    .depends_on
                    .as_deref()
                    .and_then(|p| index.get(p).copied());
                let parent_state = parent.map(|p| outcomes[p].as_ref());
                let parent_image =
                    match parent_state {
                        None => None,
                        Some(None) => {
                            still.push_back(i);
                            continue;
                        }
                        Some(Some(o)) if o.status.ready() => o.image.clone(),
                        Some(Some(o)) if o.status == Status::WouldBuild => {
                            let outcome = Outcome::new(&target.name, Status::WouldBuild)
                                .because(format!("`{}` would be rebuilt", o.target));
                            reporter.event(Event::Finished { outcome: &outcome });
                            outcomes[i] = Some(outcome);
                            continue;
                        }
                        Some(Some(o)) => {
                            let outcome = Outcome::new(&target.name, Status::Skipped)
                                .because(format!("`{}` {}", o.target, o.status.as_str()));
                            reporter.event(Event::Finished { outcome: &outcome });
                            outcomes[i] = Some(outcome);
                            continue;
                        }
                    };
                if running.len() >= options.jobs.max(1) {
                    still.push_back(i);
                    continue;
                }
                let job = Job {
                    plan_version: plan.matrix.bentoml_version.clone(),
                    target: target.clone(),
                    labels: labels(plan, target, options),
                    parent_image,
                    engine: Arc::clone(&engine),
                    context: Arc::clone(&context),
                    options: options.clone(),
                    reporter: Arc::clone(&reporter),
                };
                let handle = running.spawn(async move { (i, job.run().await) });
                running_names.insert(handle.id(), i);
            }
            waiting = still;
        }
        if running.is_empty() {
            break;
        }
        tokio::select! {
            joined = running.join_next_with_id() => {
                let (i, outcome) = match joined {
                    Some(Ok((_, (i, outcome)))) => (i, outcome),
                    Some(Err(error)) => {
                        let Some(&i) = running_names.get(&error.id()) else { continue };
                        (i, Outcome::new(&targets[i].name, Status::Failed).because(format!("the build task failed: {error}")))
                    }
                    None => break,
                };
                if outcome.status == Status::Failed && !options.keep_going {
                    stop_reason = Some("not started: an earlier build failed (`--keep-going` goes on)");
                }
                reporter.event(Event::Finished { outcome: &outcome });
                outcomes[i] = Some(outcome);
            }
            () = &mut interrupt, if !interrupted => {
                interrupted = true;
                stop_reason = Some("not started: interrupted");
                running.abort_all();
                while let Some(joined) = running.join_next_with_id().await {
                    let (i, outcome) = match joined {
                        Ok((_, (i, outcome))) => (i, outcome),
                        Err(error) => {
                            let Some(&i) = running_names.get(&error.id()) else { continue };
                            (i, Outcome::new(&targets[i].name, Status::Cancelled).because("interrupted"))
                        }
                    };
                    reporter.event(Event::Finished { outcome: &outcome });
                    outcomes[i] = Some(outcome);
                }
                break;
            }
        }
    }
    // Bounded: a container the engine will not remove must not hold the
    // run (the engine's own stop grace is 10 s).
    let _ = tokio::time::timeout(CLEAN_UP_LIMIT, engine.clean_up()).await;
    let reason = stop_reason.unwrap_or("not started");
    let targets: Vec<Outcome> = outcomes
        .into_iter()
        .enumerate()
        .map(|(i, o)| {
            o.unwrap_or_else(|| {
                let outcome = Outcome::new(&targets[i].name, Status::Skipped).because(reason);
                reporter.event(Event::Finished { outcome: &outcome });
                outcome
            })
        })
        .collect();
    Summary {
        engine: engine.name().to_string(),
        targets,
        interrupted,
        seconds: started.elapsed().as_secs_f64(),
    }
}

/// One target's work, owned so that it can run on its own task.
struct Job {
    plan_version: String,
    target: Target,
    labels: Vec<(String, String)>,
    parent_image: Option<String>,
    engine: Arc<dyn Engine>,
    context: Arc<Context>,
    options: Options,
    reporter: Arc<dyn Reporter>,
}

impl Job {
    /// `work` (a build, a pull, a test) bounded by `--timeout`; past it,
    /// `timed out after ...`.
    async fn bounded<T>(&self, work: impl Future<Output = T>) -> Result<T, String> {
        tokio::time::timeout(self.options.timeout, work)
            .await
            .map_err(|_| format!("timed out after {:?}", self.options.timeout))
    }

    async fn run(self) -> Outcome {
        let started = Instant::now();
        let mut outcome = self.decide_and_build().await;
        outcome.seconds = started.elapsed().as_secs_f64();
        outcome
    }

    async fn decide_and_build(&self) -> Outcome {
        if self.options.test_only {
            return self.test_existing().await;
        }
        let mut outcome = self.build().await;
        // An up-to-date image is tested again too: its tests may have
        // failed when it was built, and a rerun must not forget that.
        let built = matches!(outcome.status, Status::Built | Status::UpToDate);
        if self.options.test && built && !self.target.tests.is_empty() {
            self.run_tests(&mut outcome).await;
        }
        outcome
    }

    /// `test`: the tests of an image that exists.
    async fn test_existing(&self) -> Outcome {
        let name = self.target.name.as_str();
        match self.engine.inspect(name).await {
            Ok(Some(image)) => {
                let mut outcome = Outcome::new(name, Status::Passed);
                outcome.image = Some(image.id);
                self.run_tests(&mut outcome).await;
                outcome
            }
            Ok(None) => Outcome::new(name, Status::Skipped).because("no image: build it first"),
            Err(e) => {
                Outcome::new(name, Status::Failed).because(format!("cannot inspect `{name}`: {e}"))
            }
        }
    }

    /// Runs the target's tests in its image; the first failure fails the target.
    async fn run_tests(&self, outcome: &mut Outcome) {
        let name = self.target.name.as_str();
        let log_path = self
            .options
            .log_dir
            .join(log_name(name).replace(".log", ".test.log"));
        let mut log = match log::Log::create(&log_path) {
            Ok(file) => file,
            Err(e) => {
                outcome.status = Status::Failed;
                outcome.reason = Some(format!(
                    "cannot write the test log `{}`: {e}",
                    log_path.display()
                ));
                return;
            }
        };
        for test in &self.target.tests {
            let command: Vec<String> = [
                "env".to_string(),
                format!("PYTHON_VERSION={}", self.target.python_version),
                format!("BENTOML_VERSION={}", self.plan_version),
                "sh".into(),
                "-c".into(),
                test.clone(),
            ]
            .into();
            let _ = writeln!(log, "$ {test}");
            let run = self
                .bounded(self.engine.run(name, &command))
                .await
                .unwrap_or_else(|late| Err(crate::engine::Error::Other(late)));
            match run {
                Ok(run) => {
                    let _ = write!(log, "{}", run.output);
                    let _ = writeln!(log, "# exit {}", run.code);
                    outcome.tests.push(TestRun {
                        command: test.clone(),
                        code: run.code,
                    });
                    if run.code != 0 {
                        outcome.status = Status::Failed;
                        outcome.reason = Some(format!("test `{test}` failed (exit {})", run.code));
                        let lines: Vec<&str> = run.output.lines().collect();
                        outcome.log_tail = lines[lines.len().saturating_sub(TAIL_LINES)..]
                            .iter()
                            .map(ToString::to_string)
                            .collect();
                        break;
                    }
                }
                Err(e) => {
                    outcome.status = Status::Failed;
                    outcome.reason = Some(format!("cannot run test `{test}`: {e}"));
                    break;
                }
            }
        }
        drop(log);
        outcome.log = Some(log_path);
    }

    async fn build(&self) -> Outcome {
        let target = &self.target;
        let name = target.name.as_str();
        let fail = |reason: String| Outcome::new(name, Status::Failed).because(reason);
        let parent_id = match &self.parent_image {
            Some(id) => id.clone(),
            None => match self.engine.inspect(&target.from).await {
                Ok(Some(image)) => image.id,
                // A dry run fetches nothing: the hash notes it is unknown.
                Ok(None) if self.options.dry_run => format!("unresolved:{}", target.from),
                // Fetched first, so that the hash holds the ID the build
                // will use: else the next run would see a new parent.
                Ok(None) => {
                    self.reporter.event(Event::Pulling {
                        target: name,
                        image: &target.from,
                    });
                    match self.bounded(self.engine.pull(&target.from)).await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => return fail(format!("cannot pull `{}`: {e}", target.from)),
                        Err(late) => return fail(format!("pulling `{}` {late}", target.from)),
                    }
                    match self.engine.inspect(&target.from).await {
                        Ok(Some(image)) => image.id,
                        Ok(None) => {
                            return fail(format!("`{}` is missing after a pull", target.from));
                        }
                        Err(e) => return fail(format!("cannot inspect `{}`: {e}", target.from)),
                    }
                }
                Err(e) => return fail(format!("cannot inspect `{}`: {e}", target.from)),
            },
        };
        let dockerfile_path = self.context.root().join(&target.dockerfile);
        let dockerfile = match std::fs::read_to_string(&dockerfile_path) {
            Ok(text) => text,
            // A real run generates it first: a dry run has nothing to judge.
            Err(e) if self.options.dry_run && e.kind() == std::io::ErrorKind::NotFound => {
                return Outcome::new(name, Status::WouldBuild)
                    .because("its Dockerfile is not generated yet");
            }
            Err(e) => return fail(format!("cannot read `{}`: {e}", dockerfile_path.display())),
        };
        let mut build_args: Vec<(String, String)> = target
            .build_args
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (name, value) in &self.options.build_args {
            match build_args.iter_mut().find(|(n, _)| n == name) {
                Some(slot) => slot.1.clone_from(value),
                None => build_args.push((name.clone(), value.clone())),
            }
        }
        let hash = match inputs::hash(&dockerfile, &self.context, &build_args, &parent_id) {
            Ok(hash) => hash,
            Err(e) => return fail(e),
        };
        let existing = match self.engine.inspect(name).await {
            Ok(image) => image,
            Err(e) => return fail(format!("cannot inspect `{name}`: {e}")),
        };
        let why = match &existing {
            _ if self.options.overwrite => "`--overwrite`",
            None => "no image",
            Some(image) if image.labels.get(inputs::LABEL) == Some(&hash) => {
                let mut outcome = Outcome::new(name, Status::UpToDate);
                outcome.image = Some(image.id.clone());
                outcome.inputs = Some(hash);
                return outcome;
            }
            Some(_) => "inputs changed",
        };
        if self.options.dry_run {
            let mut outcome = Outcome::new(name, Status::WouldBuild).because(why);
            outcome.inputs = Some(hash);
            return outcome;
        }
        self.reporter.event(Event::Started { target: name });
        let mut labels = self.labels.clone();
        labels.push((inputs::LABEL.to_string(), hash.clone()));
        let request = BuildRequest {
            tag: name.to_string(),
            dockerfile: crate::render::context::slash_path(&target.dockerfile),
            dockerfile_text: dockerfile,
            timestamp: self.options.source_date_epoch,
            context: Arc::clone(&self.context),
            build_args,
            labels,
            network: self.options.network.clone(),
        };
        let log_path = self.options.log_dir.join(log_name(name));
        let log = match log::Log::create(&log_path) {
            Ok(file) => Mutex::new(file),
            Err(e) => {
                return fail(format!(
                    "cannot write the build log `{}`: {e}",
                    log_path.display()
                ));
            }
        };
        let _ = writeln!(
            lock(&log),
            "# {name} ({why}), bentoml {}, inputs {hash}",
            self.plan_version
        );
        let reporter = &self.reporter;
        let progress = |event: Progress| match event {
            Progress::Step { current, total } => reporter.event(Event::Step {
                target: name,
                current,
                total,
            }),
            Progress::Line(line) => {
                let _ = writeln!(lock(&log), "{line}");
            }
        };
        let result = self.bounded(self.engine.build(&request, &progress)).await;
        let mut outcome = match result {
            Ok(Ok(id)) => {
                let mut outcome = Outcome::new(name, Status::Built).because(why);
                outcome.image = Some(id);
                outcome
            }
            Ok(Err(e)) => {
                let _ = writeln!(lock(&log), "error: {e}");
                fail(e.to_string())
            }
            Err(message) => {
                let _ = writeln!(lock(&log), "error: {message}");
                fail(message)
            }
        };
        drop(log);
        if outcome.status == Status::Failed {
            outcome.log_tail = tail(&log_path, TAIL_LINES);
        }
        outcome.inputs = Some(hash);
        outcome.log = Some(log_path);
        outcome
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn tail(path: &Path, n: usize) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::fake::Fake;
    use crate::generate::{self, Destination};
    use crate::manifest;
    use crate::render::Renderer;

    const MANIFEST: &str = "python_versions: ['3.11', '3.12']
release_spec: &spec
  templates_dir: templates
  base_image: debian:bookworm-slim
  add_to_tags: bookworm
  envars: [LANG=C.UTF-8]
packages:
  server:
    runtime: [debian]
    devel: [debian]
releases:
  debian:
    '12':
      <<: *spec
    '13':
      <<: *spec
      add_to_tags: trixie
";

    struct Repo {
        dir: tempfile::TempDir,
        plan: Plan,
    }

    impl Repo {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            let write = |path: &str, text: &str| {
                let path = dir.path().join(path);
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(path, text).unwrap();
            };
            write("manifest.yml", MANIFEST);
            write(
                "templates/base.Dockerfile.j2",
                "FROM {{ metadata.base_image }}\nARG PYTHON_VERSION\n",
            );
            write(
                "templates/runtime.Dockerfile.j2",
                "ARG PYTHON_VERSION\nFROM {{ metadata.package }}:{{ build_tag }}\nCOPY tools/entrypoint.sh /e\n",
            );
            write(
                "templates/devel.Dockerfile.j2",
                "ARG PYTHON_VERSION\nFROM {{ metadata.package }}:{{ build_tag }}\nRUN true\n",
            );
            write("tools/entrypoint.sh", "#!/bin/sh\n");
            let manifest = manifest::load(&dir.path().join("manifest.yml")).unwrap();
            let options = crate::plan::Options {
                bentoml_version: Some("1.3.0".into()),
                output_dir: "generated".into(),
                ..Default::default()
            };
            let plan = Plan::new(&manifest, &options).unwrap();
            let renderer = Renderer::new(&manifest).unwrap();
            let destination = Destination {
                output: dir.path().join("generated"),
                metadata: None,
                check_only: false,
            };
            generate::generate(&manifest, &plan.matrix, &renderer, &destination).unwrap();
            Self { dir, plan }
        }

        fn options(&self) -> Options {
            Options {
                jobs: 1,
                keep_going: false,
                overwrite: false,
                network: None,
                timeout: Duration::from_secs(60),
                build_args: Vec::new(),
                labels: Vec::new(),
                source_date_epoch: None,
                log_dir: self.dir.path().join(".bentoml-docker/logs"),
                dry_run: false,
                test: false,
                test_only: false,
            }
        }

        async fn build(&self, engine: &Arc<Fake>, options: &Options) -> Summary {
            self.build_selected(
                engine,
                options,
                &self.plan.targets.iter().collect::<Vec<_>>(),
            )
            .await
        }

        async fn build_selected(
            &self,
            engine: &Arc<Fake>,
            options: &Options,
            selected: &[&Target],
        ) -> Summary {
            let context = Arc::new(Context::scan(self.dir.path()).unwrap());
            let targets = with_dependencies(&self.plan, selected);
            let engine: Arc<dyn Engine> = Arc::clone(engine) as Arc<dyn Engine>;
            build(
                &self.plan,
                &targets,
                engine,
                context,
                options,
                Arc::new(Quiet),
                std::future::pending(),
            )
            .await
        }
    }

    struct Quiet;
    impl Reporter for Quiet {
        fn event(&self, _: Event<'_>) {}
    }

    fn statuses(summary: &Summary) -> Vec<(String, &'static str)> {
        summary
            .targets
            .iter()
            .map(|o| (o.target.clone(), o.status.as_str()))
            .collect()
    }

    #[tokio::test]
    async fn builds_bases_first_then_is_up_to_date() {
        let repo = Repo::new();
        let engine = Arc::new(Fake::with_images(&["debian:bookworm-slim"]));
        let summary = repo.build(&engine, &repo.options()).await;
        assert!(summary.success(), "{:?}", statuses(&summary));
        let built = engine.take_built();
        assert_eq!(built.len(), 12);
        let position = |name: &str| built.iter().position(|b| b == name).unwrap();
        assert!(
            position("server:base-python3.11-bookworm")
                < position("server:1.3.0-python3.11-bookworm-runtime")
        );
        let image = engine.images.lock().unwrap()["server:devel-python3.12-trixie"].clone();
        assert_eq!(
            image.labels["org.opencontainers.image.base.name"],
            "server:base-python3.12-trixie"
        );
        assert_eq!(image.labels["org.opencontainers.image.version"], "1.3.0");
        assert!(image.labels[inputs::LABEL].starts_with("sha256:"));

        let again = repo.build(&engine, &repo.options()).await;
        assert_eq!(again.count(&Status::UpToDate), 12);
        assert!(engine.take_built().is_empty());
    }

    /// A base image the engine lacks is pulled before hashing: the label
    /// then holds the ID the build used, and the next run is a no-op.
    #[tokio::test]
    async fn a_missing_base_image_is_pulled_once_and_not_rebuilt_after() {
        let repo = Repo::new();
        let engine = Arc::new(Fake::default());
        engine.remote.lock().unwrap().insert(
            "debian:bookworm-slim".into(),
            crate::engine::Image {
                id: "sha256:pulled".into(),
                ..crate::engine::Image::default()
            },
        );
        let summary = repo.build(&engine, &repo.options()).await;
        assert!(summary.success(), "{:?}", statuses(&summary));
        assert_eq!(engine.take_built().len(), 12);
        assert_eq!(*engine.pulled.lock().unwrap(), ["debian:bookworm-slim"]);
        let again = repo.build(&engine, &repo.options()).await;
        assert_eq!(again.count(&Status::UpToDate), 12, "{:?}", statuses(&again));
        assert!(engine.take_built().is_empty());
    }

    /// A pull that hangs is bounded by the build timeout.
    #[tokio::test]
    async fn a_pull_past_the_timeout_fails_its_targets() {
        let repo = Repo::new();
        let engine = Arc::new(Fake {
            pull_delay: Duration::from_secs(600),
            ..Fake::default()
        });
        engine.remote.lock().unwrap().insert(
            "debian:bookworm-slim".into(),
            crate::engine::Image::default(),
        );
        let options = Options {
            timeout: Duration::from_millis(50),
            ..repo.options()
        };
        let summary = tokio::time::timeout(Duration::from_secs(30), repo.build(&engine, &options))
            .await
            .expect("the pull was cut off");
        let failed: Vec<&str> = summary
            .targets
            .iter()
            .filter(|o| o.status == Status::Failed)
            .filter_map(|o| o.reason.as_deref())
            .collect();
        assert!(!failed.is_empty(), "{:?}", statuses(&summary));
        for reason in failed {
            assert_eq!(
                reason,
                "pulling `debian:bookworm-slim` timed out after 50ms"
            );
        }
        assert!(engine.take_built().is_empty());
    }

    #[tokio::test]
    async fn a_base_image_that_cannot_be_pulled_fails_its_targets() {
        let repo = Repo::new();
        let engine = Arc::new(Fake::default());
        let summary = repo.build(&engine, &repo.options()).await;
        assert!(!summary.success());
        let base = summary
            .targets
            .iter()
            .find(|o| o.status == Status::Failed)
            .unwrap();
        assert!(
            base.reason.as_deref().unwrap().starts_with(
                "cannot pull `debian:bookworm-slim`: manifest for debian:bookworm-slim not found"
            ),
            "{base:?}"
        );
        assert!(engine.take_built().is_empty());
    }

    #[tokio::test]
    async fn a_changed_input_rebuilds_exactly_its_targets_and_dependents() {
        let repo = Repo::new();
        let engine = Arc::new(Fake::with_images(&["debian:bookworm-slim"]));
        repo.build(&engine, &repo.options()).await;
        engine.take_built();
        // Only runtime images copy tools/entrypoint.sh.
        std::fs::write(
            repo.dir.path().join("tools/entrypoint.sh"),
            "#!/bin/sh\necho\n",
        )
        .unwrap();
        repo.build(&engine, &repo.options()).await;
        let mut built = engine.take_built();
        built.sort();
        assert_eq!(
            built,
            [
                "server:1.3.0-python3.11-bookworm-runtime",
                "server:1.3.0-python3.11-trixie-runtime",
                "server:1.3.0-python3.12-bookworm-runtime",
                "server:1.3.0-python3.12-trixie-runtime",
            ]
        );
        // A changed base Dockerfile rebuilds that base and everything FROM it.
        let dockerfile = repo.dir.path().join("generated/server/debian13/Dockerfile");
        std::fs::write(
            &dockerfile,
            "FROM debian:bookworm-slim\nARG PYTHON_VERSION\nRUN true\n",
        )
        .unwrap();
        repo.build(&engine, &repo.options()).await;
        let built = engine.take_built();
        assert_eq!(built.len(), 6, "{built:?}");
        assert!(built.iter().all(|b| b.contains("trixie")));
    }

    #[tokio::test]
    async fn a_failure_skips_dependents_and_stops_unless_keep_going() {
        let repo = Repo::new();
        let engine = Arc::new(Fake::with_images(&["debian:bookworm-slim"]));
        engine
            .failing
            .lock()
            .unwrap()
            .insert("server:base-python3.11-bookworm".into());
        let summary = repo.build(&engine, &repo.options()).await;
        assert!(!summary.success());
        assert_eq!(engine.take_built(), ["server:base-python3.11-bookworm"]);
        let failed = &summary.targets[0];
        assert_eq!(failed.status, Status::Failed);
        assert!(
            failed.log_tail.iter().any(|l| l.contains("RUN failed")),
            "{failed:?}"
        );
        assert!(failed.log.as_ref().unwrap().exists());
        assert_eq!(summary.count(&Status::Skipped), 11);

        let options = Options {
            keep_going: true,
            ..repo.options()
        };
        let summary = repo.build(&engine, &options).await;
        let statuses = statuses(&summary);
        assert_eq!(summary.count(&Status::Failed), 1);
        assert_eq!(summary.count(&Status::Skipped), 2, "{statuses:?}");
        assert!(statuses.contains(&("server:devel-python3.11-bookworm".into(), "skipped")));
        assert_eq!(summary.count(&Status::Built), 9);
    }

    #[tokio::test]
    async fn a_build_past_its_timeout_fails() {
        let repo = Repo::new();
        let engine = Arc::new(Fake {
            delay: Duration::from_millis(500),
            ..Fake::with_images(&["debian:bookworm-slim"])
        });
        let options = Options {
            timeout: Duration::from_millis(50),
            ..repo.options()
        };
        let summary = repo.build(&engine, &options).await;
        assert_eq!(summary.targets[0].status, Status::Failed);
        assert_eq!(
            summary.targets[0].reason.as_deref(),
            Some("timed out after 50ms")
        );
        assert_eq!(engine.images.lock().unwrap().len(), 1, "nothing was tagged");
    }

    /// The bug: `build --dry-run` on a fresh copy (no `generated/`)
    /// reported the base targets as failed and exited 1.
    #[tokio::test]
    async fn a_dry_run_without_generated_dockerfiles_fails_nothing() {
        let repo = Repo::new();
        std::fs::remove_dir_all(repo.dir.path().join("generated")).unwrap();
        let engine = Arc::new(Fake::with_images(&["debian:bookworm-slim"]));
        let options = Options {
            dry_run: true,
            ..repo.options()
        };
        let summary = repo.build(&engine, &options).await;
        assert!(summary.success(), "{summary:?}");
        assert!(
            summary
                .targets
                .iter()
                .all(|t| t.status == Status::WouldBuild),
            "{summary:?}"
        );
        assert!(engine.built.lock().unwrap().is_empty());
    }

    /// The bug: a build's log stayed empty until the build ended.
    #[tokio::test]
    async fn a_build_log_is_on_disk_while_the_build_runs() {
        let repo = Repo::new();
        let engine = Arc::new(Fake {
            delay: Duration::from_millis(600),
            ..Fake::with_images(&["debian:bookworm-slim"])
        });
        let options = repo.options();
        let logs = options.log_dir.clone();
        let building = repo.build(&engine, &options);
        let looking = async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let mut seen = String::new();
            for entry in std::fs::read_dir(&logs).unwrap().flatten() {
                seen.push_str(&std::fs::read_to_string(entry.path()).unwrap());
            }
            seen
        };
        let (summary, seen) = tokio::join!(building, looking);
        assert!(summary.success());
        assert!(seen.contains("building server:base-python3.11"), "{seen:?}");
        let names: Vec<String> = std::fs::read_dir(&logs)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| n.ends_with(".log")), "{names:?}");
    }

    /// The bug: a partial log left by a run killed with SIGKILL stayed for
    /// good when no later run built that target again.
    #[tokio::test]
    async fn a_build_run_removes_the_abandoned_partial_logs_of_any_target() {
        let repo = Repo::new();
        let engine = Arc::new(Fake::with_images(&["debian:bookworm-slim"]));
        let options = repo.options();
        std::fs::create_dir_all(&options.log_dir).unwrap();
        let abandoned = options
            .log_dir
            .join("not-in-this-run_x.log.Q1w2E3r4T5.partial");
        std::fs::write(&abandoned, "cut by SIGKILL").unwrap();
        let summary = repo.build(&engine, &options).await;
        assert!(summary.success());
        assert!(!abandoned.exists());
    }

    #[tokio::test]
    async fn jobs_run_builds_at_once() {
        let repo = Repo::new();
        let engine = Arc::new(Fake {
            delay: Duration::from_millis(50),
            ..Fake::with_images(&["debian:bookworm-slim"])
        });
        let options = Options {
            jobs: 3,
            ..repo.options()
        };
        assert!(repo.build(&engine, &options).await.success());
        assert_eq!(
            engine.max_running.load(std::sync::atomic::Ordering::SeqCst),
            3
        );
    }

    #[tokio::test]
    async fn selection_includes_what_targets_are_built_from() {
        let repo = Repo::new();
        let engine = Arc::new(Fake::with_images(&["debian:bookworm-slim"]));
        let runtime = repo
            .plan
            .target("server:1.3.0-python3.12-trixie-runtime")
            .unwrap();
        let summary = repo
            .build_selected(&engine, &repo.options(), &[runtime])
            .await;
        assert_eq!(
            engine.take_built(),
            [
                "server:base-python3.12-trixie",
                "server:1.3.0-python3.12-trixie-runtime"
            ]
        );
        assert!(summary.success());
        // Again: the base is up to date and not rebuilt.
        let devel = repo.plan.target("server:devel-python3.12-trixie").unwrap();
        repo.build_selected(&engine, &repo.options(), &[devel])
            .await;
        assert_eq!(engine.take_built(), ["server:devel-python3.12-trixie"]);
    }

    #[tokio::test]
    async fn tests_run_after_each_build_and_a_failing_one_fails_its_target() {
        let mut repo = Repo::new();
        for target in &mut repo.plan.targets {
            target.tests = vec!["python --version".into()];
        }
        let engine = Arc::new(Fake::with_images(&["debian:bookworm-slim"]));
        *engine.failing_runs.lock().unwrap() = vec!["server:devel-python3.12-trixie".into()];
        let options = Options {
            test: true,
            keep_going: true,
            ..repo.options()
        };
        let summary = repo.build(&engine, &options).await;
        let failed: Vec<_> = summary
            .targets
            .iter()
            .filter(|o| o.status == Status::Failed)
            .collect();
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].target, "server:devel-python3.12-trixie");
        assert!(
            failed[0]
                .reason
                .as_deref()
                .unwrap()
                .contains("test `python --version` failed")
        );
        let runs = engine.runs.lock().unwrap().clone();
        assert_eq!(runs.len(), 12);
        assert!(
            runs[0].contains("PYTHON_VERSION=3.11") || runs[0].contains("PYTHON_VERSION=3.12"),
            "{runs:?}"
        );

        // Rerun with --test: the image is up to date, but its failing test
        // is run again and still fails the run.
        engine.take_built();
        let summary = repo.build(&engine, &options).await;
        assert!(engine.take_built().is_empty());
        assert_eq!(
            summary.count(&Status::Failed),
            1,
            "a failed test is not forgotten"
        );
        assert!(!summary.success());

        // `test` alone: every image exists now; nothing is built.
        let options = Options {
            test_only: true,
            keep_going: true,
            ..repo.options()
        };
        let summary = repo.build(&engine, &options).await;
        assert_eq!(summary.count(&Status::Passed), 11);
        assert!(engine.take_built().is_empty());
        // When every test passes, `test` succeeds.
        engine.failing_runs.lock().unwrap().clear();
        let summary = repo.build(&engine, &options).await;
        assert_eq!(summary.count(&Status::Passed), 12);
        assert!(summary.success(), "passing tests are a success");
    }

    #[tokio::test]
    async fn a_test_past_the_timeout_fails_its_target() {
        let mut repo = Repo::new();
        for target in &mut repo.plan.targets {
            target.tests = vec!["sleep 600".into()];
        }
        let engine = Arc::new(Fake {
            run_delay: Duration::from_secs(30),
            ..Fake::with_images(&["debian:bookworm-slim"])
        });
        let options = Options {
            test: true,
            timeout: Duration::from_millis(50),
            ..repo.options()
        };
        let summary = repo.build(&engine, &options).await;
        let first = &summary.targets[0];
        assert_eq!(first.status, Status::Failed);
        assert!(
            first
                .reason
                .as_deref()
                .unwrap()
                .contains("timed out after 50ms"),
            "{first:?}"
        );
    }

    #[tokio::test]
    async fn dry_run_decides_without_building() {
        let repo = Repo::new();
        let engine = Arc::new(Fake::with_images(&["debian:bookworm-slim"]));
        let options = Options {
            dry_run: true,
            ..repo.options()
        };
        let summary = repo.build(&engine, &options).await;
        assert_eq!(summary.count(&Status::WouldBuild), 12);
        assert!(engine.take_built().is_empty());
        let runtime = summary
            .targets
            .iter()
            .find(|o| o.target.ends_with("runtime"))
            .unwrap();
        assert!(
            runtime
                .reason
                .as_deref()
                .unwrap()
                .contains("would be rebuilt")
        );
    }

    #[tokio::test]
    async fn an_interruption_cancels_running_builds_and_tags_nothing() {
        let repo = Repo::new();
        let engine = Arc::new(Fake {
            delay: Duration::from_secs(30),
            ..Fake::with_images(&["debian:bookworm-slim"])
        });
        let context = Arc::new(Context::scan(repo.dir.path()).unwrap());
        let targets: Vec<&Target> =
            with_dependencies(&repo.plan, &repo.plan.targets.iter().collect::<Vec<_>>());
        let options = Options {
            jobs: 2,
            ..repo.options()
        };
        let dyn_engine: Arc<dyn Engine> = Arc::clone(&engine) as Arc<dyn Engine>;
        let interrupt = tokio::time::sleep(Duration::from_millis(100));
        let summary = build(
            &repo.plan,
            &targets,
            dyn_engine,
            context,
            &options,
            Arc::new(Quiet),
            interrupt,
        )
        .await;
        assert!(summary.interrupted);
        assert_eq!(summary.count(&Status::Cancelled), 2);
        assert_eq!(summary.count(&Status::Skipped), 10);
        assert_eq!(
            engine.images.lock().unwrap().len(),
            1,
            "no image was tagged"
        );
    }
}
