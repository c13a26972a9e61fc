//! `check`: catches template bugs before any build, on what generation
//! wrote. Every generated Dockerfile must parse; every `FROM` must name a
//! stage of the same file, a base image of the manifest or a target of the
//! plan; every `COPY`/`ADD` source must exist in the build context; the
//! variables of a `FROM` must be declared by an `ARG` before it (`rules`).
//! A stale `generated/` is reported too, file by file, against a fresh
//! generation ([`against_fresh`]).

mod rules;

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::diagnostic::Problem;
use crate::generate::{self, Control, Destination};
use crate::manifest::Manifest;
use crate::output;
use crate::plan::Matrix;
use crate::render::Renderer;
use crate::render::metadata::slash_path;

pub use rules::dockerfiles;

/// How a tree on disk differs from what generation writes now, by path
/// relative to the tree, sorted.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Stale {
    /// Files whose contents are not what the templates render.
    pub differ: Vec<String>,
    /// Files generation writes that the tree lacks.
    pub missing: Vec<String>,
    /// Files of the tree that no template renders.
    pub extra: Vec<String>,
    /// The tree does not exist at all (every file is missing).
    pub absent: bool,
}

impl Stale {
    /// True when the tree is what generation writes.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.differ.is_empty() && self.missing.is_empty() && self.extra.is_empty()
    }
}

/// Compares `actual` (the tree on disk; it may not exist) with `expected`
/// (a fresh generation), file by file.
///
/// # Errors
/// When either tree cannot be read.
pub fn compare(expected: &Path, actual: &Path) -> std::io::Result<Stale> {
    let wanted = files(expected)?;
    let mut stale = Stale {
        absent: !actual.exists(),
        ..Stale::default()
    };
    let found = if stale.absent {
        BTreeSet::new()
    } else {
        files(actual)?
    };
    for file in &wanted {
        if !found.contains(file) {
            stale.missing.push(slash_path(file));
        } else if !std::fs::metadata(actual.join(file)).is_ok_and(|m| m.is_file())
            || std::fs::read(expected.join(file))? != std::fs::read(actual.join(file))?
        {
            // Never opened unless a regular file: a fifo would block the read.
            stale.differ.push(slash_path(file));
        }
    }
    stale.extra = found.difference(&wanted).map(|f| slash_path(f)).collect();
    Ok(stale)
}

/// Every file under `root` (symbolic links included, directories not), relative to it.
fn files(root: &Path) -> std::io::Result<BTreeSet<PathBuf>> {
    let mut found = BTreeSet::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(relative) = pending.pop() {
        for entry in std::fs::read_dir(root.join(&relative))? {
            let entry = entry?;
            let path = relative.join(entry.file_name());
            if entry.file_type()?.is_dir() {
                pending.push(path);
            } else {
                found.insert(path);
            }
        }
    }
    Ok(found)
}

/// The problem a stale tree is: which files, and how to bring it up to date
/// (`regenerate`: the command that does). At most `LISTED` files are named.
#[must_use]
pub fn stale_problem(output: &Path, stale: &Stale, regenerate: &str) -> Option<Problem> {
    const LISTED: usize = 20;
    if stale.is_empty() {
        return None;
    }
    if stale.absent {
        return Some(
            Problem::plain(format!(
                "`{}` does not exist: {} files were never generated",
                output.display(),
                stale.missing.len()
            ))
            .help(format!("run `{regenerate}` and commit the result")),
        );
    }
    let mut counts = Vec::new();
    for (files, one, many) in [
        (&stale.differ, "differs", "differ"),
        (&stale.missing, "is missing", "are missing"),
        (&stale.extra, "is extra", "are extra"),
    ] {
        match files.len() {
            0 => {}
            1 => counts.push(format!("1 file {one}")),
            n => counts.push(format!("{n} files {many}")),
        }
    }
    let mut message = format!("`{}` is stale: {}", output.display(), join_words(&counts));
    let listed = stale
        .differ
        .iter()
        .map(|f| ("differs:", f, ""))
        .chain(stale.missing.iter().map(|f| ("missing:", f, "")))
        .chain(
            stale
                .extra
                .iter()
                .map(|f| ("extra:  ", f, " (no template renders it)")),
        );
    let total = stale.differ.len() + stale.missing.len() + stale.extra.len();
    for (what, file, why) in listed.take(LISTED) {
        let _ = write!(message, "\n  {what} {file}{why}");
    }
    if total > LISTED {
        let _ = write!(message, "\n  ... and {} more", total - LISTED);
    }
    Some(Problem::plain(message).help(format!(
        "it is not what the manifest and templates generate now (they changed since, or it was \
         edited by hand): run `{regenerate}` and commit the result"
    )))
}

/// `a`, `a and b`, `a, b and c`.
fn join_words(parts: &[String]) -> String {
    match parts {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// What differs between `output` and a fresh generation of `matrix` (made
/// in a temporary directory that goes with the return), compared file by
/// file. `stop`, when set, stops the generation; an interruption is
/// [`generate::Error::Interrupted`].
///
/// # Errors
/// When `output` is not a directory, or generation or reading fails.
pub fn against_fresh(
    manifest: &Manifest,
    matrix: &Matrix,
    renderer: &Renderer,
    output: &Path,
    stop: Option<&AtomicBool>,
) -> Result<Stale, generate::Error> {
    // Never read a file, a device or a fifo as if it were the tree.
    output::resolve_directory(output).map_err(generate::Error::Output)?;
    let fresh = tempfile::Builder::new()
        .prefix("bentoml-docker-check-")
        .tempdir()
        .map_err(|source| {
            generate::Error::Output(output::Error::Io {
                action: "create a directory in",
                path: std::env::temp_dir(),
                source,
            })
        })?;
    let rendered = fresh.path().join("generated");
    let destination = Destination {
        output: rendered.clone(),
        metadata: None,
        check_only: false,
    };
    let control = Control {
        stop,
        waiting: None,
        lock: None,
    };
    generate::generate_with(manifest, matrix, renderer, &destination, control)?;
    let stale = compare(&rendered, output).map_err(|source| {
        generate::Error::Output(output::Error::Io {
            action: "read",
            path: output.to_path_buf(),
            source,
        })
    })?;
    if stop.is_some_and(|flag| flag.load(Ordering::SeqCst)) {
        return Err(generate::Error::Interrupted);
    }
    Ok(stale)
}

#[cfg(test)]
mod tests {
    use super::{Stale, stale_problem};
    use std::path::Path;

    #[test]
    fn a_stale_tree_names_twenty_files_and_counts_the_rest() {
        let stale = Stale {
            differ: (0..24).map(|i| format!("p/d{i}/Dockerfile")).collect(),
            missing: vec!["p/new/Dockerfile".into()],
            ..Stale::default()
        };
        let problem = stale_problem(Path::new("generated"), &stale, "bentoml-docker generate")
            .expect("stale");
        let message = problem.message();
        assert!(
            message.starts_with("`generated` is stale: 24 files differ and 1 file is missing\n"),
            "{message}"
        );
        assert_eq!(message.matches("\n  differs: ").count(), 20, "{message}");
        assert!(!message.contains("missing: p/new"), "{message}");
        assert!(message.ends_with("\n  ... and 5 more"), "{message}");
        assert!(stale_problem(Path::new("g"), &Stale::default(), "x").is_none());
    }
}
