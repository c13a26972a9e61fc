//! A build on an engine that builds the whole graph in one call (bake):
//! every target is decided first ([`decide_all`]), the stale ones go to
//! the engine as one bake file, its progress becomes the run's events and
//! each target's log, and a target's tests run as soon as it is built.
//!
//! The engine stops every build on the first failure (bake does): targets
//! finished before it keep their images, its dependents are skipped, and
//! the others are skipped as stopped (a rerun builds just those).

use std::collections::{HashMap, HashSet};
use std::io::Write as _;
use std::sync::Arc;
use std::time::Instant;

use tokio::task::JoinSet;

use super::decide::{Decision, decide_all};
use super::job::Job;
use super::log::{self, Log};
use super::{Mode, Stage, Which, of_decisions};
use crate::engine::{BuildOutput, Built, Graph, GraphOutput, GraphTarget};
use crate::run::{Event, Outcome, Status, Summary, Work};

/// One target of the bake file, as the run follows it.
struct Stale {
    /// Its index among the run's targets.
    index: usize,
    decided: Outcome,
    log: Option<Log>,
    started: Option<Instant>,
    failure: Option<String>,
    done: bool,
}

/// A whole-graph build run.
pub(super) struct GraphRun<'a> {
    stage: Stage<'a>,
    outcomes: Vec<Option<Outcome>>,
    /// The bake file's targets, by bake name.
    stale: HashMap<String, Stale>,
    tests: JoinSet<(usize, Outcome)>,
    /// What the engine made, by target index.
    made: HashMap<usize, Built>,
}

/// What ended the wait for the engine.
enum End {
    Built(Result<HashMap<String, Built>, crate::engine::Error>),
    TimedOut(String),
    Interrupted,
}

impl<'a> GraphRun<'a> {
    pub(super) fn new(stage: Stage<'a>) -> Self {
        let targets = stage.targets;
        Self {
            stage,
            outcomes: vec![None; targets.len()],
            stale: HashMap::new(),
            tests: JoinSet::new(),
            made: HashMap::new(),
        }
    }

    pub(super) async fn run(mut self, interrupt: impl std::future::Future<Output = ()>) -> Summary {
        let started = Instant::now();
        log::sweep(&self.stage.options.log_dir);
        self.stage.reporter.event(Event::Begin {
            work: Work::Build,
            total: self.stage.targets.len(),
        });
        tokio::pin!(interrupt);
        let decided = tokio::select! {
            decisions = decide_all(
                self.stage.plan,
                self.stage.targets,
                Arc::clone(&self.stage.engine),
                Arc::clone(&self.stage.context),
                self.stage.options,
                Arc::clone(&self.stage.reporter),
            ) => Some(decisions),
            () = &mut interrupt => None,
        };
        let interrupted = match decided {
            Some(decisions) => self.build(&decisions, &mut interrupt).await,
            None => true,
        };
        let cut_off = if interrupted {
            "interrupted"
        } else {
            "not started"
        };
        let _ = tokio::time::timeout(
            super::schedule::CLEAN_UP_LIMIT,
            self.stage.engine.clean_up(),
        )
        .await;
        let targets = (0..self.stage.targets.len())
            .map(|i| {
                let mut outcome = self.outcomes[i].take().unwrap_or_else(|| {
                    let status = if interrupted {
                        Status::Cancelled
                    } else {
                        Status::Skipped
                    };
                    let outcome =
                        Outcome::new(&self.stage.targets[i].name, status).because(cut_off);
                    self.stage
                        .reporter
                        .event(Event::Finished { outcome: &outcome });
                    outcome
                });
                if let Some(made) = self.made.get(&i) {
                    outcome.digest.clone_from(&made.digest);
                    if outcome.image.is_none() {
                        outcome.image.clone_from(&made.config);
                    }
                }
                outcome
            })
            .collect();
        Summary {
            work: Work::Build,
            engine: self.stage.engine.name().to_string(),
            targets,
            checks: Vec::new(),
            interrupted,
            seconds: started.elapsed().as_secs_f64(),
            push: None,
        }
    }

