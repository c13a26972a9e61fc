//! The one place a command opens and finishes: the manifest and its
//! templates loaded (every problem of both together), the output directory
//! resolved, the plan made, the registries enabled, the runtime started and
//! the stop signals watched; then, at the end of a run, its report written
//! and its outcome turned into an exit.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use serde::Serialize;

use super::Error;
use crate::diagnostic::Problems;
use crate::manifest::{self, Manifest};
use crate::plan::{self, Plan};
use crate::registry::{self, Enabled};
use crate::render::{Limits, Renderer};
use crate::run::{Status, Summary, Work};

/// A loaded images repo: the manifest and its compiled templates.
pub struct Session {
    /// The checked manifest.
    pub manifest: Manifest,
    /// Its templates, compiled.
    pub renderer: Renderer,
}

/// Where Dockerfiles go: as given (or `generated` in the images repo), and
/// as the plan records it (relative to the images repo when inside it).
pub struct OutputDir {
    /// The directory as the user gave it.
    pub path: PathBuf,
    /// The directory as the plan and the templates see it.
    pub relative: PathBuf,
}

impl Session {
    /// Loads the manifest at `path` and compiles its templates, every
    /// problem of both reported together.
    pub fn open(path: &Path) -> Result<Self, Error> {
        let limits = Limits::from_env().map_err(|p| Error::Invalid(Problems::new(vec![*p])))?;
        let checked = manifest::check(path)?;
        let mut problems = checked.problems;
        let renderer = match &checked.manifest {
            Some(manifest) => Renderer::with_limits(manifest, limits)
                .map_err(|p| problems.extend(p))
                .ok(),
            None => None,
        };
        match (checked.manifest, renderer) {
            (Some(manifest), Some(renderer)) if problems.is_empty() => {
                Ok(Self { manifest, renderer })
            }
            _ => Err(Error::Invalid(Problems::new(problems))),
        }
    }

    /// The output directory: `given`, else `generated` in the images repo.
    pub fn output_dir(&self, given: Option<&Path>) -> OutputDir {
        let Some(given) = given else {
            return OutputDir {
                path: self.manifest.root.join("generated"),
                relative: PathBuf::from("generated"),
            };
        };
        let relative = std::path::absolute(given)
            .ok()
            .zip(std::path::absolute(&self.manifest.root).ok())
            .and_then(|(out, root)| out.strip_prefix(root).ok().map(Path::to_path_buf))
            .unwrap_or_else(|| given.to_path_buf());
        OutputDir {
            path: given.to_path_buf(),
            relative,
        }
    }

    /// Every target the options ask of the manifest.
    pub fn plan(&self, options: &plan::Options) -> Result<Plan, Error> {
        Ok(Plan::new(&self.manifest, options)?)
    }

    /// The enabled registries, with what pushes need; the `.env` warnings
    /// are printed here. None enabled is an error: there is nothing to do.
    pub fn registries(&self) -> Result<Vec<Arc<Enabled>>, Error> {
        let manifest = &self.manifest;
        let variables = registry::Variables::load(&manifest.root)?;
        for warning in &variables.warnings {
            eprintln!("warning: {warning}");
        }
        let enabled = registry::enabled(manifest, &variables)?;
        if enabled.is_empty() {
            let switches: Vec<String> = manifest
                .registries
                .iter()
                .filter_map(|r| {
                    r.only_if
                        .as_ref()
                        .map(|v| format!("`{v}` for `{}`", r.host))
                })
                .collect();
            return Err(Error::NoRegistry {
                help: if switches.is_empty() {
                    "declare one under `repository` in the manifest".into()
                } else {
                    format!(
                        "a registry is used when its `only_if` variable is set: {}",
                        switches.join(", ")
                    )
                },
            });
        }
        Ok(enabled.into_iter().map(Arc::new).collect())
    }
}

/// Starts watching the stop signals: every command exits 130 on one, at
/// once while it only reads, cleanly once it writes or builds (see
/// [`stop_flag`] and [`stop_async_work`]).
pub fn watch_signals() {
    crate::interrupt::watch();
}

/// From now on a signal stops the synchronous work where it looks at the
/// returned flag (`None` when signals cannot be watched).
pub fn stop_flag() -> Option<&'static AtomicBool> {
    let watch = crate::interrupt::watch()?;
    watch.cooperate();
    Some(watch.flag())
}

/// From now on the async work stops what it started on a signal
/// (it awaits [`crate::interrupt::signalled`]).
pub fn stop_async_work() {
    crate::interrupt::cooperate();
}

