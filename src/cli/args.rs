//! The command line's definition: subcommands in today's conventions, and
//! the original tool's flags (`-bv 0.13.0 -dm`) in their long forms, which
//! [`super::original::translate`] turns its single-dash spellings into.
//!
//! These are what the user typed; each command turns them into the stages'
//! own settings (`plan::Options`, `plan::Selection`, ...).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::fanout;
use crate::manifest::ReleaseType;
use crate::plan;

/// Seconds a registry request may take before it fails: `push --timeout`
/// and `status --timeout` by default, and the original's `-pth` (which has
/// no flag for it).
pub const REGISTRY_TIMEOUT: u64 = 60;

/// Attempts per push: `push --attempts` by default, and the original's `-pth`.
pub const ATTEMPTS: u32 = 4;

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

/// What `export` writes.
#[derive(Debug, Subcommand)]
pub enum Export {
    /// Generate, then write every selected target (and what it is built FROM) as a
    /// `docker buildx bake` file, labelled as `build` labels its images.
    Bake(Box<ExportBakeArgs>),
    /// Print the selected targets as JSON for a GitHub Actions `strategy.matrix`:
    /// jobs that keep build order, each with the command that builds its targets.
    GithubMatrix(Box<GithubMatrixArgs>),
}

/// `export github-matrix`.
#[derive(Debug, Args)]
pub struct GithubMatrixArgs {
    #[command(flatten)]
    pub manifest: ManifestArgs,
    #[command(flatten)]
    pub matrix: MatrixArgs,
    #[command(flatten)]
    pub selection: SelectionArgs,
    /// `chain`: one job per base image with everything built FROM it; `layer`: one
    /// matrix per depth of the graph (`{"layers": [...]}`), for jobs chained with `needs`.
    #[arg(long, value_enum, default_value_t = GroupArg::Chain)]
    pub group: GroupArg,
    /// More jobs than this in a matrix (in any layer, with `--group layer`) is an error.
    #[arg(long = "max-jobs", value_name = "N", default_value_t = fanout::GITHUB_MAX_JOBS, value_parser = at_least_one::<usize>)]
    pub max_jobs: usize,
    /// Keep the i-th of N even slices of the jobs (of each layer), 1-based: `--shard 2/3`.
    #[arg(long, value_name = "i/N", value_parser = clap::value_parser!(fanout::Shard))]
    pub shard: Option<fanout::Shard>,
    /// Each job also pushes what it built (`bentoml-docker push` after `build`).
    #[arg(long)]
    pub push: bool,
}

/// `graph`.
#[derive(Debug, Args)]
pub struct GraphArgs {
    #[command(flatten)]
    pub manifest: ManifestArgs,
    #[command(flatten)]
    pub matrix: MatrixArgs,
    #[command(flatten)]
    pub selection: SelectionArgs,
    /// `mermaid` (drawn in Markdown by GitHub and GitLab) or `dot` (Graphviz).
    #[arg(long, value_enum, default_value_t = GraphFormat::Mermaid)]
    pub format: GraphFormat,
}

/// `graph --format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    /// A Mermaid flowchart.
    Mermaid,
    /// A Graphviz digraph.
    Dot,
}

impl From<GraphFormat> for fanout::graph::Format {
    fn from(arg: GraphFormat) -> Self {
        match arg {
            GraphFormat::Mermaid => Self::Mermaid,
            GraphFormat::Dot => Self::Dot,
        }
    }
}

/// `--group`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum GroupArg {
    /// One job per base image, with every target built FROM it.
    Chain,
    /// One matrix per depth of the graph, one job per target.
    Layer,
}

impl From<GroupArg> for fanout::Group {
    fn from(arg: GroupArg) -> Self {
        match arg {
            GroupArg::Chain => Self::Chain,
            GroupArg::Layer => Self::Layer,
        }
    }
}

/// `export bake`.
#[derive(Debug, Args)]
pub struct ExportBakeArgs {
    #[command(flatten)]
    pub manifest: ManifestArgs,
    #[command(flatten)]
    pub matrix: MatrixArgs,
    #[command(flatten)]
    pub selection: SelectionArgs,
    /// Where the bake file goes (default: `docker-bake.json` beside the Dockerfiles'
    /// directory); `-` for standard output.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// The generated Dockerfiles' directory (default: `generated` in the images repo).
    #[arg(long = "dockerfile-dir", value_name = "DIR")]
    pub dockerfile_dir: Option<PathBuf>,
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

/// Which manifest.
#[derive(Debug, Args)]
pub struct ManifestArgs {
    /// The manifest; its directory is the images repo.
    #[arg(
        short = 'm',
        long = "manifest",
        visible_alias = "manifest-file",
        alias = "manifest_file",
        value_name = "FILE",
        default_value = "manifest.yml"
    )]
    pub manifest: PathBuf,
}

