//! One target's work, on a task of its own: resolve the image it is built
//! FROM, decide from its inputs hash whether it is stale, build it, and test
//! it (see [`super::image_tests`]).

use std::io::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::log::{self, Log};
use super::{BuildOptions, Context, Mode, inputs};
use crate::engine::{BuildOutput, BuildRequest, Engine};
use crate::plan::Target;
use crate::run::{Event, Outcome, Reporter, Status};

/// One target's work, owned so that it can run on its own task.
pub(super) struct Job {
    pub(super) plan_version: String,
    pub(super) target: Target,
    pub(super) labels: Vec<(String, String)>,
    /// The base, when it is a target of this run; `None` for an external
    /// image.
    pub(super) base: Option<PlanBase>,
    pub(super) engine: Arc<dyn Engine>,
    pub(super) context: Arc<Context>,
    pub(super) options: BuildOptions,
    pub(super) reporter: Arc<dyn Reporter>,
}

/// A base that is a target of the same run, as its outcome left it.
#[derive(Clone, Debug)]
pub(super) struct PlanBase {
    /// Its inputs hash, which its dependents' hashes chain through.
    pub(super) inputs: Option<String>,
    /// Its image ID, when it has one.
    pub(super) image: Option<String>,
    /// Built in this run (or, in a dry run, would be): its dependents are
    /// stale whatever their labels say.
    pub(super) rebuilt: bool,
}

/// What a dependent's hash counts its base as, and the base's image ID
/// when known (for the base label).
struct BaseRef {
    in_hash: String,
    image: Option<String>,
}

/// What the inputs hash says of a target.
enum Decision {
    /// Settled without a build: up to date, would build, or failed.
    Settled(Outcome),
    /// To build, and why.
    Stale {
        request: BuildRequest,
        why: &'static str,
        hash: String,
    },
}

impl Job {
    /// `work` (a build, a pull, a test) bounded by `--timeout`; past it,
    /// `timed out after ...`.
    pub(super) async fn bounded<T>(&self, work: impl Future<Output = T>) -> Result<T, String> {
        tokio::time::timeout(self.options.timeout, work)
            .await
            .map_err(|_| format!("timed out after {:?}", self.options.timeout))
    }

    pub(super) async fn run(self) -> Outcome {
        let started = Instant::now();
        let mut outcome = self.work().await;
        outcome.seconds = started.elapsed().as_secs_f64();
        outcome
    }

    async fn work(&self) -> Outcome {
        if self.options.mode == Mode::TestOnly {
            return self.test_existing().await;
        }
        let mut outcome = match self.decide().await {
            Decision::Settled(outcome) => outcome,
            Decision::Stale { request, why, hash } => self.build(&request, why, hash).await,
        };
        // An up-to-date image is tested again too: its tests may have
        // failed when it was built, and a rerun must not forget that.
        let built = matches!(outcome.status, Status::Built | Status::UpToDate);
        if self.options.mode == Mode::BuildAndTest && built && !self.target.tests.is_empty() {
            self.run_tests(&mut outcome).await;
        }
        outcome
    }

    fn failed(&self, reason: String) -> Outcome {
        Outcome::new(&self.target.name, Status::Failed).because(reason)
    }

    /// What the target is built FROM, as its hash counts it: a base of this
    /// run by its inputs hash, an external image by its ID.
    async fn base_ref(&self) -> Result<BaseRef, Outcome> {
        if let Some(base) = &self.base {
            return Ok(BaseRef {
                in_hash: match (&base.inputs, &base.image) {
                    (Some(inputs), _) => inputs::chained(inputs),
                    (None, Some(image)) => image.clone(),
                    (None, None) => format!("unresolved:{}", self.target.from),
                },
                image: base.image.clone(),
            });
        }
        let id = self.external_id().await?;
        let known = !id.starts_with("unresolved:");
        Ok(BaseRef {
            image: known.then(|| id.clone()),
            in_hash: id,
        })
    }

    /// The ID of the external image the target is built FROM: the
    /// engine's, pulled when it lacks it.
    async fn external_id(&self) -> Result<String, Outcome> {
        let from = &self.target.from;
        let inspect = |e| self.failed(format!("cannot inspect `{from}`: {e}"));
        match self.engine.inspect(from).await {
            Ok(Some(image)) => return Ok(image.id),
            // A dry run fetches nothing: the hash notes it is unknown.
            Ok(None) if self.options.mode == Mode::DryRun => {
                return Ok(format!("unresolved:{from}"));
            }
            Ok(None) => {}
            Err(e) => return Err(inspect(e)),
        }
        // Fetched first, so that the hash holds the ID the build will use:
        // else the next run would see a new parent.
        self.reporter.event(Event::Pulling {
            target: &self.target.name,
            image: from,
        });
        match self.bounded(self.engine.pull(from)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(self.failed(format!("cannot pull `{from}`: {e}"))),
            Err(late) => return Err(self.failed(format!("pulling `{from}` {late}"))),
        }
        match self.engine.inspect(from).await {
            Ok(Some(image)) => Ok(image.id),
            Ok(None) => Err(self.failed(format!("`{from}` is missing after a pull"))),
            Err(e) => Err(inspect(e)),
        }
    }