/// The runtime of the commands that talk to an engine or a registry.
pub fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(Error::Runtime)
}

/// `--jobs`, by default the number of CPUs.
pub fn jobs_or_cpus(given: Option<usize>) -> usize {
    given.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
}

/// A `--report` path that can be written, checked before any work: a long
/// run should not end in failing to write its report.
pub fn writable_report(path: Option<&Path>) -> Result<(), Error> {
    let Some(path) = path else { return Ok(()) };
    if path.is_dir() {
        return Err(Error::ReportIsADirectory {
            path: path.to_path_buf(),
        });
    }
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !parent.is_dir() {
        return Err(Error::ReportDirectoryMissing {
            path: path.to_path_buf(),
            parent: parent.to_path_buf(),
        });
    }
    Ok(())
}

/// Ends a build, test or push run: draws its summary, writes it as JSON
/// to `report` (when asked), then says an interruption (130) or what
/// failed.
pub fn finish(
    summary: &Summary,
    report: Option<&Path>,
    out: &mut dyn std::io::Write,
) -> Result<(), Error> {
    super::draw::summary(summary, out).map_err(Error::Stdout)?;
    // The pushes that followed a build, under it in the report.
    if let Some(push) = &summary.push {
        super::draw::summary(push, out).map_err(Error::Stdout)?;
    }
    write_report(report, summary)?;
    judge(summary)?;
    summary.push.as_deref().map_or(Ok(()), judge)
}

/// The error a run's summary ends the program with, if any.
fn judge(summary: &Summary) -> Result<(), Error> {
    if summary.interrupted {
        return Err(Error::Interrupted);
    }
    if summary.success() {
        return Ok(());
    }
    let failed = summary.count(&Status::Failed);
    let skipped = summary.count(&Status::Skipped);
    Err(match summary.work {
        Work::Build => Error::BuildFailed { failed, skipped },
        Work::Test => Error::TestsFailed { failed, skipped },
        Work::Push => Error::PushFailed { failed, skipped },
    })
}

/// Writes `value` as JSON to `report` (when asked), atomically.
pub fn write_report<T: Serialize>(report: Option<&Path>, value: &T) -> Result<(), Error> {
    let Some(path) = report else {
        return Ok(());
    };
    let failed = |source| Error::Report {
        path: path.to_path_buf(),
        source,
    };
    let mut json = serde_json::to_vec_pretty(value).map_err(|e| {
        failed(crate::output::Error::Io {
            action: "write",
            path: path.to_path_buf(),
            source: e.into(),
        })
    })?;
    json.push(b'\n');
    crate::output::write_whole(path, &json).map_err(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_in_a_missing_directory_is_refused_before_any_work() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nowhere/report.json");
        let error = writable_report(Some(&path)).unwrap_err();
        assert!(
            matches!(&error, Error::ReportDirectoryMissing { parent, .. } if *parent == dir.path().join("nowhere")),
            "{error:?}"
        );
        assert_eq!(error.exit_code(), 2);
        assert!(matches!(
            writable_report(Some(dir.path())),
            Err(Error::ReportIsADirectory { .. })
        ));
    }

    /// A push run with one failed push.
    fn summary(interrupted: bool) -> Summary {
        Summary {
            work: Work::Push,
            engine: "docker".into(),
            targets: vec![crate::run::Outcome::new("app:1", Status::Failed)],
            checks: Vec::new(),
            interrupted,
            seconds: 0.0,
            push: None,
        }
    }

    #[test]
    fn a_report_that_cannot_be_written_is_a_report_error_not_standard_output() {
        let dir = tempfile::tempdir().unwrap();
        // A report whose directory became a file during the run.
        std::fs::write(dir.path().join("gone"), "").unwrap();
        let path = dir.path().join("gone/report.json");
        let error = finish(&summary(false), Some(&path), &mut Vec::new()).unwrap_err();
        assert!(
            matches!(&error, Error::Report { path: p, .. } if *p == path),
            "{error:?}"
        );
    }

    #[test]
    fn an_interruption_outranks_failures_but_the_report_is_written_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.json");
        let mut out = Vec::new();
        let error = finish(&summary(true), Some(&path), &mut out).unwrap_err();
        assert!(matches!(error, Error::Interrupted));
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(report["targets"][0]["status"], "failed");
        assert!(String::from_utf8(out).unwrap().contains("1 failed"));
        let error = finish(&summary(false), Some(&path), &mut Vec::new()).unwrap_err();
        assert!(
            matches!(error, Error::PushFailed { failed: 1, .. }),
            "{error:?}"
        );
    }
}