/// Which part of the matrix.
#[derive(Debug, Args)]
pub struct MatrixArgs {
    /// BentoML release version, e.g. 1.3.0 (default: the manifest's `bentoml_version`).
    #[arg(
        short = 'b',
        long = "bentoml-version",
        alias = "bentoml_version",
        value_name = "VERSION"
    )]
    pub bentoml_version: Option<String>,
    /// CUDA version from `cuda_dependencies` (default: the only one, or 11.3.1).
    #[arg(long = "cuda-version", alias = "cuda_version", value_name = "VERSION")]
    pub cuda_version: Option<String>,
    /// Python version; repeat or separate with commas (default: the manifest's, else 3.7 and 3.8).
    #[arg(
        short = 'p',
        long = "python-version",
        alias = "python_version",
        value_name = "VERSION",
        value_delimiter = ','
    )]
    pub python_versions: Vec<String>,
    /// Release types to act on; `base` is always included, as the others are built FROM it.
    #[arg(
        short = 'r',
        long = "release-type",
        alias = "releases",
        value_name = "TYPE",
        value_enum,
        value_delimiter = ','
    )]
    pub release_types: Vec<ReleaseTypeArg>,
}

impl MatrixArgs {
    /// What the plan is made with, Dockerfiles going to `output_dir`
    /// (relative to the images repo).
    #[must_use]
    pub fn options(&self, output_dir: PathBuf) -> plan::Options {
        plan::Options {
            bentoml_version: self.bentoml_version.clone(),
            cuda_version: self.cuda_version.clone(),
            python_versions: self.python_versions.clone(),
            release_types: self.release_types.iter().map(|&t| t.into()).collect(),
            output_dir,
        }
    }

    /// The flags given, as words of a command line that makes the same plan.
    #[must_use]
    pub fn words(&self) -> Vec<String> {
        let mut words = Vec::new();
        let mut flag = |name: &str, value: String| {
            words.push(name.to_string());
            words.push(value);
        };
        if let Some(version) = &self.bentoml_version {
            flag("--bentoml-version", version.clone());
        }
        if let Some(version) = &self.cuda_version {
            flag("--cuda-version", version.clone());
        }
        if !self.python_versions.is_empty() {
            flag("--python-version", self.python_versions.join(","));
        }
        if !self.release_types.is_empty() {
            let names: Vec<String> = self
                .release_types
                .iter()
                .filter_map(|t| t.to_possible_value().map(|v| v.get_name().to_string()))
                .collect();
            flag("--release-type", names.join(","));
        }
        words
    }
}

/// Where Dockerfiles go.
#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Output directory (default: `generated` in the images repo).
    #[arg(
        short = 'o',
        long = "output",
        visible_alias = "dockerfile-dir",
        alias = "dockerfile_dir",
        value_name = "DIR"
    )]
    pub output: Option<PathBuf>,
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

/// Which targets to build (with what they are built FROM, when missing or stale).
#[derive(Debug, Args)]
pub struct SelectionArgs {
    /// Only this package; repeatable.
    #[arg(long = "package", value_name = "NAME")]
    pub packages: Vec<String>,
    /// Only this distro (`debian`) or distro release (`debian12`); repeatable.
    #[arg(long = "distro", value_name = "NAME")]
    pub distros: Vec<String>,
    /// Only this target, `PACKAGE:TAG`; repeatable.
    #[arg(long = "target", value_name = "NAME")]
    pub targets: Vec<String>,
}

impl SelectionArgs {
    /// The names as the plan's selection takes them.
    #[must_use]
    pub fn selection(&self) -> plan::Selection {
        plan::Selection {
            packages: self.packages.clone(),
            distros: self.distros.clone(),
            targets: self.targets.clone(),
        }
    }
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
}

/// Which engine builds (or holds) the images.
#[derive(Clone, Debug, Args)]
pub struct EngineArgs {
    /// The builder: the Docker daemon, or buildah where there is no daemon.
    #[arg(long, value_enum, default_value_t = EngineArg::Docker)]
    pub engine: EngineArg,
    /// Storage driver of buildah, e.g. `vfs` (default: `STORAGE_DRIVER`, else buildah's).
    #[arg(long = "storage-driver", value_name = "DRIVER")]
    pub storage_driver: Option<String>,
}

/// `--engine`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum EngineArg {
    /// The Docker daemon (Engine API).
    Docker,
    /// buildah, without a daemon.
    Buildah,
}

/// A release type on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ReleaseTypeArg {
    /// The distro with Python.
    Base,
    /// BentoML from PyPI.
    Runtime,
    /// Runtime with CUDA and cuDNN.
    Cudnn,
    /// BentoML from its main branch.
    Devel,
}

