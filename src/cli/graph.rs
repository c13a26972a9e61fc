//! `graph`: the selected targets (with what they are built FROM) drawn by
//! [`crate::fanout::graph`], in Mermaid or dot.

use std::io::Write;
use std::path::PathBuf;

use super::Error;
use super::args::GraphArgs;
use super::session::Session;
use crate::fanout::graph;
use crate::plan;

/// `graph`.
pub fn run(args: &GraphArgs, out: &mut dyn Write) -> Result<(), Error> {
    let session = Session::open(&args.manifest.manifest)?;
    let plan = session.plan(&args.matrix.options(PathBuf::from("generated")))?;
    let selected = plan::select(&plan, &args.selection.selection())?;
    let targets = plan::with_dependencies(&plan, &selected);
    out.write_all(graph::draw(&targets, args.format.into()).as_bytes())
        .map_err(Error::Stdout)
}
