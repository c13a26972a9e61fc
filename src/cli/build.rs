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
use crate::engine::{self, Engine, Pusher, buildah::Buildah, buildx::Buildx, docker::Docker};
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
    /// What the registries have to do with the build.
    pub registries: RegistryUse,
}

/// What a build asks of the registries, and gives them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RegistryUse {
    /// Ask the first enabled registry before building (`--skip-pushed`).
    pub skip_pushed: bool,
    /// Push the selected images after building them (`build --push`).
    pub push: bool,
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
    /// BuildKit's bake on this buildx builder (else the current one).
    Bake {
        /// `--builder`.
        builder: Option<String>,
    },
}

impl EngineChoice {
    /// Whether it builds an image for several platforms at once.
    #[must_use]
    pub fn multi_platform(&self) -> bool {
        !matches!(self, Self::Docker)
    }

    /// The engine the flags name; `--builder` belongs to bake.
    pub(super) fn of(args: &EngineArgs) -> Result<Self, Error> {
        if args.builder.is_some() && args.engine != EngineArg::Bake {
            return Err(Error::BuilderWithoutBake);
        }
        Ok(match args.engine {
            EngineArg::Docker => Self::Docker,
            EngineArg::Buildah => Self::Buildah {
                storage_driver: args.storage_driver.clone(),
            },
            EngineArg::Bake => Self::Bake {
                builder: args.builder.clone(),
            },
        })
    }
}

impl EngineChoice {
    /// Connects to the engine, which is also what pushes its images (each
    /// push bounded by the registry timeout when it makes no progress).
    pub(super) async fn connect_pusher(
        &self,
    ) -> Result<(Arc<dyn Engine>, Arc<dyn Pusher>), engine::Error> {
        let stall = Duration::from_secs(super::args::REGISTRY_TIMEOUT);
        Ok(match self {
            Self::Docker => {
                let docker = Arc::new(Docker::connect().await?.with_push_stall(stall));
                (docker.clone(), docker)
            }
            Self::Bake { builder } => {
                let buildx = Arc::new(Buildx::connect(builder.as_deref()).await?);
                (buildx.clone(), buildx)
            }
            Self::Buildah { storage_driver } => {
                let buildah = Arc::new(Buildah::connect(storage_driver.as_deref()).await?);
                (buildah.clone(), buildah)
            }
        })
    }

