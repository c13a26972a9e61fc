//! `export github-matrix`: the selected targets (with what they are built
//! FROM) cut into CI jobs by [`crate::fanout`], printed as JSON for a GitHub
//! Actions `strategy.matrix`.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::Error;
use super::args::{GithubMatrixArgs, ManifestArgs, MatrixArgs};
use super::session::Session;
use crate::fanout;
use crate::plan;
use clap::ValueEnum as _;

/// `export github-matrix`.
pub fn run(args: &GithubMatrixArgs, out: &mut dyn Write) -> Result<(), Error> {
    let session = Session::open(&args.manifest.manifest)?;
    let plan = session.plan(&args.matrix.options(PathBuf::from("generated")))?;
    let selected = plan::select(&plan, &args.selection.selection())?;
    let targets = plan::with_dependencies(&plan, &selected);
    let options = fanout::Options {
        group: args.group.into(),
        max_jobs: args.max_jobs,
        shard: args.shard,
        build: build_command(args, &targets),
    };
    let matrix = fanout::github_matrix(&targets, &options)?;
    serde_json::to_writer(&mut *out, &matrix)
        .map_err(io::Error::from)
        .and_then(|()| writeln!(out))
        .map_err(Error::Stdout)
}

/// The build of an entry: with `--push`, what the registry holds already
/// (a rerun, a job that another did) is neither built nor pushed again.
/// An image of several platforms needs an engine that builds them: bake,
/// unless `--engine` says otherwise.
fn build_command(args: &GithubMatrixArgs, targets: &[&plan::Target]) -> Vec<String> {
    let mut words = command("build", &args.manifest, &args.matrix);
    let several = targets.iter().any(|t| t.platforms.len() > 1);
    let engine = match args.engine {
        Some(engine) => engine.to_possible_value().map(|v| v.get_name().to_string()),
        None if several => Some("bake".to_string()),
        None => None,
    };
    if let Some(engine) = engine {
        words.extend(["--engine".to_string(), engine]);
    }
    if args.push {
        words.extend(["--skip-pushed".to_string(), "--push".to_string()]);
    }
    words
}

/// `bentoml-docker SUBCOMMAND` with the manifest and matrix flags given, so
/// that a job makes the same plan (the selection is the entry's targets).
fn command(subcommand: &str, manifest: &ManifestArgs, matrix: &MatrixArgs) -> Vec<String> {
    let mut words = vec!["bentoml-docker".to_string(), subcommand.to_string()];
    if manifest.manifest != Path::new("manifest.yml") {
        words.push("--manifest".into());
        words.push(manifest.manifest.display().to_string());
    }
    words.extend(matrix.words());
    words
}
