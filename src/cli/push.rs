//! `push`: pushes the selected images to every enabled registry and
//! verifies each digest there. The original's `-pth` pushes through
//! [`push()`] too.

use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::Error;
use super::args::PushArgs;
use super::session::{self, Session};
use crate::engine::{Pusher, docker::Docker};
use crate::manifest::Manifest;
use crate::plan::{self, Plan, Selection, Target};
use crate::push::Push;
use crate::registry::{self, Enabled};
use crate::run::Summary;

/// How to push, whichever command line asked (`push`, the original's `-pth`).
#[derive(Debug)]
pub struct Settings {
    /// Pushes at once; the number of CPUs when `None`.
    pub jobs: Option<usize>,
    /// Attempts per push when the registry fails in a way that may pass.
    pub attempts: u32,
    /// The bound of each registry request, and of a push without progress.
    pub timeout: Duration,
    /// Where the JSON summary goes.
    pub report: Option<PathBuf>,
    /// Say what would be pushed where; push nothing.
    pub dry_run: bool,
}

/// `push`.
pub fn run(args: &PushArgs, out: &mut dyn Write) -> Result<(), Error> {
    let session = Session::open(&args.manifest.manifest)?;
    let plan = session.plan(&args.matrix.options(PathBuf::from("generated")))?;
    let settings = Settings {
        jobs: args.jobs,
        attempts: args.attempts,
        timeout: Duration::from_secs(args.timeout),
        report: args.report.clone(),
        dry_run: args.dry_run,
    };
    push(&session, &plan, &args.selection.selection(), &settings, out)
}

/// Pushes the selected targets of `plan` to every enabled registry, draws
/// the summary and writes the report.
pub fn push(
    session: &Session,
    plan: &Plan,
    selection: &Selection,
    settings: &Settings,
    out: &mut dyn Write,
) -> Result<(), Error> {
    let targets = plan::select(plan, selection)?;
    session::writable_report(settings.report.as_deref())?;
    let registries = session.registries()?;
    let jobs = crate::push::pushes(&targets, &registries, plan.attest.is_some());
    if settings.dry_run {
        return draw_dry_run(&session.manifest, &jobs, out).map_err(Error::Stdout);
    }
    let runtime = session::runtime()?;
    session::stop_async_work();
    let summary = runtime.block_on(async {
        let engine: Arc<dyn Pusher> =
            Arc::new(Docker::connect().await?.with_push_stall(settings.timeout));
        Ok::<_, Error>(
            push_with(
                &registries,
                &targets,
                plan.attest.is_some(),
                settings,
                engine,
            )
            .await,
        )
    })?;
    session::finish(&summary, settings.report.as_deref(), out)
}

/// The push stage: `targets` to every enabled registry, by `engine`,
/// verified with each registry; stops on Ctrl-C.
pub(super) async fn push_with(
    registries: &[Arc<Enabled>],
    targets: &[&Target],
    attest: bool,
    settings: &Settings,
    engine: Arc<dyn Pusher>,
) -> Summary {
    let jobs = crate::push::pushes(targets, registries, attest);
    let plain = plain(registries);
    let scrubber = Arc::new(registry::Scrubber::new(&plain));
    let api: Arc<dyn registry::Registry> =
        Arc::new(registry::Distribution::new(&plain, settings.timeout));
    let options = crate::push::PushOptions {
        jobs: session::jobs_or_cpus(settings.jobs),
        attempts: settings.attempts.max(1),
        backoff: Duration::from_millis(500),
    };
    let reporter = super::draw::progress(Some(jobs.len()));
    crate::push::push(
        jobs,
        engine,
        api,
        scrubber,
        &options,
        reporter,
        crate::interrupt::signalled(),
    )
    .await
}

/// Where each image would go, and the variables its credentials come from.
fn draw_dry_run(manifest: &Manifest, jobs: &[Push], out: &mut dyn Write) -> io::Result<()> {
    let rows: Vec<Vec<String>> = jobs
        .iter()
        .map(|job| {
            let variables = manifest
                .registries
                .iter()
                .find(|r| r.host == job.registry.host)
                .map(|r| {
                    [r.user.as_deref(), r.pwd.as_deref()]
                        .into_iter()
                        .flatten()
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default();
            vec![job.target.clone(), job.reference(), variables]
        })
        .collect();
    super::draw::table(&["TARGET", "PUSH TO", "CREDENTIALS FROM"], &rows, out)?;
    writeln!(out, "dry run: would push {} images", jobs.len())
}

/// The registries without their sharing.
pub fn plain(registries: &[Arc<Enabled>]) -> Vec<Enabled> {
    registries.iter().map(|r| (**r).clone()).collect()
}
