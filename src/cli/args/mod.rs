//! The command line's definition: subcommands in today's conventions, and
//! the original tool's flags (`-bv 0.13.0 -dm`) in their long forms, which
//! [`super::original::translate`] turns its single-dash spellings into.
//!
//! These are what the user typed; each command turns them into the stages'
//! own settings (`plan::Options`, `plan::Selection`, ...). What several
//! commands take alike is `common`; `export` and `graph` are `export`; the
//! original's flags are `legacy`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

mod common;
mod export;
mod legacy;

pub use common::{ATTEMPTS, ManifestArgs, MatrixArgs, OutputArgs, REGISTRY_TIMEOUT, SelectionArgs};
use common::{at_least_one, build_arg};
pub use export::{Export, ExportBakeArgs, GithubMatrixArgs, GraphArgs};
pub use legacy::{GenerateWhat, Legacy};

/// bentoml-docker: renders, builds and publishes a release matrix of Docker images.
#[derive(Debug, Parser)]
#[command(
    name = "bentoml-docker",
    version,
    args_conflicts_with_subcommands = true,
    args_override_self = true,
    after_help = "Run in an images repo (the directory with `manifest.yml` and `templates/`).\n\
                  The original tool's flags work without a subcommand, e.g.\n  \
                  bentoml-docker -bv 0.13.0 -dm     generate Dockerfiles and metadata.json\n\n\
                  Exit codes: 0 ok, 1 failure (a build, test, push or check failed), 2 invalid\n\
                  manifest, templates or usage, 130 interrupted."
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The original tool's flags.
    #[command(flatten)]
    pub legacy: Legacy,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Render every Dockerfile of the matrix into `generated/`, replacing it as a whole.
    Generate(GenerateArgs),
    /// Check the manifest and its templates; report every problem.
    Validate(ManifestArgs),
    /// Show every target: tag, Dockerfile, what it is built FROM, in build order.
    Plan(PlanArgs),
    /// Check generated/: up to date, every Dockerfile parses, FROMs and COPY sources exist.
    Check(CheckArgs),
    /// Generate, then build the images in dependency order, skipping what is up to date.
    Build(Box<BuildArgs>),
    /// Run the manifest's `tests` in the images that are built.
    Test(Box<TestArgs>),
    /// Push the built images to every enabled registry and verify each digest there.
    Push(Box<PushArgs>),
    /// Compare the plan with what each registry holds: missing, stale and extra tags.
    Status(Box<StatusArgs>),
    /// Write the plan in another tool's form (`bake`: a `docker buildx bake` file; `github-matrix`: CI jobs).
    #[command(subcommand)]
    Export(Export),
    /// Draw the plan's graph (Mermaid or dot): targets grouped by package and distro,
    /// edges from base to dependent, one colour per chain of `export github-matrix`.
    Graph(Box<GraphArgs>),
    /// Print shell completions for bash, zsh, fish, elvish or PowerShell.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff).
    Man,
}

/// `push`.
#[derive(Debug, Args)]
pub struct PushArgs {
    #[command(flatten)]
    pub manifest: ManifestArgs,
    #[command(flatten)]
    pub matrix: MatrixArgs,
    #[command(flatten)]
    pub selection: SelectionArgs,
    /// Pushes to run at once (default: the number of CPUs).
    #[arg(short = 'j', long, value_name = "N", value_parser = at_least_one::<usize>)]
    pub jobs: Option<usize>,
    /// Attempts per push when the registry fails in a way that may pass (5xx, 429, connection).
    #[arg(long, value_name = "N", default_value_t = ATTEMPTS, value_parser = at_least_one::<u32>)]
    pub attempts: u32,
    /// Seconds to wait for each answer of a registry (for a push, for any
    /// progress) before the attempt fails.
    #[arg(long, value_name = "SECONDS", default_value_t = REGISTRY_TIMEOUT, value_parser = at_least_one::<u64>)]
    pub timeout: u64,
    /// Write the summary as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Show what would be pushed where; push nothing.
    #[arg(long = "dry-run", alias = "dry_run")]
    pub dry_run: bool,
}

/// `status`: what the registries hold, so none of the push options.
#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub manifest: ManifestArgs,
    #[command(flatten)]
    pub matrix: MatrixArgs,
    #[command(flatten)]
    pub selection: SelectionArgs,
    /// Seconds to wait for each answer of a registry before the request fails.
    #[arg(long, value_name = "SECONDS", default_value_t = REGISTRY_TIMEOUT, value_parser = at_least_one::<u64>)]
    pub timeout: u64,
    /// Write the table as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
}

