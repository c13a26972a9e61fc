//! What several commands take alike: the manifest, the matrix (versions,
//! release types), the output directory, the selection of targets, and the
//! parsers of numbers and build arguments.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::manifest::ReleaseType;
use crate::plan;

/// Seconds a registry request may take before it fails: `push --timeout`
/// and `status --timeout` by default, and the original's `-pth` (which has
/// no flag for it).
pub const REGISTRY_TIMEOUT: u64 = 60;

/// Attempts per push: `push --attempts` by default, and the original's `-pth`.
pub const ATTEMPTS: u32 = 4;

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

/// A whole number, 1 or more (`--jobs`, `--timeout`, `--attempts`), said
/// in words when it is not one rather than in the parser's terms.
pub(super) fn at_least_one<T>(text: &str) -> Result<T, String>
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
pub(super) fn build_arg(text: &str) -> Result<String, String> {
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
