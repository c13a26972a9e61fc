//! The plan: every image the manifest asks for, with its tag, Dockerfile,
//! build arguments and what it is built FROM, in build order.
//!
//! Everything later (rendering, building, pushing) works from one [`Plan`],
//! made before any side effect, so `--dry-run` and `plan --json` show exactly
//! what would happen.

pub mod select;

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde::Serialize;

use crate::diagnostic::suggestion;
use crate::manifest::{
    Attest, Cache, DEFAULT_CUDA_VERSION, DEFAULT_PYTHON_VERSIONS, Distro, Manifest, Release,
    ReleaseType,
};
pub use select::{NotInPlan, Selection, select};

mod dependencies;
#[cfg(test)]
pub(crate) mod testing;

pub use crate::manifest::tag;
pub use dependencies::with_dependencies;

/// What the command line asks of the manifest.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// `-bv`: the BentoML release; the manifest's `bentoml_version` otherwise.
    pub bentoml_version: Option<String>,
    /// `-cv`: the CUDA version of `cuda_dependencies`.
    pub cuda_version: Option<String>,
    /// `-pv`: Python versions; the manifest's, or 3.7 and 3.8, otherwise.
    pub python_versions: Vec<String>,
    /// `-r`: release types to act on (`base` is always included: the others
    /// are built FROM it); all when empty.
    pub release_types: Vec<ReleaseType>,
    /// Where Dockerfiles go, relative to the images repo.
    pub output_dir: PathBuf,
}

/// Why a plan cannot be made from these options.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum Error {
    /// No BentoML version anywhere.
    #[error("no BentoML version given")]
    #[diagnostic(help(
        "pass `-bv VERSION` (e.g. `-bv 1.3.0`), or set `bentoml_version` in the manifest"
    ))]
    NoBentomlVersion,
    /// A BentoML version that cannot be part of a tag.
    #[error("BentoML version `{version}` {why}")]
    BadBentomlVersion {
        /// The version.
        version: String,
        /// What is wrong.
        why: String,
    },
    /// A tag that Docker would refuse.
    #[error("tag `{tag}` of `{package}` {why}")]
    #[diagnostic(help("shorten the BentoML version, the Python version or `add_to_tags`"))]
    BadTag {
        /// The package (not part of the tag).
        package: String,
        /// The tag, as measured.
        tag: String,
        /// What is wrong.
        why: String,
    },
    /// A Python version that is not one.
    #[error("`{version}` is not a Python version")]
    #[diagnostic(help("Python versions look like `3.11` or `3.11.4`"))]
    BadPythonVersion {
        /// The version.
        version: String,
    },
    /// A CUDA version the manifest does not define.
    #[error("CUDA version `{version}` is not defined under `cuda_dependencies`")]
    UnknownCudaVersion {
        /// The version.
        version: String,
        /// The closest defined one, or the list.
        #[help]
        help: Option<String>,
    },
    /// Nothing to do: generating would empty the output directory.
    #[error("the plan has no targets")]
    #[diagnostic(help(
        "check the Python versions (`-pv`, `python_versions`) and release types (`-r`) against the manifest"
    ))]
    Empty,
    /// Several CUDA versions, none chosen.
    #[error("the manifest defines several CUDA versions and none was chosen")]
    #[diagnostic(help("pick one with `-cv VERSION` or `cuda_version` in the manifest: {choices}"))]
    AmbiguousCudaVersion {
        /// The defined versions.
        choices: String,
    },
}

impl Error {
    /// 2: the command line does not fit the manifest, a usage error.
    #[must_use]
    pub fn exit_code(&self) -> u8 {
        2
    }
}

