//! `generate`: renders every Dockerfile of the matrix into the output
//! directory, replacing it as a whole (and, for a dry run, says what it
//! would write). `build` and the original's command line generate through
//! [`generate_into`] too.

use std::io::{self, Write};
use std::path::Path;

use super::Error;
use super::args::GenerateArgs;
use super::session::{self, Session};
use crate::generate::{self, Control, Destination, Generated};
use crate::output::Lock;
use crate::plan::{Matrix, Plan};

/// `generate`.
pub fn run(args: &GenerateArgs, out: &mut dyn Write) -> Result<(), Error> {
    let session = Session::open(&args.manifest.manifest)?;
    let output = session.output_dir(args.output.output.as_deref());
    let matrix = Matrix::new(&session.manifest, &args.matrix.options(output.relative))?;
    let metadata = args
        .dump_metadata
        .then(|| crate::output::parent_of(&output.path).join("metadata.json"));
    generate_into(
        &session,
        &matrix,
        &output.path,
        metadata.as_deref(),
        args.dry_run,
        out,
    )
    .map(drop)
}

/// Generates (or, for a dry run, prints the plan); returns the output's
/// lock, held until the caller drops it: a build keeps it to the end of
/// its builds.
pub fn generate_into(
    session: &Session,
    matrix: &Matrix,
    output: &Path,
    metadata: Option<&Path>,
    dry_run: bool,
    out: &mut dyn Write,
) -> Result<Option<Lock>, Error> {
    if dry_run {
        let plan = Plan::of(matrix.clone(), &session.manifest);
        draw_dry_run(&plan, output, metadata, out).map_err(Error::Stdout)?;
        return Ok(None);
    }
    let destination = Destination {
        output: output.to_path_buf(),
        metadata: metadata.map(Path::to_path_buf),
        check_only: false,
    };
    let stop = session::stop_flag();
    let waiting = |lock: &Path| {
        eprintln!(
            "waiting for another run to finish writing `{}` (it holds `{}`)",
            output.display(),
            lock.display()
        );
    };
    let mut control = Control {
        stop,
        waiting: Some(&waiting),
        lock: None,
    };
    let lock = generate::lock(&session.manifest, &destination, control)?;
    control.lock = Some(&lock);
    let generated = generate::generate_with(
        &session.manifest,
        matrix,
        &session.renderer,
        &destination,
        control,
    )?;
    draw_generated(&generated, output, metadata, out).map_err(Error::Stdout)?;
    Ok(Some(lock))
}

/// The plan, and what the generation would replace.
fn draw_dry_run(
    plan: &Plan,
    output: &Path,
    metadata: Option<&Path>,
    out: &mut dyn Write,
) -> io::Result<()> {
    super::plan::table(plan, out)?;
    let mut dirs: Vec<&Path> = plan.targets.iter().map(|t| t.directory.as_path()).collect();
    dirs.sort_unstable();
    dirs.dedup();
    writeln!(
        out,
        "dry run: would replace `{}` with {} directories for {} targets{}",
        output.display(),
        dirs.len(),
        plan.targets.len(),
        metadata
            .map(|m| format!(" and write `{}`", m.display()))
            .unwrap_or_default()
    )
}

/// What the generation wrote (or found up to date).
fn draw_generated(
    generated: &Generated,
    output: &Path,
    metadata: Option<&Path>,
    out: &mut dyn Write,
) -> io::Result<()> {
    writeln!(
        out,
        "{} {} files in {} directories for {} targets {} `{}`{}",
        if generated.unchanged {
            "up to date:"
        } else {
            "generated"
        },
        generated.files,
        generated.directories,
        generated.targets,
        if generated.unchanged { "in" } else { "into" },
        output.display(),
        metadata
            .map(|m| if generated.metadata_changed {
                format!("; wrote `{}`", m.display())
            } else {
                format!("; `{}` is up to date", m.display())
            })
            .unwrap_or_default()
    )
}
