//! `status`: the plan compared with what each registry holds (missing,
//! stale and extra tags), as a table and optionally as JSON.

use std::io::{self, Write};
use std::path::PathBuf;
use std::time::Duration;

use super::Error;
use super::args::StatusArgs;
use super::session::{self, Session};
use crate::context::Context;
use crate::engine::{Engine, docker::Docker};
use crate::plan;
use crate::registry;
use crate::status::{Recipes, State, TagState};
use std::sync::Arc;

/// `status`.
pub fn run(args: &StatusArgs, out: &mut dyn Write) -> Result<(), Error> {
    let session = Session::open(&args.manifest.manifest)?;
    let options = args.matrix.options(PathBuf::from("generated"));
    let plan = session.plan(&options)?;
    let selected = plan::select(&plan, &args.selection.selection())?;
    // A dependent is judged against its base: both are shown, as `build`
    // builds both.
    let targets = plan::with_dependencies(&plan, &selected);
    session::writable_report(args.report.as_deref())?;
    let recipes = recipes(&session, &plan)?;
    // "Extra" is judged against the whole matrix, not the selection.
    let produced = crate::status::produced(&session.manifest, &options)?;
    let registries = session.registries()?;
    let plain = super::push::plain(&registries);
    let scrubber = registry::Scrubber::new(&plain);
    let timeout = Duration::from_secs(args.timeout);
    let api = registry::Distribution::new(&plain, timeout);
    let runtime = session::runtime()?;
    let states = runtime.block_on(async {
        // The daemon is bounded as the registries are, not by bollard's 120 s.
        let engine = tokio::time::timeout(timeout, Docker::connect())
            .await
            .ok()
            .and_then(Result::ok)
            .map(|docker| docker.with_request_timeout(timeout));
        crate::status::status(
            &targets,
            &produced,
            &registries,
            &api,
            engine.as_ref().map(|e| e as &dyn Engine),
            &recipes,
            &scrubber,
        )
        .await
    });
    draw(&states, out).map_err(Error::Stdout)?;
    let not_current = states.iter().filter(|s| !s.state.fine()).count();
    session::write_report(args.report.as_deref(), &states)?;
    if not_current > 0 {
        return Err(Error::NotCurrent { count: not_current });
    }
    Ok(())
}

/// The plan's images as `build` would hash them from `generated/` now; a
/// `generated/` that is not current is said first, as the hashes are of
/// what it holds.
fn recipes(session: &Session, plan: &plan::Plan) -> Result<Recipes, Error> {
    let root = &session.manifest.root;
    let output = root.join(&plan.matrix.output_dir);
    let destination = crate::generate::Destination {
        output,
        metadata: None,
        check_only: true,
    };
    let generated = crate::generate::generate(
        &session.manifest,
        &plan.matrix,
        &session.renderer,
        &destination,
    )?;
    if generated.stale {
        eprintln!(
            "note: `{}` is not current: stale tags are judged by what it holds now (`bentoml-docker generate` brings it up to date)",
            plan.matrix.output_dir.display()
        );
    }
    let dockerfiles: Vec<String> = plan
        .targets
        .iter()
        .map(|t| crate::render::metadata::slash_path(&t.dockerfile))
        .collect();
    let context = Context::scan_keeping(root, &dockerfiles, &plan.matrix.output_dir)
        .map_err(Error::Context)?;
    Ok(Recipes::new(Arc::new(context)).with_attestations(plan.attest.is_some()))
}

/// The table, and how many tags are current.
fn draw(states: &[TagState], out: &mut dyn Write) -> io::Result<()> {
    let rows: Vec<Vec<String>> = states
        .iter()
        .map(|s| {
            vec![
                s.reference.clone(),
                s.state.as_str().to_string(),
                s.digest.clone().unwrap_or_default(),
                s.reason.clone().unwrap_or_default(),
            ]
        })
        .collect();
    super::draw::table(&["TAG", "STATE", "DIGEST", "WHY"], &rows, out)?;
    let not_current = states.iter().filter(|s| !s.state.fine()).count();
    let other_releases = states
        .iter()
        .filter(|s| s.state == State::OtherRelease)
        .count();
    write!(
        out,
        "{} current, {not_current} not",
        states.len() - not_current - other_releases
    )?;
    if other_releases > 0 {
        write!(out, ", {other_releases} of other releases")?;
    }
    writeln!(out)
}