/// One image to build.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Target {
    /// `PACKAGE:TAG`.
    pub name: String,
    /// The package (the local repository name).
    pub package: String,
    /// The tag.
    pub tag: String,
    /// The release type.
    pub release_type: ReleaseType,
    /// The distro, e.g. `centos`.
    pub distro: String,
    /// The distro's release, e.g. `8`.
    pub release: String,
    /// The Python version.
    pub python_version: String,
    /// The directory its files are rendered into, relative to the images repo.
    pub directory: PathBuf,
    /// Its Dockerfile, relative to the images repo.
    pub dockerfile: PathBuf,
    /// Build arguments.
    pub build_args: IndexMap<String, String>,
    /// The image it is built FROM.
    pub from: String,
    /// The target it is built FROM, when that is part of the plan.
    pub depends_on: Option<String>,
    /// Shell commands that must succeed in the built image (`tests`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tests: Vec<String>,
    /// The platforms it is built for (its release's `platforms`); empty
    /// for the builder's own. A dependent has its base's: both come from
    /// the same release.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<String>,
}

/// The matrix the manifest and options describe, before any target is made:
/// targets are produced one at a time by [`Matrix::targets`], so rendering
/// the whole matrix never holds it in memory.
#[derive(Clone, Debug, Serialize)]
pub struct Matrix {
    /// The BentoML version.
    pub bentoml_version: String,
    /// The CUDA version, when any target needs one.
    pub cuda_version: Option<String>,
    /// The Python versions of the matrix.
    pub python_versions: Vec<String>,
    /// Where Dockerfiles go, relative to the images repo.
    pub output_dir: PathBuf,
    /// Release types acted on; all when empty.
    #[serde(skip)]
    release_types: Vec<ReleaseType>,
}

impl Matrix {
    /// Checks the options against the manifest.
    ///
    /// # Errors
    /// When the options do not fit the manifest, or select no target.
    pub fn new(manifest: &Manifest, options: &Options) -> Result<Self, Error> {
        let matrix = Self::untagged(manifest, options)?;
        // The command line's versions are part of every tag: one that makes
        // a tag too long is found before anything is written.
        for cell in matrix.cells(manifest) {
            let tag = tag(
                cell.release_type,
                cell.python,
                &cell.release.spec.add_to_tags,
                &matrix.bentoml_version,
            );
            crate::manifest::check_tag(&tag).map_err(|why| Error::BadTag {
                package: cell.package.to_string(),
                tag,
                why,
            })?;
        }
        Ok(matrix)
    }

    /// [`Matrix::new`] without its check of every tag: for rendering with a
    /// stand-in BentoML version, whose tags mean nothing (the manifest's
    /// own part of them is checked where it is written).
    ///
    /// # Errors
    /// As [`Matrix::new`], tags aside.
    pub fn untagged(manifest: &Manifest, options: &Options) -> Result<Self, Error> {
        let bentoml_version = options
            .bentoml_version
            .clone()
            .or_else(|| manifest.bentoml_version.clone())
            .ok_or(Error::NoBentomlVersion)?;
        crate::manifest::check_tag_part(&bentoml_version).map_err(|why| {
            Error::BadBentomlVersion {
                version: bentoml_version.clone(),
                why,
            }
        })?;
        let python_versions: Vec<String> = if !options.python_versions.is_empty() {
            let mut versions: Vec<String> = Vec::new();
            for version in &options.python_versions {
                if !crate::manifest::is_python_version(version) {
                    return Err(Error::BadPythonVersion {
                        version: version.clone(),
                    });
                }
                if !versions.contains(version) {
                    versions.push(version.clone());
                }
            }
            versions
        } else if let Some(versions) = &manifest.python_versions {
            versions.clone()
        } else {
            DEFAULT_PYTHON_VERSIONS.map(String::from).to_vec()
        };
        let mut matrix = Self {
            bentoml_version,
            cuda_version: None,
            python_versions,
            output_dir: options.output_dir.clone(),
            release_types: options.release_types.clone(),
        };
        let needs_cuda = {
            let mut cells = matrix.cells(manifest).peekable();
            if cells.peek().is_none() {
                return Err(Error::Empty);
            }
            cells.any(|cell| cell.release.spec.cuda_prefix_url.is_some())
        };
        if needs_cuda || options.cuda_version.is_some() {
            matrix.cuda_version = Some(cuda_version(manifest, options)?);
        }
        Ok(matrix)
    }

