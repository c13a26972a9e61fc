//! `status`: the plan compared with what each registry holds (missing,
//! stale and extra tags), as a table and optionally as JSON.

use std::io::{self, Write};
use std::path::PathBuf;
use std::time::Duration;

use super::Error;
use super::args::StatusArgs;
use super::session::{self, Session};
use crate::engine::{Engine, docker::Docker};
use crate::plan;
use crate::registry;
use crate::status::{State, TagState};

/// `status`.
pub fn run(args: &StatusArgs, out: &mut dyn Write) -> Result<(), Error> {
    let session = Session::open(&args.manifest.manifest)?;
    let options = args.matrix.options(PathBuf::from("generated"));
    let plan = session.plan(&options)?;
    let targets = plan::select(&plan, &args.selection.selection())?;
    session::writable_report(args.report.as_deref())?;
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

/// The table, and how many tags are current.
fn draw(states: &[TagState], out: &mut dyn Write) -> io::Result<()> {
    let rows: Vec<Vec<String>> = states
        .iter()
        .map(|s| {
            vec![
                s.reference.clone(),
                s.state.as_str().to_string(),
                s.digest.clone().unwrap_or_default(),
            ]
        })
        .collect();
    super::draw::table(&["TAG", "STATE", "DIGEST"], &rows, out)?;
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