impl From<ReleaseTypeArg> for ReleaseType {
    fn from(arg: ReleaseTypeArg) -> Self {
        match arg {
            ReleaseTypeArg::Base => Self::Base,
            ReleaseTypeArg::Runtime => Self::Runtime,
            ReleaseTypeArg::Cudnn => Self::Cudnn,
            ReleaseTypeArg::Devel => Self::Devel,
        }
    }
}

/// The original tool's flags, used without a subcommand.
#[derive(Debug, Args)]
#[command(next_help_heading = "Original flags (without a subcommand)")]
pub struct Legacy {
    /// -bv: BentoML release version.
    #[arg(long = "bentoml_version", value_name = "VERSION")]
    pub bentoml_version: Option<String>,
    /// -cv: CUDA version from `cuda_dependencies`.
    #[arg(long = "cuda_version", value_name = "VERSION")]
    pub cuda_version: Option<String>,
    /// -pv: Python version, repeatable.
    #[arg(long = "python_version", value_name = "VERSION", value_delimiter = ',')]
    pub python_version: Vec<String>,
    /// -r: release types to act on, repeatable.
    #[arg(
        short = 'r',
        long = "releases",
        value_name = "TYPE",
        value_enum,
        value_delimiter = ','
    )]
    pub releases: Vec<ReleaseTypeArg>,
    /// -dd: output directory.
    #[arg(long = "dockerfile_dir", value_name = "DIR")]
    pub dockerfile_dir: Option<PathBuf>,
    /// -mf: manifest file.
    #[arg(
        long = "manifest_file",
        value_name = "FILE",
        default_value = "manifest.yml"
    )]
    pub manifest_file: PathBuf,
    /// -dm: write metadata.json.
    #[arg(long = "dump_metadata")]
    pub dump_metadata: bool,
    /// -dr: show what would happen; write and build nothing.
    #[arg(long = "dry_run")]
    pub dry_run: bool,
    #[command(flatten)]
    pub steps: LegacySteps,
    /// -o: rebuild images that already exist.
    #[arg(short = 'o', long = "overwrite")]
    pub overwrite: bool,
    /// -t: build timeout in seconds.
    #[arg(
        short = 't',
        long = "timeout",
        value_name = "SECONDS",
        default_value_t = 3600,
        value_parser = at_least_one::<u64>
    )]
    pub timeout: u64,
    /// -g: what to do: `dockerfiles` (stop after generating) and/or `images`, repeatable.
    #[arg(
        short = 'g',
        long = "generate",
        value_name = "WHAT",
        value_enum,
        value_delimiter = ','
    )]
    pub generate: Vec<GenerateWhat>,
}

impl Legacy {
    /// What the plan is made with, as [`MatrixArgs::options`].
    #[must_use]
    pub fn options(&self, output_dir: PathBuf) -> plan::Options {
        plan::Options {
            bentoml_version: self.bentoml_version.clone(),
            cuda_version: self.cuda_version.clone(),
            python_versions: self.python_version.clone(),
            release_types: self.releases.iter().map(|&t| t.into()).collect(),
            output_dir,
        }
    }
}

/// How far the original's command line goes: generate, then build, then push.
#[derive(Debug, Args)]
pub struct LegacySteps {
    /// -sag: stop after generating.
    #[arg(long = "stop_at_generate")]
    pub stop_at_generate: bool,
    /// -bi: build images.
    #[arg(long = "build_images")]
    pub build_images: bool,
    /// -pth: push images.
    #[arg(long = "push_to_hub")]
    pub push_to_hub: bool,
}

/// A whole number, 1 or more (`--jobs`, `--timeout`, `--attempts`), said
/// in words when it is not one rather than in the parser's terms.
fn at_least_one<T>(text: &str) -> Result<T, String>
where
    T: std::str::FromStr<Err = std::num::ParseIntError> + PartialOrd + From<u8>,
{
    use std::num::IntErrorKind;
    match text.trim().parse::<T>() {
        Ok(n) if n >= T::from(1) => Ok(n),
        Ok(_) => Err("must be 1 or more".into()),
        Err(e) if *e.kind() == IntErrorKind::PosOverflow => Err("too large".into()),
        Err(_) => Err("expected a whole number, 1 or more".into()),
    }
}

/// `--build-arg NAME=VALUE`, NAME a word.
fn build_arg(text: &str) -> Result<String, String> {
    match text.split_once('=') {
        Some((name, _))
            if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
        {
            Ok(text.to_string())
        }
        Some(_) => Err("the NAME before `=` must be letters, digits and `_`".into()),
        None => Err("expected NAME=VALUE".into()),
    }
}

/// `-g` values of the original.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum GenerateWhat {
    /// Dockerfiles only.
    Dockerfiles,
    /// Build images.
    Images,
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
