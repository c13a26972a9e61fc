//! The manifest: what the release engineer declared, read from `manifest.yml`
//! and checked, in types that later stages can trust.
//!
//! [`raw`] reads the YAML as written (positions kept); `validate` turns it
//! into a [`Manifest`], collecting every problem instead of stopping at the
//! first, so one run tells the user everything to fix.

pub mod raw;
mod validate;

pub(crate) use validate::{check_reference, check_tag, check_tag_part, is_python_version};

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use crate::diagnostic::{Problem, Problems, Source};

/// The Python versions the original used when neither the manifest nor the
/// command line names any.
pub const DEFAULT_PYTHON_VERSIONS: [&str; 2] = ["3.7", "3.8"];

/// The CUDA version the original defaulted to.
pub const DEFAULT_CUDA_VERSION: &str = "11.3.1";

/// A checked manifest.
#[derive(Clone, Debug)]
pub struct Manifest {
    /// The manifest file as given.
    pub file: PathBuf,
    /// The images repo: the manifest's directory, the root of template paths
    /// and the build context.
    pub root: PathBuf,
    /// The manifest's text, for reports that point into it.
    pub source: Source,
    /// `bentoml_version`, when the manifest pins one.
    pub bentoml_version: Option<String>,
    /// `cuda_version`, when the manifest picks one.
    pub cuda_version: Option<String>,
    /// `tests`: shell commands that must succeed in each image of a release type.
    pub tests: Vec<(ReleaseType, Vec<String>)>,
    /// `python_versions`: the matrix's Python versions, when declared.
    pub python_versions: Option<Vec<String>>,
    /// `readme`: the template of each package's `README.md`, relative to the
    /// images repo. Only a template the manifest names is rendered: the
    /// original tool rendered none, and its images repo has one it never used.
    pub readme: Option<String>,
    /// `repository`: where images are pushed.
    pub registries: Vec<Registry>,
    /// `cache`: where BuildKit imports and exports each target's build cache.
    pub cache: Option<Cache>,
    /// `attest`: the attestations BuildKit attaches to each image.
    pub attest: Option<Attest>,
    /// `cuda_dependencies`, in manifest order.
    pub cuda: Vec<Cuda>,
    /// `packages`, in manifest order.
    pub packages: Vec<Package>,
    /// `releases`, in manifest order.
    pub distros: Vec<Distro>,
}

impl Manifest {
    /// The distro named `name`.
    #[must_use]
    pub fn distro(&self, name: &str) -> Option<&Distro> {
        self.distros.iter().find(|d| d.name == name)
    }
}

/// A registry of `repository`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Registry {
    /// The key: the registry's host, e.g. `docker.io`.
    pub host: String,
    /// The environment variable that must be set for this registry to be
    /// used: required, so always set in a manifest that validated.
    pub only_if: Option<String>,
    /// The environment variable that holds the user name.
    pub user: Option<String>,
    /// The environment variable that holds the password.
    pub pwd: Option<String>,
    /// Package name to repository path, e.g. `docker.io/org/model-server`.
    pub repositories: Vec<(String, String)>,
}

/// `cache`: registry references for BuildKit's build cache, one per
/// target, each from a pattern holding [`CACHE_NAME`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Cache {
    /// `from`: where each target's cache is imported from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// `to`: where each target's cache is exported to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// `mode`: which layers `to` exports; BuildKit's default (`min`) when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<CacheMode>,
}

/// What a cache pattern holds in place of the target: replaced by its
/// bake target name, which is a valid tag and repository path component.
pub const CACHE_NAME: &str = "{name}";

/// Which layers an exported cache holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CacheMode {
    /// The layers of the image.
    Min,
    /// Every layer, intermediate stages included.
    Max,
}

/// `attest`: the attestations BuildKit attaches to each pushed image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Attest {
    /// `provenance`; the builder's default when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provenance: Option<Provenance>,
    /// `sbom`: whether an SBOM is attached; the builder's default when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sbom: Option<bool>,
}

/// A provenance attestation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Provenance {
    /// `false`: none, even where the builder would attach one by default.
    Off,
    /// `true`: the builder's default mode.
    On,
    /// `min`: the build's inputs, without its definition.
    Min,
    /// `max`: everything BuildKit knows, the Dockerfile and build arguments included.
    Max,
}

/// A CUDA release of `cuda_dependencies`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cuda {
    /// `X.Y.Z` as written.
    pub version: String,
    /// `X`.
    pub major: String,
    /// `Y`.
    pub minor: String,
    /// Every component but cuDNN, in manifest order.
    pub components: Vec<(String, String)>,
    /// The cuDNN component, when there is one.
    pub cudnn: Option<Cudnn>,
}

/// The cuDNN component of a CUDA release.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cudnn {
    /// The component's name, e.g. `cudnn8`.
    pub name: String,
    /// Its package version, e.g. `8.2.0.53-1`.
    pub version: String,
    /// The version's first number, e.g. `8`.
    pub major_version: String,
}

/// An image family: one Docker repository.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Package {
    /// The package name, e.g. `model-server`.
    pub name: String,
    /// Each release type with its distros: `base` first (every distro any
    /// release type uses), then the declared ones in manifest order.
    pub release_types: Vec<(ReleaseType, Vec<String>)>,
}

/// The kinds of image a package has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReleaseType {
    /// The distro with Python: what every other image is built FROM.
    Base,
    /// BentoML from PyPI.
    Runtime,
    /// Runtime plus CUDA and cuDNN.
    Cudnn,
    /// BentoML from its main branch.
    Devel,
}