    /// Settles what needs no build, builds the rest; true when interrupted.
    async fn build(
        &mut self,
        decisions: &[Decision],
        interrupt: &mut std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
    ) -> bool {
        let build = self.stage.options.mode != Mode::DryRun;
        for (i, decision) in decisions.iter().enumerate() {
            if !(build && decision.stale()) {
                self.done(i, decision.outcome.clone());
            }
        }
        if !build || !decisions.iter().any(Decision::stale) {
            return self.finish_tests(interrupt).await;
        }
        let graph = match self.graph(decisions) {
            Ok(graph) => graph,
            Err(why) => {
                for (i, decision) in decisions.iter().enumerate() {
                    if decision.stale() {
                        let outcome = decision.outcome.clone();
                        self.done(i, failed(outcome, why.clone()));
                    }
                }
                return self.finish_tests(interrupt).await;
            }
        };
        let end = self.bake(&graph, interrupt).await;
        if matches!(end, End::Interrupted) {
            self.tests.abort_all();
            while self.tests.join_next().await.is_some() {}
            return true;
        }
        self.settle_bake(end);
        self.finish_tests(interrupt).await
    }

    /// The bake file of the stale targets, and a log for each. When
    /// pushing, each is tagged with its registry names only (bake pushes
    /// every tag) and pushed; one whose package no registry takes is kept.
    fn graph(&mut self, decisions: &[Decision]) -> Result<Graph, String> {
        let push_to = &self.stage.options.push_to;
        let repositories: Vec<Vec<(String, String)>> =
            push_to.iter().map(|r| r.repositories.clone()).collect();
        let mut file = of_decisions(
            self.stage.plan,
            self.stage.targets,
            decisions,
            &repositories,
            Which::Stale,
        )
        .map_err(|e| format!("cannot make the bake file: {e}"))?;
        let mut names = HashMap::new();
        let chosen = decisions.iter().enumerate().filter(|(_, d)| d.stale());
        for ((name, entry), (i, decision)) in file.target.iter_mut().zip(chosen) {
            let local = self.stage.targets[i].name.as_str();
            names.insert(local, name.clone());
            if !push_to.is_empty() {
                entry.tags.retain(|tag| tag != local);
                entry.output = vec![if entry.tags.is_empty() {
                    entry.tags.push(local.to_string());
                    "type=docker".to_string()
                } else {
                    "type=image,push=true".to_string()
                }];
            }
            let log = self.open_log(i, &decision.outcome);
            self.stale.insert(
                name.clone(),
                Stale {
                    index: i,
                    decided: decision.outcome.clone(),
                    log,
                    started: None,
                    failure: None,
                    done: false,
                },
            );
        }
        let targets = file
            .target
            .iter()
            .map(|(name, entry)| {
                let target = self.stage.targets[self.stale[name].index];
                GraphTarget {
                    name: name.clone(),
                    base: target
                        .depends_on
                        .as_deref()
                        .and_then(|base| names.get(base))
                        .cloned(),
                    local: target.name.clone(),
                    tags: entry.tags.clone(),
                }
            })
            .collect();
        let push = (!push_to.is_empty()).then(|| {
            push_to
                .iter()
                .filter_map(|r| Some((r.host.clone(), r.credentials.clone()?)))
                .collect()
        });
        Ok(Graph {
            file: file.to_json(),
            targets,
            push,
        })
    }

    fn open_log(&self, i: usize, decided: &Outcome) -> Option<Log> {
        let name = &self.stage.targets[i].name;
        let mut log = Log::create(&self.stage.options.log_dir.join(log::file_name(name))).ok()?;
        let _ = writeln!(
            log,
            "# {name} ({}), bentoml {}, inputs {}, built by bake",
            decided.reason.as_deref().unwrap_or_default(),
            self.stage.plan.matrix.bentoml_version,
            decided.inputs.as_deref().unwrap_or_default()
        );
        Some(log)
    }