    /// Every target, in the order of the original tool: package, Python
    /// version, release type (base first), distro, release.
    pub fn targets<'a>(&'a self, manifest: &'a Manifest) -> impl Iterator<Item = Target> + 'a {
        self.make(manifest, self.cells(manifest))
    }

    /// The targets of one package, in the order of [`Matrix::targets`].
    pub fn targets_of<'a>(
        &'a self,
        manifest: &'a Manifest,
        package: &'a str,
    ) -> impl Iterator<Item = Target> + 'a {
        let cells = self.cells(manifest).filter(move |c| c.package == package);
        self.make(manifest, cells)
    }

    fn make<'a>(
        &'a self,
        manifest: &'a Manifest,
        cells: impl Iterator<Item = Cell<'a>> + 'a,
    ) -> impl Iterator<Item = Target> + 'a {
        cells.map(move |cell| {
            let mut target = target(&cell, &self.bentoml_version, &self.output_dir);
            target.tests = manifest
                .tests
                .iter()
                .filter(|(t, _)| *t == cell.release_type)
                .flat_map(|(_, c)| c.iter().cloned())
                .collect();
            target
        })
    }

    /// Every combination the matrix selects, in target order.
    fn cells<'a>(&'a self, manifest: &'a Manifest) -> impl Iterator<Item = Cell<'a>> + 'a {
        let selected = |t: ReleaseType| {
            t == ReleaseType::Base
                || self.release_types.is_empty()
                || self.release_types.contains(&t)
        };
        manifest.packages.iter().flat_map(move |package| {
            self.python_versions.iter().flat_map(move |python| {
                package
                    .release_types
                    .iter()
                    .filter(move |(t, _)| selected(*t))
                    .flat_map(move |(release_type, distros)| {
                        distros
                            .iter()
                            .filter_map(|d| manifest.distro(d))
                            .flat_map(move |distro| {
                                distro
                                    .releases
                                    .iter()
                                    .filter(move |release| {
                                        release
                                            .spec
                                            .python_versions
                                            .as_ref()
                                            .is_none_or(|v| v.contains(python))
                                    })
                                    .map(move |release| Cell {
                                        package: &package.name,
                                        python,
                                        release_type: *release_type,
                                        distro,
                                        release,
                                    })
                            })
                    })
            })
        })
    }
}

/// One combination of the matrix.
struct Cell<'a> {
    package: &'a str,
    python: &'a str,
    release_type: ReleaseType,
    distro: &'a Distro,
    release: &'a Release,
}

/// Everything to build, before anything is done.
#[derive(Clone, Debug, Serialize)]
pub struct Plan {
    /// The matrix the targets come from.
    #[serde(flatten)]
    pub matrix: Matrix,
    /// Every target, in the order of [`Matrix::targets`].
    pub targets: Vec<Target>,
    /// Target names in build order: every target after the one it is built FROM.
    pub build_order: Vec<String>,
    /// The manifest's `cache`: where BuildKit keeps each target's build cache.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache: Option<Cache>,
    /// The manifest's `attest`: what BuildKit attaches to each image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attest: Option<Attest>,
}

impl Plan {
    /// Expands the manifest into targets.
    ///
    /// # Errors
    /// When the options do not fit the manifest.
    pub fn new(manifest: &Manifest, options: &Options) -> Result<Self, Error> {
        Ok(Self::of(Matrix::new(manifest, options)?, manifest))
    }

    /// Every target of `matrix`.
    #[must_use]
    pub fn of(matrix: Matrix, manifest: &Manifest) -> Self {
        let targets: Vec<Target> = matrix.targets(manifest).collect();
        let mut build_order: Vec<String> = targets
            .iter()
            .filter(|t| t.depends_on.is_none())
            .map(|t| t.name.clone())
            .collect();
        build_order.extend(
            targets
                .iter()
                .filter(|t| t.depends_on.is_some())
                .map(|t| t.name.clone()),
        );
        Self {
            matrix,
            targets,
            build_order,
            cache: manifest.cache.clone(),
            attest: manifest.attest.clone(),
        }
    }

    /// The target named `name`.
    #[must_use]
    pub fn target(&self, name: &str) -> Option<&Target> {
        self.targets.iter().find(|t| t.name == name)
    }
}

