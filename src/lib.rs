//! bentoml-docker renders, builds and publishes a release matrix of Docker
//! images from one `manifest.yml` and a directory of Jinja templates.
//!
//! The modules follow the data:
//!
//! - [`manifest`]: reads `manifest.yml` and checks it, every problem at once;
//! - [`plan`]: every target (tag, Dockerfile, FROM, build order) before any
//!   side effect, and the selection of some of them;
//! - [`render`]: the Jinja templates and what they see;
//! - [`output`]: atomic writes of a whole tree, and its lock;
//!   [`generate`] ties plan, render and output together;
//! - [`check`]: `generated/` compared with a fresh generation, and the
//!   rules every Dockerfile keeps;
//! - [`build`]: the images built in dependency order on an [`engine`]
//!   (the Docker daemon or buildah), skipping what is up to date, with
//!   labels from [`git`]; [`bake`] writes the plan as a bake file for
//!   BuildKit instead;
//! - [`fanout`]: the plan's graph cut into CI jobs (a GitHub Actions
//!   matrix) and drawn (Mermaid, dot);
//! - [`push`]: the built images pushed to each [`registry`], digests verified;
//! - [`status`]: what the registries hold against the plan;
//! - [`cli`]: the command line on top, the only part that prints; with
//!   [`diagnostic`] (problems pointing at their source) and [`interrupt`]
//!   (stop signals) beside the stages.

pub mod bake;
pub mod build;
pub mod check;
pub mod cli;
pub mod context;
pub mod diagnostic;
pub mod dockerfile;
pub mod engine;
pub mod fanout;
pub mod generate;
pub mod git;
pub mod interrupt;
pub mod manifest;
pub mod output;
pub mod plan;
pub mod push;
pub mod registry;
pub mod render;
pub mod run;
pub mod status;

pub use cli::{Error, Failure, run};
