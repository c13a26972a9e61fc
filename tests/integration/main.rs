//! Runs the real `bentoml-docker` binary on fixture images repos.

mod bake;
mod check;
mod cli;
mod docker;
mod faults;
mod generate;
mod graph;
mod images;
mod index;
mod invalid;
mod matrix;
mod multiarch;
mod plan;
mod registry;
mod setup;
mod skip;
mod test;
mod validate;
mod workflow;