fn cuda_version(manifest: &Manifest, options: &Options) -> Result<String, Error> {
    let defined: Vec<&str> = manifest.cuda.iter().map(|c| c.version.as_str()).collect();
    if let Some(version) = options
        .cuda_version
        .as_ref()
        .or(manifest.cuda_version.as_ref())
    {
        if defined.contains(&version.as_str()) {
            return Ok(version.clone());
        }
        return Err(Error::UnknownCudaVersion {
            version: version.clone(),
            help: suggestion(version, defined.iter().copied()).or_else(|| {
                (!defined.is_empty()).then(|| format!("defined: {}", defined.join(", ")))
            }),
        });
    }
    match defined.as_slice() {
        [one] => Ok((*one).to_string()),
        many if many.contains(&DEFAULT_CUDA_VERSION) => Ok(DEFAULT_CUDA_VERSION.to_string()),
        many => Err(Error::AmbiguousCudaVersion {
            choices: many.join(", "),
        }),
    }
}

/// The tag of the base image a target is built FROM, with the Python
/// version left to the build argument: what templates see as `build_tag`.
#[must_use]
pub fn build_tag(add_to_tags: &str) -> String {
    tag(ReleaseType::Base, "$PYTHON_VERSION", add_to_tags, "")
}

/// The directory a target's files are rendered into.
#[must_use]
pub fn directory(
    output: &Path,
    package: &str,
    distro: &str,
    release: &str,
    release_type: ReleaseType,
) -> PathBuf {
    let dir = output.join(package).join(format!("{distro}{release}"));
    match release_type {
        ReleaseType::Base => dir,
        other => dir.join(other.as_str()),
    }
}

fn target(cell: &Cell, bentoml: &str, output: &Path) -> Target {
    let Cell {
        package,
        python,
        release_type,
        distro,
        release,
    } = *cell;
    let add_to_tags = &release.spec.add_to_tags;
    let tag = tag(release_type, python, add_to_tags, bentoml);
    let directory = directory(
        output,
        package,
        &distro.name,
        &release.version,
        release_type,
    );
    let (from, depends_on) = if release_type == ReleaseType::Base {
        (release.spec.base_image.clone(), None)
    } else {
        let base = format!(
            "{package}:{}",
            self::tag(ReleaseType::Base, python, add_to_tags, bentoml)
        );
        (base.clone(), Some(base))
    };
    Target {
        name: format!("{package}:{tag}"),
        package: package.to_string(),
        tag,
        release_type,
        distro: distro.name.clone(),
        release: release.version.clone(),
        python_version: python.to_string(),
        dockerfile: directory.join("Dockerfile"),
        directory,
        build_args: IndexMap::from([("PYTHON_VERSION".to_string(), python.to_string())]),
        from,
        depends_on,
        tests: Vec::new(),
        platforms: release.spec.platforms.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_follow_the_original_format() {
        assert_eq!(
            tag(ReleaseType::Devel, "3.8", "slim", "0.13.0"),
            "devel-python3.8-slim"
        );
        assert_eq!(
            tag(ReleaseType::Base, "3.8", "slim", "0.13.0"),
            "base-python3.8-slim"
        );
        assert_eq!(
            tag(ReleaseType::Cudnn, "3.8", "centos7", "0.13.0"),
            "0.13.0-python3.8-centos7-cudnn"
        );
        assert_eq!(
            tag(ReleaseType::Runtime, "3.7", "ami2", "0.13.0"),
            "0.13.0-python3.7-ami2-runtime"
        );
        assert_eq!(build_tag("slim"), "base-python$PYTHON_VERSION-slim");
    }

    #[test]
    fn directories_put_base_at_the_distro_level() {
        let out = Path::new("generated");
        assert_eq!(
            directory(out, "model-server", "centos", "8", ReleaseType::Base),
            Path::new("generated/model-server/centos8")
        );
        assert_eq!(
            directory(out, "model-server", "alpine", "3.14", ReleaseType::Runtime),
            Path::new("generated/model-server/alpine3.14/runtime")
        );
    }
}
