//! The scheduler: starts each target's job when the image it is built FROM
//! is ready, keeps `jobs` running at once, settles the dependents of a
//! failure without running them, and stops starting work on a failure
//! (unless `keep_going`) or an interruption.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use super::Stage;
use super::decide::{PlanBase, base_of};
use super::job::Job;
use crate::run::{Event, Outcome, Status, Summary, Work};

/// How long the end of a run waits for cut-off tests and builds to be gone.
pub(super) const CLEAN_UP_LIMIT: Duration = Duration::from_secs(60);

/// Why targets still waiting were not started.
const FAILED_BEFORE: &str = "not started: an earlier build failed (`--keep-going` goes on)";
const INTERRUPTED: &str = "not started: interrupted";

/// One build run over `targets` (in build order).
pub(super) struct Schedule<'a> {
    stage: Stage<'a>,
    /// Each target's index, by name.
    index: HashMap<&'a str, usize>,
    /// Each target's outcome, once settled.
    outcomes: Vec<Option<Outcome>>,
    /// Targets not started yet.
    waiting: VecDeque<usize>,
    running: JoinSet<(usize, Outcome)>,
    /// The target of each running task, to name a task that panicked.
    running_targets: HashMap<tokio::task::Id, usize>,
    /// Set when no more work may start, saying why.
    stopped: Option<&'static str>,
}

/// A job's end, as the task set gives it.
type Joined = Result<(tokio::task::Id, (usize, Outcome)), tokio::task::JoinError>;

/// Where a waiting target stands, by the outcome of its base.
enum Base {
    /// Not built yet.
    Pending,
    /// Ready: a target of this run that was built, judged up to date,
    /// tested, or (in a dry run) would be rebuilt; `None` for an external
    /// image.
    Ready(Option<PlanBase>),
    /// Settled without being ready: the target is settled with it, as
    /// "would build" after a base that would be rebuilt, else as skipped.
    Settled(Box<Outcome>),
}

impl<'a> Schedule<'a> {
    pub(super) fn new(stage: Stage<'a>) -> Self {
        let targets = stage.targets;
        Self {
            stage,
            index: targets
                .iter()
                .enumerate()
                .map(|(i, t)| (t.name.as_str(), i))
                .collect(),
            outcomes: vec![None; targets.len()],
            waiting: (0..targets.len()).collect(),
            running: JoinSet::new(),
            running_targets: HashMap::new(),
            stopped: None,
        }
    }

    /// Runs every target to its end, or until `interrupt` resolves.
    pub(super) async fn run(mut self, interrupt: impl std::future::Future<Output = ()>) -> Summary {
        let started = Instant::now();
        // Partial logs of killed runs, whichever targets they were for.
        super::log::sweep(&self.stage.options.log_dir);
        self.stage.reporter.event(Event::Begin {
            work: self.work(),
            total: self.stage.targets.len(),
        });
        tokio::pin!(interrupt);
        let mut interrupted = false;
        loop {
            if self.stopped.is_none() {
                self.start_ready();
            }
            if self.running.is_empty() {
                break;
            }
            tokio::select! {
                joined = self.running.join_next_with_id() => self.joined(joined, Status::Failed),
                () = &mut interrupt => {
                    interrupted = true;
                    self.cancel().await;
                    break;
                }
            }
        }
        // Bounded: a container the engine will not remove must not hold the
        // run (the engine's own stop grace is 10 s).
        let _ = tokio::time::timeout(CLEAN_UP_LIMIT, self.stage.engine.clean_up()).await;
        Summary {
            work: self.work(),
            engine: self.stage.engine.name().to_string(),
            targets: self.settle_the_rest(),
            checks: Vec::new(),
            interrupted,
            seconds: started.elapsed().as_secs_f64(),
            push: None,
        }
    }

    fn work(&self) -> Work {
        if self.stage.options.mode == super::Mode::TestOnly {
            Work::Test
        } else {
            Work::Build
        }
    }

    /// Starts every waiting target whose base is ready, as far as `jobs`
    /// allows; settles those whose base failed or would be rebuilt.
    fn start_ready(&mut self) {
        let mut still = VecDeque::with_capacity(self.waiting.len());
        while let Some(i) = self.waiting.pop_front() {
            match self.base(i) {
                Base::Pending => still.push_back(i),
                Base::Settled(outcome) => self.settle(i, *outcome),
                Base::Ready(_) if self.running.len() >= self.stage.options.jobs.max(1) => {
                    still.push_back(i);
                }
                Base::Ready(base) => self.start(i, base),
            }
        }
        self.waiting = still;
    }

    fn base(&self, i: usize) -> Base {
        let target = self.stage.targets[i];
        let Some(base) = target
            .depends_on
            .as_deref()
            .and_then(|p| self.index.get(p).copied())
        else {
            return Base::Ready(None);
        };
        match &self.outcomes[base] {
            None => Base::Pending,
            Some(o) => match base_of(&target.name, o) {
                Ok(base) => Base::Ready(Some(base)),
                Err(outcome) => Base::Settled(outcome),
            },
        }
    }

    fn start(&mut self, i: usize, base: Option<PlanBase>) {
        let target = self.stage.targets[i];
        let job = Job::new(
            self.stage.plan,
            target,
            base,
            &self.stage.engine,
            &self.stage.context,
            self.stage.options,
            &self.stage.reporter,
        );
        let handle = self.running.spawn(async move { (i, job.run().await) });
        self.running_targets.insert(handle.id(), i);
    }

    /// A job ended; a task that panicked or was aborted settles as `lost`.
    fn joined(&mut self, joined: Option<Joined>, lost: Status) {
        let (i, outcome) = match joined {
            Some(Ok((_, (i, outcome)))) => (i, outcome),
            Some(Err(error)) => {
                let Some(&i) = self.running_targets.get(&error.id()) else {
                    return;
                };
                let why = if lost == Status::Cancelled {
                    "interrupted".to_string()
                } else {
                    format!("the build task failed: {error}")
                };
                (
                    i,
                    Outcome::new(&self.stage.targets[i].name, lost).because(why),
                )
            }
            None => return,
        };
        if outcome.status == Status::Failed && !self.stage.options.keep_going {
            self.stopped.get_or_insert(FAILED_BEFORE);
        }
        self.settle(i, outcome);
    }

    /// Stops every running job (a build's tag is never set) and waits for it.
    async fn cancel(&mut self) {
        self.stopped = Some(INTERRUPTED);
        self.running.abort_all();
        while let Some(joined) = self.running.join_next_with_id().await {
            self.joined(Some(joined), Status::Cancelled);
        }
    }

    fn settle(&mut self, i: usize, outcome: Outcome) {
        self.stage
            .reporter
            .event(Event::Finished { outcome: &outcome });
        self.outcomes[i] = Some(outcome);
    }

    /// Every outcome, the targets never started settled as skipped.
    fn settle_the_rest(&mut self) -> Vec<Outcome> {
        let reason = self.stopped.unwrap_or("not started");
        for i in 0..self.stage.targets.len() {
            if self.outcomes[i].is_none() {
                let outcome =
                    Outcome::new(&self.stage.targets[i].name, Status::Skipped).because(reason);
                self.settle(i, outcome);
            }
        }
        self.outcomes.drain(..).flatten().collect()
    }
}
