//! `build`: generates, then builds the selected images (and what they are
//! built FROM) in dependency order, skipping what is up to date. `test`
//! and the original's `-bi` build through [`build()`] with their own
//! [`Settings`].

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::Error;
use super::args::{BuildArgs, BuildFlags, EngineArg, EngineArgs};
use super::session::{self, Session};
use crate::build::{self, Mode};
use crate::context::Context;
use crate::engine::{self, Engine, buildah::Buildah, docker::Docker};
use crate::generate::{self, Destination};
use crate::plan::{self, Plan, Selection};
use crate::render::metadata::slash_path;

/// How a build runs, whichever command line asked for it (`build`,
/// `test`, the original's `-bi`).
#[derive(Debug)]
pub struct Settings {
    /// The builder.
    pub engine: EngineChoice,
    /// Builds at once; the number of CPUs when `None`.
    pub jobs: Option<usize>,
    /// After a failure, go on with everything that does not depend on it.
    pub keep_going: bool,
    /// Rebuild even what is up to date.
    pub overwrite: bool,
    /// Ask the first enabled registry before building (`--skip-pushed`).
    pub skip_pushed: bool,
    /// Network mode of `RUN` steps.
    pub network: Option<String>,
    /// Extra build arguments, over the plan's.
    pub build_args: Vec<(String, String)>,
    /// Time allowed to each build.
    pub timeout: Duration,
    /// Where the JSON summary goes.
    pub report: Option<PathBuf>,
    /// Where logs go; `.bentoml-docker/logs` in the images repo when `None`.
    pub log_dir: Option<PathBuf>,
    /// What is done with each target.
    pub mode: Mode,
}

/// Which engine builds (or holds) the images.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EngineChoice {
    /// The Docker daemon.
    Docker,
    /// buildah, with this storage driver (else `STORAGE_DRIVER`, else its own).
    Buildah {
        /// `--storage-driver`.
        storage_driver: Option<String>,
    },
}

impl From<&EngineArgs> for EngineChoice {
    fn from(args: &EngineArgs) -> Self {
        match args.engine {
            EngineArg::Docker => Self::Docker,
            EngineArg::Buildah => Self::Buildah {
                storage_driver: args.storage_driver.clone(),
            },
        }
    }
}

impl EngineChoice {
    /// Connects to the engine.
    pub(super) async fn connect(&self) -> Result<Arc<dyn Engine>, engine::Error> {
        Ok(match self {
            Self::Docker => Arc::new(Docker::connect().await?),
            Self::Buildah { storage_driver } => {
                Arc::new(Buildah::connect(storage_driver.as_deref()).await?)
            }
        })
    }
}

impl Settings {
    /// `build`'s flags as settings.
    pub fn of_flags(flags: &BuildFlags) -> Result<Self, Error> {
        let build_args = flags
            .build_args
            .iter()
            .map(|arg| match arg.split_once('=') {
                Some((name, value)) => Ok((name.to_string(), value.to_string())),
                None => Err(Error::BuildArg { arg: arg.clone() }),
            })
            .collect::<Result<_, _>>()?;
        let mode = match (flags.dry_run, flags.test) {
            (true, _) => Mode::DryRun,
            (false, true) => Mode::BuildAndTest,
            (false, false) => Mode::Build,
        };
        Ok(Self {
            engine: EngineChoice::from(&flags.engine),
            jobs: flags.jobs,
            keep_going: flags.policy.keep_going,
            overwrite: flags.policy.overwrite,
            skip_pushed: flags.policy.skip_pushed,
            network: flags.network.clone(),
            build_args,
            timeout: Duration::from_secs(flags.timeout),
            report: flags.report.clone(),
            log_dir: flags.log_dir.clone(),
            mode,
        })
    }

    /// The build stage's options, with what the images repo adds: its Git
    /// labels, `SOURCE_DATE_EPOCH`, and a log directory that can be written.
    pub(super) fn options(&self, root: &Path) -> Result<build::BuildOptions, Error> {
        let source_date_epoch =
            build::source_date_epoch(std::env::var("SOURCE_DATE_EPOCH").ok().as_deref())
                .map_err(|message| Error::SourceDateEpoch { message })?;
        let log_dir = self
            .log_dir
            .clone()
            .unwrap_or_else(|| root.join(crate::context::STATE_DIR).join("logs"));
        build::log::check_directory(&log_dir).map_err(|why| Error::LogDir {
            path: log_dir.clone(),
            why,
        })?;
        Ok(build::BuildOptions {
            jobs: session::jobs_or_cpus(self.jobs),
            keep_going: self.keep_going,
            overwrite: self.overwrite,
            network: self.network.clone(),
            timeout: self.timeout,
            build_args: self.build_args.clone(),
            labels: crate::git::labels(root),
            source_date_epoch,
            log_dir,
            mode: self.mode,
            skip_pushed: None,
        })
    }
}