impl ReleaseType {
    /// Every release type, `base` first.
    pub const ALL: [Self; 4] = [Self::Base, Self::Runtime, Self::Cudnn, Self::Devel];

    /// The name used in the manifest, tags and paths.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Base => "base",
            Self::Runtime => "runtime",
            Self::Cudnn => "cudnn",
            Self::Devel => "devel",
        }
    }

    /// The release type named `name`.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

impl fmt::Display for ReleaseType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The tag of an image, as the original tool names it (validation checks
/// it, the plan gives it to each target):
/// `<release type>-python<python>-<add_to_tags>` for `base` and `devel`,
/// `<bentoml>-python<python>-<add_to_tags>-<release type>` for the others.
#[must_use]
pub fn tag(release_type: ReleaseType, python: &str, add_to_tags: &str, bentoml: &str) -> String {
    match release_type {
        ReleaseType::Base | ReleaseType::Devel => {
            format!("{release_type}-python{python}-{add_to_tags}")
        }
        ReleaseType::Runtime | ReleaseType::Cudnn => {
            format!("{bentoml}-python{python}-{add_to_tags}-{release_type}")
        }
    }
}

/// A distro of `releases`.
#[derive(Clone, Debug, PartialEq)]
pub struct Distro {
    /// e.g. `centos`.
    pub name: String,
    /// Its releases, in manifest order.
    pub releases: Vec<Release>,
}

/// One release of a distro.
#[derive(Clone, Debug, PartialEq)]
pub struct Release {
    /// Where the release's key is written.
    pub at: raw::Pos,
    /// e.g. `8`, `3.14`, as written.
    pub version: String,
    /// `release_spec` merged with this release's overrides.
    pub spec: Spec,
}

/// The spec of one distro release.
#[derive(Clone, Debug, PartialEq)]
pub struct Spec {
    /// Where the templates are, relative to the images repo.
    pub templates_dir: String,
    /// Where `templates_dir` is written, for reports about the templates.
    pub templates_dir_at: raw::Pos,
    /// The image that `base` is built FROM.
    pub base_image: String,
    /// The distro part of tags, e.g. `slim`.
    pub add_to_tags: String,
    /// Where `add_to_tags` is written.
    pub add_to_tags_at: raw::Pos,
    /// The CUDA repository prefix; `None` when the distro has no CUDA.
    pub cuda_prefix_url: Option<String>,
    /// `NAME=value` items, split, in order (shared by the releases that merge them).
    pub envars: Arc<[(String, String)]>,
    /// The Python versions of this release, when it narrows the matrix's.
    pub python_versions: Option<Vec<String>>,
    /// `platforms`: every image of this release is built for each
    /// (`os/arch[/variant]`); empty for the builder's own platform.
    pub platforms: Arc<[String]>,
    /// Every key as written, in manifest order: what templates see. A value
    /// merged into many releases is held once, shared by all of them.
    pub fields: Vec<(Arc<str>, Arc<serde_json::Value>)>,
}

/// Why a manifest could not be used.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum Error {
    /// The file could not be read.
    #[error("cannot read manifest `{path}`")]
    #[diagnostic(help("pass the manifest with `-mf PATH` (default: `./manifest.yml`)"))]
    Read {
        /// The manifest path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The path names a directory, a device, a fifo or a socket: reading it
    /// would fail, never end (`/dev/zero`) or wait for a writer (a fifo).
    #[error("manifest `{path}` is {kind}, not a file")]
    #[diagnostic(help("pass the manifest file with `-mf PATH` (default: `./manifest.yml`)"))]
    NotAFile {
        /// The manifest path.
        path: PathBuf,
        /// What it is instead.
        kind: &'static str,
    },
    /// The manifest has problems.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Invalid(#[from] Problems),
}

impl Error {
    /// 2: the manifest is input, and the user fixes it (or the path to it).
    #[must_use]
    pub fn exit_code(&self) -> u8 {
        2
    }
}

/// A manifest read as far as it could be, with every problem found.
#[derive(Debug)]
pub struct Checked {
    /// The manifest, with the parts that have problems left out.
    pub manifest: Option<Manifest>,
    /// Every problem found.
    pub problems: Vec<Problem>,
}

/// Reads and checks the manifest at `path`; problems are collected, not
/// returned as an error, so that later checks (templates) can add theirs.
///
/// # Errors
/// When the file cannot be read.
pub fn check(path: &Path) -> Result<Checked, Error> {
    let read_error = |source| Error::Read {
        path: path.to_path_buf(),
        source,
    };
    let file_type = std::fs::metadata(path).map_err(read_error)?.file_type();
    if !file_type.is_file() {
        return Err(Error::NotAFile {
            path: path.to_path_buf(),
            kind: crate::diagnostic::file_kind(file_type),
        });
    }
    let text = std::fs::read_to_string(path).map_err(read_error)?;
    let root = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Ok(validate::check(path, root, &text))
}

/// Reads and checks the manifest at `path`.
///
/// # Errors
/// When the file cannot be read or has problems.
pub fn load(path: &Path) -> Result<Manifest, Error> {
    let checked = check(path)?;
    match checked.manifest {
        Some(manifest) if checked.problems.is_empty() => Ok(manifest),
        _ => Err(Error::Invalid(Problems::new(checked.problems))),
    }
}
