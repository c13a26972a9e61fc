//! `export bake`: generates, decides every selected target (and what it is
//! built FROM) as `build` would, and writes them as a `docker buildx bake`
//! file, labelled as `build` labels its images.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::Error;
use super::args::{Export, ExportBakeArgs};
use super::build::{EngineChoice, Settings};
use super::session::{self, Session};
use crate::build::{self, Mode, Which};
use crate::context::Context;
use crate::plan;
use crate::registry;
use crate::render::metadata::slash_path;

/// The bake file's name beside the Dockerfiles' directory.
const BAKE_FILE: &str = "docker-bake.json";

/// `export`.
pub fn run(export: &Export, out: &mut dyn Write) -> Result<(), Error> {
    match export {
        Export::Bake(args) => bake_file(args, out),
        Export::GithubMatrix(args) => super::matrix::run(args, out),
    }
}

/// Where the bake file goes: `None` for standard output.
fn destination(args: &ExportBakeArgs, dockerfiles: &Path) -> Option<PathBuf> {
    match &args.file {
        Some(path) if path == Path::new("-") => None,
        Some(path) => Some(path.clone()),
        None => Some(
            dockerfiles
                .parent()
                .unwrap_or_else(|| Path::new("."))
                .join(BAKE_FILE),
        ),
    }
}

fn bake_file(args: &ExportBakeArgs, out: &mut dyn Write) -> Result<(), Error> {
    let session = Session::open(&args.manifest.manifest)?;
    let output = session.output_dir(args.dockerfile_dir.as_deref());
    let plan = session.plan(&args.matrix.options(output.relative))?;
    let selected = plan::select(&plan, &args.selection.selection())?;
    let targets = plan::with_dependencies(&plan, &selected);
    let file = destination(args, &output.path);
    // Standard output may be the bake file itself: what generation says
    // goes to standard error then.
    let mut stderr = std::io::stderr();
    let said: &mut dyn Write = if file.is_some() { out } else { &mut stderr };
    let _lock =
        super::generate::generate_into(&session, &plan.matrix, &output.path, None, false, said)?;
    let root = &session.manifest.root;
    let dockerfiles: Vec<String> = plan
        .targets
        .iter()
        .map(|t| slash_path(&t.dockerfile))
        .collect();
    let context = Context::scan_keeping(root, &dockerfiles, &plan.matrix.output_dir)
        .map_err(Error::Context)?;
    // Decided as a dry run: nothing is pulled; a base image the daemon
    // lacks counts as unresolved in the hashes.
    let settings = Settings {
        engine: EngineChoice::Docker,
        jobs: None,
        keep_going: false,
        overwrite: false,
        network: None,
        build_args: Vec::new(),
        timeout: Duration::from_secs(3600),
        report: None,
        log_dir: None,
        mode: Mode::DryRun,
        registries: super::build::RegistryUse::default(),
    };
    let options = settings.options(root)?;
    let runtime = session::runtime()?;
    session::stop_async_work();
    let decisions = runtime.block_on(async {
        let engine = settings.engine.connect().await?;
        let decisions = build::decide_all(
            &plan,
            &targets,
            engine,
            Arc::new(context),
            &options,
            super::draw::progress(None),
        )
        .await;
        Ok::<_, Error>(decisions)
    })?;
    let variables = registry::Variables::load(root)?;
    let repositories = registry::repositories(&session.manifest, &variables);
    let bake = build::of_decisions(&plan, &targets, &decisions, &repositories, Which::All)?;
    let json = bake.to_json();
    match file {
        None => writeln!(out, "{json}").map_err(Error::Stdout),
        Some(path) => {
            crate::output::write_whole(&path, format!("{json}\n").as_bytes()).map_err(
                |source| Error::BakeFile {
                    path: path.clone(),
                    source,
                },
            )?;
            writeln!(
                out,
                "wrote {} bake targets to `{}`",
                bake.target.len(),
                path.display()
            )
            .map_err(Error::Stdout)
        }
    }
}