    /// Connects to the engine.
    pub(super) async fn connect(&self) -> Result<Arc<dyn Engine>, engine::Error> {
        Ok(self.connect_pusher().await?.0)
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
            engine: EngineChoice::of(&flags.engine)?,
            jobs: flags.jobs,
            keep_going: flags.policy.keep_going,
            overwrite: flags.policy.overwrite,
            network: flags.network.clone(),
            build_args,
            timeout: Duration::from_secs(flags.timeout),
            report: flags.report.clone(),
            log_dir: flags.log_dir.clone(),
            mode,
            registries: RegistryUse {
                skip_pushed: flags.policy.skip_pushed,
                push: flags.push,
            },
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
            push_to: Vec::new(),
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
    // Refused before anything is built.
    if settings.mode != Mode::TestOnly
        && !settings.engine.multi_platform()
        && let Some(target) = targets.iter().find(|t| t.platforms.len() > 1)
    {
        return Err(Error::MultiPlatform {
            message: crate::engine::docker::multi_platform_refused(&target.name, &target.platforms),
        });
    }
    let manifest = &session.manifest;
    let mut options = settings.options(&manifest.root)?;
    if settings.registries.skip_pushed {
        options.skip_pushed = Some(published(session)?);
    }
    let dockerfiles: Vec<String> = plan
        .targets
        .iter()
        .map(|t| slash_path(&t.dockerfile))
        .collect();
    let context = Context::scan_keeping(&manifest.root, &dockerfiles, &plan.matrix.output_dir)
        .map_err(Error::Context)?;
    // Credentials are checked before anything is built.
    let push_to = if settings.registries.push && settings.mode != Mode::DryRun {
        Some(session.registries()?)
    } else {
        None
    };
    let runtime = session::runtime()?;
    session::stop_async_work();
    let summary = runtime.block_on(async {
        let (engine, pusher) = settings.engine.connect_pusher().await?;
        let context = Arc::new(context);
        if settings.mode == Mode::DryRun && engine.graph().is_some() {
            return bake_dry_run(plan, &targets, engine, context, &options, out).await;
        }
        if engine.graph().is_some() && settings.mode != Mode::BuildAndTest {
            // Bake pushes from the builder as it builds; with `--test` the
            // images are loaded, tested, and pushed after their tests pass.
            options.push_to = push_to.clone().unwrap_or_default();
        }
        let mut summary = build::build(
            plan,
            &targets,
            engine,
            context,
            &options,
            super::draw::progress(None),
            crate::interrupt::signalled(),
        )
        .await;
        if let Some(registries) = &push_to
            && summary.success()
        {
            let settings = super::push::Settings {
                jobs: settings.jobs,
                attempts: super::args::ATTEMPTS,
                timeout: Duration::from_secs(super::args::REGISTRY_TIMEOUT),
                report: None,
                dry_run: false,
            };
            // What the registry holds already (`--skip-pushed`) is not
            // pushed again: there is no local image of it.
            let local: Vec<&plan::Target> = selected
                .iter()
                .copied()
                .filter(|t| {
                    summary.targets.iter().any(|o| {
                        o.target == t.name && o.status != crate::run::Status::UpToDateInRegistry
                    })
                })
                .collect();
            let attest = plan.attest.is_some();
            let pushed =
                super::push::push_with(registries, &local, attest, &settings, pusher).await;
            summary.push = Some(Box::new(pushed));
        }
        Ok::<_, Error>(summary)
    })?;
    session::finish(&summary, settings.report.as_deref(), out)
}

/// A dry run on a whole-graph engine: every target decided, and the bake
/// file of the stale ones shown as the engine would get it.
async fn bake_dry_run(
    plan: &Plan,
    targets: &[&plan::Target],
    engine: Arc<dyn Engine>,
    context: Arc<Context>,
    options: &build::BuildOptions,
    out: &mut dyn Write,
) -> Result<crate::run::Summary, Error> {
    let started = std::time::Instant::now();
    let name = engine.name().to_string();
    let decisions = build::decide_all(
        plan,
        targets,
        engine,
        context,
        options,
        super::draw::progress(None),
    )
    .await;
    let file = build::of_decisions(plan, targets, &decisions, &[], build::Which::Stale)?;
    if file.target.is_empty() {
        writeln!(out, "nothing to bake: no target is stale").map_err(Error::Stdout)?;
    } else {
        write!(
            out,
            "the bake file this build would run:\n{}",
            file.to_json()
        )
        .map_err(Error::Stdout)?;
    }
    Ok(crate::run::Summary {
        work: crate::run::Work::Build,
        engine: name,
        targets: decisions.into_iter().map(|d| d.outcome).collect(),
        checks: Vec::new(),
        interrupted: false,
        seconds: started.elapsed().as_secs_f64(),
        push: None,
    })
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
    fn builder_belongs_to_bake() {
        let cli = Cli::try_parse_from(["bentoml-docker", "build", "--builder", "k8s"]).unwrap();
        let Some(Command::Build(build)) = cli.command else {
            panic!("not a build")
        };
        assert!(matches!(
            Settings::of_flags(&build.build),
            Err(Error::BuilderWithoutBake)
        ));
        let bake = settings(&["--engine", "bake", "--builder", "k8s", "--push"]);
        assert_eq!(
            bake.engine,
            EngineChoice::Bake {
                builder: Some("k8s".into())
            }
        );
        assert!(bake.registries.push);
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
