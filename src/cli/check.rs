//! `check`: `generated/` compared with a fresh generation, and every
//! Dockerfile held to the rules (it parses, its FROMs and COPY sources
//! exist), every problem reported.

use std::io::Write;
use std::path::Path;

use super::Error;
use super::args::CheckArgs;
use super::session::{self, Session};
use crate::check;
use crate::context::Context;
use crate::diagnostic::Problems;
use crate::manifest::ReleaseType;

/// `check`.
pub fn run(args: &CheckArgs, out: &mut dyn Write) -> Result<(), Error> {
    let session = Session::open(&args.manifest.manifest)?;
    let output = session.output_dir(args.output.output.as_deref());
    let plan = session.plan(&args.matrix.options(output.relative))?;
    // A signal from here on stops the generation, and its temporary tree
    // goes with the return.
    let stale = check::against_fresh(
        &session.manifest,
        &plan.matrix,
        &session.renderer,
        &output.path,
        session::stop_flag(),
    )?;
    let mut problems = Vec::new();
    problems.extend(check::stale_problem(
        &output.path,
        &stale,
        &regenerate_command(args),
    ));
    let context = Context::scan_for(&session.manifest.root, &plan.matrix.output_dir)
        .map_err(Error::Context)?;
    problems.extend(check::dockerfiles(
        &session.manifest,
        &plan,
        &context,
        &session.renderer,
    ));
    if !problems.is_empty() {
        return Err(Error::CheckFailed(
            Problems::new(problems).problems().to_vec(),
        ));
    }
    let mut files: Vec<&Path> = plan
        .targets
        .iter()
        .map(|t| t.dockerfile.as_path())
        .collect();
    files.sort_unstable();
    files.dedup();
    writeln!(
        out,
        "`{}` is up to date; its {} Dockerfiles parse, and every FROM and COPY source exists",
        output.path.display(),
        files.len()
    )
    .map_err(Error::Stdout)
}

/// The `generate` command line that writes what `check` compared with.
fn regenerate_command(args: &CheckArgs) -> String {
    let mut command = String::from("bentoml-docker generate");
    let mut push = |flag: &str, value: &str| {
        command.push(' ');
        command.push_str(flag);
        command.push(' ');
        command.push_str(&shell_word(value));
    };
    if args.manifest.manifest != Path::new("manifest.yml") {
        push("-m", &args.manifest.manifest.to_string_lossy());
    }
    let matrix = &args.matrix;
    if let Some(version) = &matrix.bentoml_version {
        push("-b", version);
    }
    if let Some(version) = &matrix.cuda_version {
        push("--cuda-version", version);
    }
    if !matrix.python_versions.is_empty() {
        push("-p", &matrix.python_versions.join(","));
    }
    if !matrix.release_types.is_empty() {
        let types: Vec<String> = matrix
            .release_types
            .iter()
            .map(|&t| ReleaseType::from(t).to_string())
            .collect();
        push("-r", &types.join(","));
    }
    if let Some(output) = &args.output.output {
        push("-o", &output.to_string_lossy());
    }
    command
}

/// `text` as one shell word: quoted when it holds anything but plain characters.
fn shell_word(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./,:=+@".contains(c));
    if plain {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}