/// `test`.
#[derive(Debug, Args)]
pub struct TestArgs {
    #[command(flatten)]
    pub manifest: ManifestArgs,
    #[command(flatten)]
    pub matrix: MatrixArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub selection: SelectionArgs,
    /// Images to test at once (default: the number of CPUs).
    #[arg(short = 'j', long, value_name = "N", value_parser = at_least_one::<usize>)]
    pub jobs: Option<usize>,
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Write the summary as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Where test logs go (default: `.bentoml-docker/logs` in the images repo).
    #[arg(long = "log-dir", value_name = "DIR")]
    pub log_dir: Option<PathBuf>,
}

/// `generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub manifest: ManifestArgs,
    #[command(flatten)]
    pub matrix: MatrixArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    /// Also write `metadata.json` beside the output directory.
    #[arg(long = "dump-metadata", alias = "dump_metadata")]
    pub dump_metadata: bool,
    /// Show what would be written; write nothing.
    #[arg(long = "dry-run", alias = "dry_run")]
    pub dry_run: bool,
}

/// `check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub manifest: ManifestArgs,
    #[command(flatten)]
    pub matrix: MatrixArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub manifest: ManifestArgs,
    #[command(flatten)]
    pub matrix: MatrixArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    /// Print the plan as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `build`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    #[command(flatten)]
    pub manifest: ManifestArgs,
    #[command(flatten)]
    pub matrix: MatrixArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub selection: SelectionArgs,
    #[command(flatten)]
    pub build: BuildFlags,
}

/// How to build.
#[derive(Debug, Args)]
pub struct BuildFlags {
    /// Builds to run at once (default: the number of CPUs).
    #[arg(short = 'j', long, value_name = "N", value_parser = at_least_one::<usize>)]
    pub jobs: Option<usize>,
    #[command(flatten)]
    pub policy: BuildPolicy,
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Network mode of RUN steps, e.g. `host`.
    #[arg(long, value_name = "MODE")]
    pub network: Option<String>,
    /// An extra build argument `NAME=VALUE`; repeatable.
    #[arg(long = "build-arg", value_name = "NAME=VALUE", value_parser = build_arg)]
    pub build_args: Vec<String>,
    /// Seconds allowed to each build.
    #[arg(
        short = 't',
        long,
        value_name = "SECONDS",
        default_value_t = 3600,
        value_parser = at_least_one::<u64>
    )]
    pub timeout: u64,
    /// Write the summary as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Show what would be built and why; build nothing.
    #[arg(long = "dry-run", alias = "dry_run")]
    pub dry_run: bool,
    /// Run the manifest's `tests` in each image after it is built.
    #[arg(long)]
    pub test: bool,
    /// Then push the selected images to every enabled registry and verify
    /// each digest there, as `push` does (bake pushes from the builder).
    #[arg(long)]
    pub push: bool,
    /// Where build logs go (default: `.bentoml-docker/logs` in the images repo).
    #[arg(long = "log-dir", value_name = "DIR")]
    pub log_dir: Option<PathBuf>,
}

/// What a build does beyond building what is out of date.
#[derive(Debug, Args)]
pub struct BuildPolicy {
    /// After a failure, build everything that does not depend on it.
    #[arg(short = 'k', long = "keep-going")]
    pub keep_going: bool,
    /// Rebuild images even when they are up to date.
    #[arg(long, alias = "overwrite_images")]
    pub overwrite: bool,
    /// Build nothing the first enabled registry holds with the same inputs
    /// (its image's inputs label), and pull it only when a dependent is built.
    #[arg(long = "skip-pushed", conflicts_with = "overwrite")]
    pub skip_pushed: bool,
}

/// Which engine builds (or holds) the images.
#[derive(Clone, Debug, Args)]
pub struct EngineArgs {
    /// The builder: the Docker daemon, buildah where there is no daemon, or
    /// BuildKit's bake (the whole graph in one call, on any buildx builder).
    #[arg(long, value_enum, default_value_t = EngineArg::Docker)]
    pub engine: EngineArg,
    /// Storage driver of buildah, e.g. `vfs` (default: `STORAGE_DRIVER`, else buildah's).
    #[arg(long = "storage-driver", value_name = "DRIVER")]
    pub storage_driver: Option<String>,
    /// The buildx builder bake runs on (`docker buildx ls`; default: the
    /// current one). With `--engine bake`.
    #[arg(long, value_name = "NAME")]
    pub builder: Option<String>,
}

/// `--engine`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum EngineArg {
    /// The Docker daemon (Engine API).
    Docker,
    /// buildah, without a daemon.
    Buildah,
    /// BuildKit: `docker buildx bake`, the stale targets as one graph.
    Bake,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