    /// Runs the engine on `graph`, following its progress, until it ends,
    /// times out or is interrupted.
    async fn bake(
        &mut self,
        graph: &Graph,
        interrupt: &mut std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
    ) -> End {
        let engine = Arc::clone(&self.stage.engine);
        let Some(builder) = engine.graph() else {
            return End::Built(Err(crate::engine::Error::Other(format!(
                "the {} engine does not build graphs",
                engine.name()
            ))));
        };
        let (sender, mut said) = tokio::sync::mpsc::unbounded_channel();
        let send = move |output: GraphOutput| {
            let _ = sender.send(output);
        };
        // Each layer of the graph gets the time one build gets.
        let limit =
            self.stage.options.timeout * u32::try_from(depth(&graph.targets)).unwrap_or(u32::MAX);
        let work = tokio::time::timeout(limit, builder.build_graph(graph, &send));
        tokio::pin!(work);
        let mut ended = None;
        loop {
            tokio::select! {
                Some(output) = said.recv() => self.on(output).await,
                result = &mut work, if ended.is_none() => {
                    ended = Some(match result {
                        Ok(result) => End::Built(result),
                        Err(_) => End::TimedOut(format!("timed out after {limit:?}")),
                    });
                    // What it said before it ended is still to be read.
                    said.close();
                }
                Some(joined) = self.tests.join_next() => self.tested(joined),
                () = &mut *interrupt => return End::Interrupted,
                else => break,
            }
            if ended.is_some() && said.is_empty() {
                break;
            }
        }
        ended.unwrap_or(End::Interrupted)
    }

    /// What the engine said about one target.
    async fn on(&mut self, output: GraphOutput) {
        match output {
            GraphOutput::Started(name) => {
                if let Some(stale) = self.stale.get_mut(&name) {
                    stale.started.get_or_insert_with(Instant::now);
                    let target = &self.stage.targets[stale.index].name;
                    self.stage.reporter.event(Event::Building { target });
                }
            }
            GraphOutput::Output(name, BuildOutput::Step { current, total }) => {
                if let Some(stale) = self.stale.get(&name) {
                    self.stage.reporter.event(Event::Step {
                        target: &self.stage.targets[stale.index].name,
                        current,
                        total,
                    });
                }
            }
            GraphOutput::Output(name, BuildOutput::Line(line)) => {
                if let Some(log) = self.stale.get_mut(&name).and_then(|s| s.log.as_mut()) {
                    let _ = writeln!(log, "{line}");
                }
            }
            GraphOutput::Failed(name, why) => {
                if let Some(stale) = self.stale.get_mut(&name) {
                    if let Some(log) = stale.log.as_mut() {
                        let _ = writeln!(log, "error: {why}");
                    }
                    stale.failure.get_or_insert(why);
                }
            }
            GraphOutput::Finished(name) => self.built(&name).await,
        }
    }

    /// A target's image is made: settled as built, or tested first.
    async fn built(&mut self, name: &str) {
        let Some(stale) = self.stale.get_mut(name) else {
            return;
        };
        if stale.done {
            return;
        }
        stale.done = true;
        let i = stale.index;
        let mut outcome = stale.decided.clone();
        outcome.status = Status::Built;
        outcome.seconds = stale.started.map_or(0.0, |s| s.elapsed().as_secs_f64());
        outcome.log = Some(
            self.stage
                .options
                .log_dir
                .join(log::file_name(&outcome.target)),
        );
        // Closed, so the log is in place.
        stale.log = None;
        if let Ok(Some(image)) = self.stage.engine.inspect(&outcome.target).await {
            outcome.image = Some(image.id);
        }
        self.done(i, outcome);
    }

    /// Settles target `i` with `outcome`, after its tests when it is to be
    /// tested.
    fn done(&mut self, i: usize, outcome: Outcome) {
        let target = self.stage.targets[i];
        let testable = matches!(outcome.status, Status::Built | Status::UpToDate);
        if self.stage.options.mode == Mode::BuildAndTest && testable && !target.tests.is_empty() {
            let job = Job::new(
                self.stage.plan,
                target,
                None,
                &self.stage.engine,
                &self.stage.context,
                self.stage.options,
                &self.stage.reporter,
            );
            self.tests.spawn(async move {
                let mut outcome = outcome;
                job.run_tests(&mut outcome).await;
                (i, outcome)
            });
            return;
        }
        self.stage
            .reporter
            .event(Event::Finished { outcome: &outcome });
        self.outcomes[i] = Some(outcome);
    }

    fn tested(&mut self, joined: Result<(usize, Outcome), tokio::task::JoinError>) {
        if let Ok((i, outcome)) = joined {
            self.stage
                .reporter
                .event(Event::Finished { outcome: &outcome });
            self.outcomes[i] = Some(outcome);
        }
    }

