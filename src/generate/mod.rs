//! `generate`: renders every target of the plan into a new `generated/` tree
//! and, on request, writes `metadata.json`; both replace the old ones only
//! once everything rendered.
//!
//! Python versions share one Dockerfile (the version is a build argument),
//! so a directory is written once; every Python version is still rendered
//! and must give the same bytes, which catches a template that printed the
//! Python version instead of using `$PYTHON_VERSION`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::diagnostic::{Problem, Problems};
use crate::manifest::Manifest;
use crate::output::{self, Lock, Outcome, Tree};
use crate::plan::Matrix;
use crate::render::Renderer;

mod metadata;
mod targets;

use metadata::MetadataWriter;
pub use targets::render_only;
use targets::{SharedDirectories, cuda_of, render_target, specs};

/// Where generation writes.
#[derive(Clone, Debug)]
pub struct Destination {
    /// The `generated/` directory.
    pub output: PathBuf,
    /// `metadata.json`, when requested.
    pub metadata: Option<PathBuf>,
    /// Only compare with what is there; write nothing.
    pub check_only: bool,
}

/// What a generation wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Generated {
    /// Targets rendered.
    pub targets: usize,
    /// Directories written.
    pub directories: usize,
    /// Files written.
    pub files: usize,
    /// True when the output already held exactly these files and was left as it was.
    pub unchanged: bool,
    /// True when `metadata.json` was written with new contents.
    pub metadata_changed: bool,
    /// True when only checking and the output differs from the rendering.
    pub stale: bool,
}

/// Why generation failed.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum Error {
    /// Templates failed to render.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Render(#[from] Problems),
    /// Output could not be written.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Output(#[from] crate::output::Error),
    /// A signal stopped the run: before the new tree was swapped in, the
    /// previous one is left as it was.
    #[error("interrupted")]
    Interrupted,
}

impl Error {
    /// 2 for templates that do not render, 130 for an interruption, and
    /// the output's own code otherwise (see [`output::Error::exit_code`]).
    #[must_use]
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Render(_) => 2,
            Self::Output(error) => error.exit_code(),
            Self::Interrupted => 130,
        }
    }
}

/// How a run that writes is steered from outside.
#[derive(Clone, Copy, Default)]
pub struct Control<'a> {
    /// Set when the run must stop (a signal came): looked at while waiting
    /// for another run and between targets.
    pub stop: Option<&'a AtomicBool>,
    /// Called once, with the lock file, when another run writing the same
    /// output has to be waited for.
    pub waiting: Option<&'a dyn Fn(&Path)>,
    /// The output's lock, taken by the caller with [`lock`] (a build holds
    /// it until its builds end): generation does not take it again.
    pub lock: Option<&'a Lock>,
}

/// Takes the lock of `destination`'s output directory, as generation
/// would, for a caller that must hold it past generation (a build, so that
/// no other run swaps its Dockerfiles while it builds them).
///
/// # Errors
/// When the output path is not what it must be, the lock cannot be taken,
/// or `control` says stop while another run is waited for.
pub fn lock(
    manifest: &Manifest,
    destination: &Destination,
    control: Control<'_>,
) -> Result<Lock, Error> {
    let never = AtomicBool::new(false);
    let output = output::resolve_directory(&destination.output)?;
    output::refuse_repo_or_parent(&output, &manifest.root)?;
    Lock::acquire(
        &output,
        control.stop.unwrap_or(&never),
        control.waiting.unwrap_or(&|_| {}),
    )
    .map_err(|e| match e {
        output::Error::Interrupted => Error::Interrupted,
        e => Error::Output(e),
    })
}

/// Renders every target of the matrix into `destination`, one target at a
/// time: memory does not grow with the number of targets. Never stopped,
/// and silent while it waits for another run: see [`generate_with`].
///
/// # Errors
/// When a template fails (nothing is written then) or output cannot be written.
pub fn generate(
    manifest: &Manifest,
    matrix: &Matrix,
    renderer: &Renderer,
    destination: &Destination,
) -> Result<Generated, Error> {
    generate_with(manifest, matrix, renderer, destination, Control::default())
}

