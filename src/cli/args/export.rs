//! `export` (a bake file, a GitHub Actions matrix) and `graph`.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

use super::common::{ManifestArgs, MatrixArgs, SelectionArgs, at_least_one};
use crate::fanout;

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
    /// Each job also pushes what it built (`build --skip-pushed --push`:
    /// what the registry holds already is neither built nor pushed again).
    #[arg(long)]
    pub push: bool,
    /// The engine each job builds with (default: `bake` when a target
    /// declares several platforms, else the build's own default).
    #[arg(long, value_enum, value_name = "ENGINE")]
    pub engine: Option<super::EngineArg>,
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
