//! One target's work, on a task of its own: decide whether it is stale
//! (`decide`), build it, and test it (`image_tests`).

use std::io::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::log::{self, Log};
use super::{BuildOptions, Context, Mode};
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
    pub(super) base: Option<super::decide::PlanBase>,
    pub(super) engine: Arc<dyn Engine>,
    pub(super) context: Arc<Context>,
    pub(super) options: BuildOptions,
    pub(super) reporter: Arc<dyn Reporter>,
}

impl Job {
    /// The job of `target`, built FROM `base` when that is a target of
    /// the run.
    pub(super) fn new(
        plan: &crate::plan::Plan,
        target: &Target,
        base: Option<super::decide::PlanBase>,
        engine: &Arc<dyn Engine>,
        context: &Arc<Context>,
        options: &BuildOptions,
        reporter: &Arc<dyn Reporter>,
    ) -> Self {
        Self {
            plan_version: plan.matrix.bentoml_version.clone(),
            target: target.clone(),
            labels: super::labels::of(plan, target, options),
            base,
            engine: Arc::clone(engine),
            context: Arc::clone(context),
            options: options.clone(),
            reporter: Arc::clone(reporter),
        }
    }

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
        let decision = self.decide().await;
        let build = decision.stale() && self.options.mode != Mode::DryRun;
        let mut outcome = match decision.request {
            Some(request) if build => self.build(&request, decision.outcome).await,
            _ => decision.outcome,
        };
        // An up-to-date image is tested again too: its tests may have
        // failed when it was built, and a rerun must not forget that.
        let built = matches!(outcome.status, Status::Built | Status::UpToDate);
        if self.options.mode == Mode::BuildAndTest && built && !self.target.tests.is_empty() {
            self.run_tests(&mut outcome).await;
        }
        outcome
    }

    pub(super) fn failed(&self, reason: String) -> Outcome {
        Outcome::new(&self.target.name, Status::Failed).because(reason)
    }

    /// Builds `request` (decided stale as `decided` says), its output in
    /// the target's log.
    async fn build(&self, request: &BuildRequest, decided: Outcome) -> Outcome {
        let name = self.target.name.as_str();
        let why = decided.reason.unwrap_or_default();
        let hash = decided.inputs.unwrap_or_default();
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

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
