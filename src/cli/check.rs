//! `check`: `generated/` compared with a fresh generation, and every
//! Dockerfile held to the rules (it parses, its FROMs and COPY sources
//! exist), every problem reported.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::Ordering;

use super::Error;
use super::args::CheckArgs;
use super::session::{self, Session};
use crate::check::{self, Stale};
use crate::context::Context;
use crate::diagnostic::Problems;
use crate::generate::{self, Control, Destination};
use crate::manifest::ReleaseType;
use crate::output;
use crate::plan::Plan;

/// `check`.
pub fn run(args: &CheckArgs, out: &mut dyn Write) -> Result<(), Error> {
    let session = Session::open(&args.manifest.manifest)?;
    let output = session.output_dir(args.output.output.as_deref());
    let plan = session.plan(&args.matrix.options(output.relative))?;
    let stale = compare_with_fresh(&session, &plan, &output.path)?;
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

/// What differs between `output` and a fresh generation beside nothing of
/// the user's, compared file by file.
fn compare_with_fresh(session: &Session, plan: &Plan, output: &Path) -> Result<Stale, Error> {
    let failed = |e| Error::Generate(generate::Error::Output(e));
    // Never read a file, a device or a fifo as if it were the tree.
    output::resolve_directory(output).map_err(failed)?;
    // A signal from here on stops the generation below, and the temporary
    // tree goes with the return.
    let stop = session::stop_flag();
    let fresh = tempfile::Builder::new()
        .prefix("bentoml-docker-check-")
        .tempdir()
        .map_err(|source| {
            failed(output::Error::Io {
                action: "create a directory in",
                path: std::env::temp_dir(),
                source,
            })
        })?;
    let rendered = fresh.path().join("generated");
    let destination = Destination {
        output: rendered.clone(),
        metadata: None,
        check_only: false,
    };
    let control = Control {
        stop,
        waiting: None,
        lock: None,
    };
    generate::generate_with(
        &session.manifest,
        &plan.matrix,
        &session.renderer,
        &destination,
        control,
    )?;
    let stale = check::compare(&rendered, output).map_err(|source| {
        failed(output::Error::Io {
            action: "read",
            path: output.to_path_buf(),
            source,
        })
    })?;
    if stop.is_some_and(|flag| flag.load(Ordering::SeqCst)) {
        return Err(Error::Interrupted);
    }
    Ok(stale)
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