/// [`generate`], steered by `control`. The output directory (and
/// `metadata.json`) must be a directory (a regular file) or not exist yet;
/// a symbolic link is followed. Writing runs on one output take turns under
/// its [`Lock`].
///
/// # Errors
/// When the output paths are not what they must be (before anything is
/// touched), a template fails (nothing is written then), output cannot be
/// written, or `control` says stop.
pub fn generate_with(
    manifest: &Manifest,
    matrix: &Matrix,
    renderer: &Renderer,
    destination: &Destination,
    control: Control<'_>,
) -> Result<Generated, Error> {
    let never = AtomicBool::new(false);
    let stop = control.stop.unwrap_or(&never);
    let stopped = || stop.load(Ordering::SeqCst);
    let output = output::resolve_directory(&destination.output)?;
    let metadata_path = destination
        .metadata
        .as_deref()
        .filter(|_| !destination.check_only)
        .map(output::resolve_file)
        .transpose()?;
    let mut tree = open_tree(manifest, renderer, &output, destination.check_only)?;
    let _lock = if destination.check_only || control.lock.is_some() {
        None
    } else {
        Some(lock(manifest, destination, control)?)
    };
    let mut metadata = metadata_path
        .as_deref()
        .map(MetadataWriter::new)
        .transpose()?;
    let mut summary = Generated {
        targets: 0,
        directories: 0,
        files: 0,
        unchanged: false,
        metadata_changed: false,
        stale: false,
    };
    let mut problems = Vec::new();
    let sink = Sink {
        tree: &mut tree,
        metadata: metadata.as_mut(),
        summary: &mut summary,
        problems: &mut problems,
    };
    write_targets(manifest, matrix, renderer, sink, &stopped)?;
    if !problems.is_empty() {
        return Err(Error::Render(Problems::new(problems)));
    }
    if stopped() {
        return Err(Error::Interrupted);
    }
    let (outcome, metadata_changed) = commit(tree, metadata)?;
    summary.metadata_changed = metadata_changed;
    summary.unchanged = outcome == Outcome::Unchanged;
    summary.stale = outcome == Outcome::Stale;
    // Past the swap the new tree (and its metadata) is whole: kept, but
    // the run still reports that it was told to stop.
    if stopped() {
        return Err(Error::Interrupted);
    }
    Ok(summary)
}

/// The tree that replaces `output` (or, only checking, is compared with
/// it), refusing an output that holds the manifest or its templates.
fn open_tree(
    manifest: &Manifest,
    renderer: &Renderer,
    output: &Path,
    check_only: bool,
) -> Result<Tree, Error> {
    if check_only {
        return Ok(Tree::check(output));
    }
    let templates: Vec<_> = manifest
        .distros
        .iter()
        .flat_map(|d| &d.releases)
        .map(|r| manifest.root.join(&r.spec.templates_dir))
        .collect();
    Ok(Tree::new(
        output,
        &manifest.file,
        &templates,
        &renderer.output_names(),
    )?)
}

/// Where rendered files go while a run renders: the tree, the metadata,
/// the counts, and the problems of templates that failed.
struct Sink<'s> {
    tree: &'s mut Tree,
    metadata: Option<&'s mut MetadataWriter>,
    summary: &'s mut Generated,
    problems: &'s mut Vec<Problem>,
}

/// Renders every target, then every package's README, into `sink`; a
/// failing template is a problem and the run goes on, to report them all.
fn write_targets(
    manifest: &Manifest,
    matrix: &Matrix,
    renderer: &Renderer,
    sink: Sink<'_>,
    stopped: &dyn Fn() -> bool,
) -> Result<(), Error> {
    let Sink {
        tree,
        mut metadata,
        summary,
        problems,
    } = sink;
    let cuda = cuda_of(manifest, matrix);
    let specs = specs(manifest);
    let mut shared = SharedDirectories::default();
    for target in matrix.targets(manifest) {
        if stopped() {
            return Err(Error::Interrupted);
        }
        let Some((meta, rendered)) = render_target(&specs, matrix, renderer, cuda, &target) else {
            continue;
        };
        summary.targets += 1;
        let rendered = match rendered {
            Ok(rendered) => rendered,
            Err(problem) => {
                problems.push(*problem);
                continue;
            }
        };
        if let Some(writer) = metadata.as_deref_mut() {
            writer.entry(&target.name, &meta)?;
        }
        match shared.first(matrix, &target, &rendered) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(problem) => {
                problems.push(problem);
                continue;
            }
        }
        let relative = target
            .directory
            .strip_prefix(&matrix.output_dir)
            .unwrap_or(&target.directory)
            .to_path_buf();
        summary.directories += 1;
        for (name, text) in rendered {
            tree.write(&relative.join(name), text.into_bytes())?;
            summary.files += 1;
        }
    }
    for package in &manifest.packages {
        match renderer.render_docs(matrix, manifest, &package.name) {
            Ok(Some(text)) => {
                tree.write(
                    &Path::new(&package.name).join("README.md"),
                    text.into_bytes(),
                )?;
                summary.files += 1;
            }
            Ok(None) => {}
            Err(problem) => problems.push(*problem),
        }
    }
    Ok(())
}

/// Puts the tree in place, and `metadata.json` right after the swap,
/// before the old tree is removed: a kill during that removal leaves both
/// new. Returns what the commit did, and whether the metadata changed.
fn commit(tree: Tree, mut metadata: Option<MetadataWriter>) -> Result<(Outcome, bool), Error> {
    let mut metadata_changed = false;
    let outcome = tree.commit_with(&mut || {
        if let Some(writer) = metadata.take() {
            metadata_changed = writer.finish()?;
        }
        Ok(())
    })?;
    if let Some(writer) = metadata {
        metadata_changed = writer.finish()?;
    }
    Ok((outcome, metadata_changed))
}
