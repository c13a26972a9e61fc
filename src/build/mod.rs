//! Turns the plan into images: every target as soon as the image it is
//! built FROM is ready, up to `jobs` at once, skipping what is up to date
//! (its inputs hash label matches) and what depends on a failure.
//!
//! # The work of one target, and where engines differ
//!
//! A target goes through three steps, each its own module:
//!
//! 1. **decide** (`decide`): resolve what it is built FROM (pulling an
//!    external base the engine lacks), hash its inputs ([`inputs`]), and
//!    compare with the image the engine holds: up to date, or stale with a
//!    [`crate::engine::BuildRequest`] and why;
//! 2. **build**: hand the request to the engine;
//! 3. **test** (`image_tests`): run the target's tests in its image.
//!
//! The scheduler (`schedule`) drives those steps for engines that build one
//! target per call (the Docker daemon, buildah: [`Engine::build`]): it
//! starts a target when its base is decided or built, keeps `jobs` at once,
//! skips the dependents of a failure, stops starting work on a failure
//! (unless `keep_going`) or an interruption, and reports every step as a
//! [`crate::run::Event`]. The command line picks an engine, calls [`build`]
//! and draws the events; it never branches on how the engine builds.
//!
//! An engine that builds a whole graph per call (BuildKit's bake, with its
//! own parallelism and progress stream) fits at step 2: the inputs hash
//! chains through each base's inputs hash, so [`decide_all`] decides every
//! target before anything is built; the stale ones go to the engine in one
//! call as a bake file (`bakefile`: each dependent's `FROM` mapped to its
//! base's target), its progress stream is mapped onto the same events
//! (`Building`, `Step`, `Finished` per target), and step 3 runs as each
//! target finishes (`graph`). [`build`] takes that path whenever the engine
//! offers [`crate::engine::GraphBuilder`]. Selection, incremental skip,
//! progress, summary, report and Ctrl-C stay this module's, whatever the
//! engine.

mod bakefile;
mod decide;
mod graph;
mod image_tests;
pub mod inputs;
mod job;
mod labels;
pub mod log;
mod schedule;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::context::Context;
use crate::engine::Engine;
use crate::plan::{Plan, Target};
use crate::run::{Reporter, Summary};

pub use bakefile::{Which, of_decisions};
pub use decide::{Decision, decide_all};
pub use labels::source_date_epoch;

/// What a build run does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Build what is out of date.
    Build,
    /// Build what is out of date, then run the tests of every target built
    /// or up to date (`build --test`).
    BuildAndTest,
    /// Say what would be built and why; build (and test) nothing.
    DryRun,
    /// Run the tests of the images that exist; build nothing (`test`).
    TestOnly,
}

/// How to build.
#[derive(Clone, Debug)]
pub struct BuildOptions {
    /// Builds at once.
    pub jobs: usize,
    /// After a failure, go on with everything that does not depend on it.
    pub keep_going: bool,
    /// Rebuild even what is up to date.
    pub overwrite: bool,
    /// Build, build and test, decide only, or test only.
    pub mode: Mode,
    /// Network mode of `RUN` steps.
    pub network: Option<String>,
    /// Time allowed to each build, pull and test command.
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
    /// The registries an engine that builds the whole graph pushes to as
    /// it builds (`build --push` with bake); none: it keeps the images.
    pub push_to: Vec<Arc<crate::registry::Enabled>>,
    /// The registry asked before building (`--skip-pushed`): a target whose
    /// image there carries its inputs hash is up to date (registry).
    pub skip_pushed: Option<crate::registry::Published>,
}

/// What a build run works with, whichever way it builds.
pub(super) struct Stage<'a> {
    pub(super) plan: &'a Plan,
    /// In build order, dependencies included.
    pub(super) targets: &'a [&'a Target],
    pub(super) engine: Arc<dyn Engine>,
    pub(super) context: Arc<Context>,
    pub(super) options: &'a BuildOptions,
    pub(super) reporter: Arc<dyn Reporter>,
}

/// Builds `targets` (in build order, dependencies included; see
/// [`crate::plan::with_dependencies`]).
///
/// `interrupt` resolves when the user asks to stop (Ctrl-C): no build starts
/// after it, running ones are cancelled (their tag is never set).
pub async fn build(
    plan: &Plan,
    targets: &[&Target],
    engine: Arc<dyn Engine>,
    context: Arc<Context>,
    options: &BuildOptions,
    reporter: Arc<dyn Reporter>,
    interrupt: impl std::future::Future<Output = ()>,
) -> Summary {
    let whole_graph = engine.graph().is_some() && options.mode != Mode::TestOnly;
    let stage = Stage {
        plan,
        targets,
        engine,
        context,
        options,
        reporter,
    };
    if whole_graph {
        return graph::GraphRun::new(stage).run(interrupt).await;
    }
    schedule::Schedule::new(stage).run(interrupt).await
}

#[cfg(test)]
mod tests;