    /// The plan's build arguments, those of the command line over them.
    fn build_args(&self) -> Vec<(String, String)> {
        let mut build_args: Vec<(String, String)> = self
            .target
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
        build_args
    }

    /// Whether the target is stale, by its inputs hash and the image the
    /// engine holds.
    async fn decide(&self) -> Decision {
        let name = self.target.name.as_str();
        let base = match self.base_ref().await {
            Ok(base) => base,
            Err(outcome) => return Decision::Settled(outcome),
        };
        let dockerfile_path = self.context.root().join(&self.target.dockerfile);
        let dockerfile = match std::fs::read_to_string(&dockerfile_path) {
            Ok(text) => text,
            // A real run generates it first: a dry run has nothing to judge.
            Err(e)
                if self.options.mode == Mode::DryRun
                    && e.kind() == std::io::ErrorKind::NotFound =>
            {
                return Decision::Settled(
                    Outcome::new(name, Status::WouldBuild)
                        .because("its Dockerfile is not generated yet"),
                );
            }
            Err(e) => {
                let why = format!("cannot read `{}`: {e}", dockerfile_path.display());
                return Decision::Settled(self.failed(why));
            }
        };
        let build_args = self.build_args();
        let hash = match inputs::hash(&dockerfile, &self.context, &build_args, &base.in_hash) {
            Ok(hash) => hash,
            Err(e) => return Decision::Settled(self.failed(e)),
        };
        let existing = match self.engine.inspect(name).await {
            Ok(image) => image,
            Err(e) => {
                return Decision::Settled(self.failed(format!("cannot inspect `{name}`: {e}")));
            }
        };
        let why = match &existing {
            _ if self.options.overwrite => "`--overwrite`",
            None => "no image",
            Some(_) if self.base.as_ref().is_some_and(|b| b.rebuilt) => "its base is rebuilt",
            Some(image) if image.labels.get(inputs::LABEL) != Some(&hash) => "inputs changed",
            Some(image) if base_moved(image, &base) => "its base image changed",
            Some(image) => {
                let mut outcome = Outcome::new(name, Status::UpToDate);
                outcome.image = Some(image.id.clone());
                outcome.inputs = Some(hash);
                return Decision::Settled(outcome);
            }
        };
        if self.options.mode == Mode::DryRun {
            let mut outcome = Outcome::new(name, Status::WouldBuild).because(why);
            outcome.inputs = Some(hash);
            return Decision::Settled(outcome);
        }
        let mut labels = self.labels.clone();
        labels.push((inputs::LABEL.to_string(), hash.clone()));
        if let Some(image) = base.image {
            labels.push((inputs::BASE_LABEL.to_string(), image));
        }
        let request = BuildRequest {
            tag: name.to_string(),
            dockerfile: crate::render::metadata::slash_path(&self.target.dockerfile),
            dockerfile_text: dockerfile,
            timestamp: self.options.source_date_epoch,
            context: Arc::clone(&self.context),
            build_args,
            labels,
            network: self.options.network.clone(),
        };
        Decision::Stale { request, why, hash }
    }

    /// Builds `request`, its output in the target's log.
    async fn build(&self, request: &BuildRequest, why: &str, hash: String) -> Outcome {
        let name = self.target.name.as_str();
        self.reporter.event(Event::Building { target: name });
        let log_path = self.options.log_dir.join(log::file_name(name));
        let log = match Log::create(&log_path) {
            Ok(file) => Mutex::new(file),
            Err(e) => {
                return self.failed(format!(
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
        let output = |output: BuildOutput| match output {
            BuildOutput::Step { current, total } => reporter.event(Event::Step {
                target: name,
                current,
                total,
            }),
            BuildOutput::Line(line) => {
                let _ = writeln!(lock(&log), "{line}");
            }
        };
        let result = self
            .bounded(self.engine.build(request, &output))
            .await
            .unwrap_or_else(|late| Err(crate::engine::Error::Other(late)));
        let mut outcome = match result {
            Ok(id) => {
                let mut outcome = Outcome::new(name, Status::Built).because(why);
                outcome.image = Some(id);
                outcome
            }
            Err(e) => {
                let _ = writeln!(lock(&log), "error: {e}");
                self.failed(e.to_string())
            }
        };
        drop(log);
        if outcome.status == Status::Failed {
            let text = std::fs::read_to_string(&log_path).unwrap_or_default();
            outcome.log_tail = log::last_lines(&text, log::TAIL_LINES);
        }
        outcome.inputs = Some(hash);
        outcome.log = Some(log_path);
        outcome
    }
}

/// Whether `image` was built FROM another image than its base is now (the
/// base rebuilt alone since, with the same inputs). An image without the
/// label (built where the base's ID was not known) is not judged so.
fn base_moved(image: &crate::engine::Image, base: &BaseRef) -> bool {
    match (image.labels.get(inputs::BASE_LABEL), &base.image) {
        (Some(recorded), Some(now)) => recorded != now,
        _ => false,
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