    /// Waits for the tests still running; true when interrupted.
    async fn finish_tests(
        &mut self,
        interrupt: &mut std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
    ) -> bool {
        loop {
            tokio::select! {
                joined = self.tests.join_next() => match joined {
                    Some(joined) => self.tested(joined),
                    None => return false,
                },
                () = &mut *interrupt => {
                    self.tests.abort_all();
                    while self.tests.join_next().await.is_some() {}
                    return true;
                }
            }
        }
    }

    /// Settles every target of the bake file by how the engine ended.
    fn settle_bake(&mut self, end: End) {
        let (built, error) = match end {
            End::Built(Ok(built)) => (built, None),
            End::Built(Err(e)) => (HashMap::new(), Some(e.to_string())),
            End::TimedOut(why) => (HashMap::new(), Some(why)),
            End::Interrupted => return,
        };
        for (name, made) in built {
            if let Some(stale) = self.stale.get(&name) {
                self.made.insert(stale.index, made);
            }
        }
        let mut failures: Vec<String> = self
            .stale
            .values()
            .filter(|s| s.failure.is_some())
            .map(|s| self.stage.targets[s.index].name.clone())
            .collect();
        failures.sort();
        let failed_indexes: HashSet<usize> = self
            .stale
            .values()
            .filter(|s| s.failure.is_some())
            .map(|s| s.index)
            .collect();
        let names: Vec<String> = self.stale.keys().cloned().collect();
        for name in names {
            let stale = self.stale.get_mut(&name).expect("a bake target");
            if stale.done {
                continue;
            }
            stale.done = true;
            stale.log = None;
            let i = stale.index;
            let decided = stale.decided.clone();
            let failure = stale.failure.clone();
            let outcome = if let Some(why) = failure {
                self.with_tail(failed(decided, why))
            } else if let Some(base) = self.failed_base(i, &failed_indexes) {
                Outcome::new(&decided.target, Status::Skipped).because(format!("`{base}` failed"))
            } else if let Some(first) = failures.first() {
                Outcome::new(&decided.target, Status::Skipped).because(format!(
                    "stopped: bake stops every build when one fails (`{first}` failed)"
                ))
            } else {
                let why = error
                    .clone()
                    .unwrap_or_else(|| "bake did not build it".into());
                self.with_tail(failed(decided, why))
            };
            self.stage
                .reporter
                .event(Event::Finished { outcome: &outcome });
            self.outcomes[i] = Some(outcome);
        }
    }

    /// The nearest base of target `i` among `failed`.
    fn failed_base(&self, i: usize, failed: &HashSet<usize>) -> Option<&str> {
        let index: HashMap<&str, usize> = self
            .stage
            .targets
            .iter()
            .enumerate()
            .map(|(i, t)| (t.name.as_str(), i))
            .collect();
        let mut next = self.stage.targets[i].depends_on.as_deref();
        while let Some(base) = next {
            let b = *index.get(base)?;
            if failed.contains(&b) {
                return Some(&self.stage.targets[b].name);
            }
            next = self.stage.targets[b].depends_on.as_deref();
        }
        None
    }

    /// `outcome` with the last lines of its build log.
    fn with_tail(&self, mut outcome: Outcome) -> Outcome {
        let path = self
            .stage
            .options
            .log_dir
            .join(log::file_name(&outcome.target));
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        outcome.log_tail = log::last_lines(&text, log::TAIL_LINES);
        outcome.log = Some(path);
        outcome
    }
}

/// `decided` as failed because of `why`, keeping its inputs hash.
fn failed(decided: Outcome, why: String) -> Outcome {
    let mut outcome = Outcome::new(&decided.target, Status::Failed).because(why);
    outcome.inputs = decided.inputs;
    outcome
}

/// The number of layers of the graph: its longest chain of bases.
fn depth(targets: &[GraphTarget]) -> usize {
    let bases: HashMap<&str, Option<&str>> = targets
        .iter()
        .map(|t| (t.name.as_str(), t.base.as_deref()))
        .collect();
    targets
        .iter()
        .map(|t| {
            let mut length = 1;
            let mut next = t.base.as_deref();
            while let Some(base) = next.filter(|_| length <= targets.len()) {
                length += 1;
                next = bases.get(base).copied().flatten();
            }
            length
        })
        .max()
        .unwrap_or(1)
}
