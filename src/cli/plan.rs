//! `plan`: every target in build order, as a table or as JSON.

use std::io::{self, Write};

use super::Error;
use super::args::PlanArgs;
use super::session::Session;
use crate::plan::{self, Plan};
use crate::render::metadata::slash_path;

/// `plan`.
pub fn run(args: &PlanArgs, out: &mut dyn Write) -> Result<(), Error> {
    let session = Session::open(&args.manifest.manifest)?;
    let output = session.output_dir(args.output.output.as_deref());
    let plan = session.plan(&args.matrix.options(output.relative))?;
    if args.json {
        serde_json::to_writer_pretty(&mut *out, &plan)
            .map_err(io::Error::from)
            .and_then(|()| writeln!(out))
    } else {
        table(&plan, out)
    }
    .map_err(Error::Stdout)
}

/// The plan as a table, in build order.
pub fn table(plan: &Plan, out: &mut dyn Write) -> io::Result<()> {
    let by_name: std::collections::HashMap<&str, &plan::Target> =
        plan.targets.iter().map(|t| (t.name.as_str(), t)).collect();
    let rows: Vec<Vec<String>> = plan
        .build_order
        .iter()
        .filter_map(|name| by_name.get(name.as_str()).copied())
        .enumerate()
        .map(|(i, t)| {
            vec![
                (i + 1).to_string(),
                t.name.clone(),
                t.from.clone(),
                slash_path(&t.dockerfile),
            ]
        })
        .collect();
    super::draw::aligned_table(&["#", "TARGET", "FROM", "DOCKERFILE"], &rows, &[0], out)
}