/// `build`.
pub fn run(args: &BuildArgs, out: &mut dyn Write) -> Result<(), Error> {
    let session = Session::open(&args.manifest.manifest)?;
    let output = session.output_dir(args.output.output.as_deref());
    let plan = session.plan(&args.matrix.options(output.relative))?;
    let selection = args.selection.selection();
    let settings = Settings::of_flags(&args.build)?;
    // Invalid input is found before anything is written.
    plan::select(&plan, &selection)?;
    session::writable_report(settings.report.as_deref())?;
    // Held from regeneration to the end of the builds: no other run swaps
    // the Dockerfiles being built.
    let _lock = if settings.mode == Mode::DryRun {
        note_stale(&session, &plan, &output.path, out)?;
        None
    } else {
        super::generate::generate_into(&session, &plan.matrix, &output.path, None, false, out)?
    };
    build(&session, &plan, &selection, &settings, out)
}

/// A dry run builds nothing, so it does not regenerate: it says when the
/// Dockerfiles it judges are not those a build would regenerate.
fn note_stale(
    session: &Session,
    plan: &Plan,
    output: &Path,
    out: &mut dyn Write,
) -> Result<(), Error> {
    let destination = Destination {
        output: output.to_path_buf(),
        metadata: None,
        check_only: true,
    };
    let generated = generate::generate(
        &session.manifest,
        &plan.matrix,
        &session.renderer,
        &destination,
    )?;
    if generated.stale {
        writeln!(
            out,
            "note: `{}` is stale; a build regenerates it first, and this dry run judges the Dockerfiles there now",
            output.display()
        )
        .map_err(Error::Stdout)?;
    }
    Ok(())
}

/// Builds (or tests) the selected targets of `plan` and what they are
/// built FROM, draws the summary and writes the report.
pub fn build(
    session: &Session,
    plan: &Plan,
    selection: &Selection,
    settings: &Settings,
    out: &mut dyn Write,
) -> Result<(), Error> {
    let selected = plan::select(plan, selection)?;
    session::writable_report(settings.report.as_deref())?;
    let targets = plan::with_dependencies(plan, &selected);
    let manifest = &session.manifest;
    let mut options = settings.options(&manifest.root)?;
    if settings.skip_pushed {
        options.skip_pushed = Some(published(session)?);
    }
    let dockerfiles: Vec<String> = plan
        .targets
        .iter()
        .map(|t| slash_path(&t.dockerfile))
        .collect();
    let context = Context::scan_keeping(&manifest.root, &dockerfiles, &plan.matrix.output_dir)
        .map_err(Error::Context)?;
    let runtime = session::runtime()?;
    session::stop_async_work();
    let summary = runtime.block_on(async {
        let engine = settings.engine.connect().await?;
        let summary = build::build(
            plan,
            &targets,
            engine,
            Arc::new(context),
            &options,
            super::draw::progress(None),
            crate::interrupt::signalled(),
        )
        .await;
        Ok::<_, Error>(summary)
    })?;
    session::finish(&summary, settings.report.as_deref(), out)
}

/// The registry `--skip-pushed` asks: the first enabled one.
fn published(session: &Session) -> Result<crate::registry::Published, Error> {
    let registries = session.registries()?;
    let plain = super::push::plain(&registries);
    let timeout = Duration::from_secs(super::args::REGISTRY_TIMEOUT);
    let api = crate::registry::Distribution::new(&plain, timeout);
    Ok(crate::registry::Published::new(
        Arc::new(api),
        Arc::clone(&registries[0]),
        Arc::new(crate::registry::Scrubber::new(&plain)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::args::{Cli, Command};
    use clap::Parser;

    fn settings(args: &[&str]) -> Settings {
        let cli = Cli::parse_from(["bentoml-docker", "build"].iter().chain(args));
        let Some(Command::Build(build)) = cli.command else {
            panic!("not a build")
        };
        Settings::of_flags(&build.build).unwrap()
    }

    #[test]
    fn a_dry_run_with_test_runs_no_tests() {
        let dry = settings(&["--dry-run", "--test"]);
        assert_eq!(dry.mode, Mode::DryRun);
        let repo = tempfile::tempdir().unwrap();
        let options = dry.options(repo.path()).unwrap();
        assert_eq!(options.mode, Mode::DryRun);
    }

    #[test]
    fn build_flags_become_settings() {
        let settings = settings(&[
            "-k",
            "--engine",
            "buildah",
            "--storage-driver",
            "vfs",
            "--build-arg",
            "A=b=c",
            "--test",
        ]);
        assert!(settings.keep_going && !settings.overwrite);
        assert_eq!(settings.mode, Mode::BuildAndTest);
        assert_eq!(settings.build_args, [("A".into(), "b=c".into())]);
        assert_eq!(
            settings.engine,
            EngineChoice::Buildah {
                storage_driver: Some("vfs".into())
            }
        );
    }
}
