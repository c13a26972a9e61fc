//! The original tool's flags, in their long forms (`--bentoml_version`),
//! for a command line without a subcommand.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::common::{ReleaseTypeArg, at_least_one};
use crate::plan;

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
    /// The builder of `-bi` (not one of the original's flags): with
    /// `--engine bake`, `-bi -pth` pushes from BuildKit as it builds.
    #[command(flatten)]
    pub engine: super::EngineArgs,
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

/// `-g` values of the original.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum GenerateWhat {
    /// Dockerfiles only.
    Dockerfiles,
    /// Build images.
    Images,
}
