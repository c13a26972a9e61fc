//! Rendering the targets of a matrix in memory, as `generate` and
//! `validate` both do: each target's files and the metadata its templates
//! saw, and the check that Python versions sharing a directory render it
//! alike.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

use crate::diagnostic::{Problem, Problems};
use crate::manifest::Manifest;
use crate::plan::{Matrix, Options, Target};
use crate::render::{Renderer, metadata};

/// The BentoML version [`render_only`] renders with when the manifest names
/// none (`generate` takes it from `-bv`): templates are checked, not tags.
const STAND_IN_BENTOML_VERSION: &str = "0.0.0";

/// Renders every target as `generate` would, in memory: the output
/// directory is neither read nor written (that it is stale is `check`'s
/// question). So `validate` fails wherever `generate` would: undefined
/// variables, failing filters, bounds, Python versions that render
/// differently. With several CUDA versions and none chosen, each one is
/// rendered; without a BentoML version, a stand-in is. Returns how many
/// targets were rendered.
///
/// # Errors
/// Every problem found, all at once.
pub fn render_only(manifest: &Manifest, renderer: &Renderer) -> Result<usize, Problems> {
    let cuda_versions: Vec<Option<String>> =
        if manifest.cuda_version.is_some() || manifest.cuda.len() < 2 {
            vec![None]
        } else {
            manifest
                .cuda
                .iter()
                .map(|c| Some(c.version.clone()))
                .collect()
        };
    let mut problems = Vec::new();
    let mut targets = 0;
    let specs = specs(manifest);
    for cuda_version in cuda_versions {
        let options = Options {
            bentoml_version: Some(
                manifest
                    .bentoml_version
                    .clone()
                    .unwrap_or_else(|| STAND_IN_BENTOML_VERSION.to_string()),
            ),
            cuda_version,
            python_versions: Vec::new(),
            release_types: Vec::new(),
            output_dir: PathBuf::from("generated"),
        };
        let matrix = match Matrix::untagged(manifest, &options) {
            Ok(matrix) => matrix,
            Err(error) => {
                let help = miette::Diagnostic::help(&error).map(|h| h.to_string());
                problems.push(Problem::plain(error.to_string()).maybe_help(help));
                continue;
            }
        };
        let cuda = cuda_of(manifest, &matrix);
        let mut shared = SharedDirectories::default();
        for target in matrix.targets(manifest) {
            let Some((_, rendered)) = render_target(&specs, &matrix, renderer, cuda, &target)
            else {
                continue;
            };
            targets += 1;
            match rendered {
                Ok(rendered) => {
                    if let Err(problem) = shared.first(&matrix, &target, &rendered) {
                        problems.push(problem);
                    }
                }
                Err(problem) => problems.push(*problem),
            }
        }
        for package in &manifest.packages {
            if let Err(problem) = renderer.render_docs(&matrix, manifest, &package.name) {
                problems.push(*problem);
            }
        }
    }
    if problems.is_empty() {
        Ok(targets)
    } else {
        Err(Problems::new(problems))
    }
}

/// The CUDA release the matrix renders with.
pub(super) fn cuda_of<'a>(
    manifest: &'a Manifest,
    matrix: &Matrix,
) -> Option<&'a crate::manifest::Cuda> {
    matrix
        .cuda_version
        .as_ref()
        .and_then(|v| manifest.cuda.iter().find(|c| &c.version == v))
}

/// The spec of each distro release by distro and release: a matrix of
/// thousands of releases finds each target's at once, not by a walk.
type Specs<'a> = HashMap<(&'a str, &'a str), &'a crate::manifest::Spec>;

pub(super) fn specs(manifest: &Manifest) -> Specs<'_> {
    manifest
        .distros
        .iter()
        .flat_map(|d| {
            d.releases
                .iter()
                .map(move |r| ((d.name.as_str(), r.version.as_str()), &r.spec))
        })
        .collect()
}

/// The files of one target, and the `metadata` its templates saw; `None`
/// for a target whose release is not in the manifest.
type Rendered = (
    serde_json::Map<String, serde_json::Value>,
    Result<Vec<(String, String)>, Box<Problem>>,
);

pub(super) fn render_target(
    specs: &Specs<'_>,
    matrix: &Matrix,
    renderer: &Renderer,
    cuda: Option<&crate::manifest::Cuda>,
    target: &Target,
) -> Option<Rendered> {
    let spec = specs.get(&(target.distro.as_str(), target.release.as_str()))?;
    let meta = metadata::metadata(&matrix.bentoml_version, target, spec, cuda);
    let rendered = renderer.render(target, spec, &meta);
    Some((meta, rendered))
}

/// Python versions share a directory: its first rendering is the one kept;
/// later ones must hash the same. Only a hash and the Python version's
/// index are kept per directory.
#[derive(Default)]
pub(super) struct SharedDirectories {
    first: HashMap<PathBuf, (u64, usize)>,
}

impl SharedDirectories {
    /// Whether this is the directory's first rendering; a problem when a
    /// later one differs.
    pub(super) fn first(
        &mut self,
        matrix: &Matrix,
        target: &Target,
        rendered: &[(String, String)],
    ) -> Result<bool, Problem> {
        let hash = {
            let mut hasher = DefaultHasher::new();
            rendered.hash(&mut hasher);
            hasher.finish()
        };
        if let Some(&(expected, first)) = self.first.get(&target.directory) {
            if expected != hash {
                return Err(differs(
                    &target.directory,
                    &matrix.python_versions[first],
                    &target.python_version,
                ));
            }
            return Ok(false);
        }
        let python = matrix
            .python_versions
            .iter()
            .position(|p| *p == target.python_version)
            .unwrap_or_default();
        self.first.insert(target.directory.clone(), (hash, python));
        Ok(true)
    }
}

fn differs(directory: &Path, first: &str, then: &str) -> Problem {
    Problem::plain(format!(
        "`{}` renders differently for Python {first} and {then}",
        metadata::slash_path(directory),
    ))
    .help(
        "Python versions share one Dockerfile: use the build argument \
         (`ARG PYTHON_VERSION`, `$PYTHON_VERSION`) instead of `metadata.envars.PYTHON_VERSION`",
    )
}
