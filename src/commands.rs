//! The commands: each wires the stages together (manifest -> plan -> render
//! -> output) and draws the result. The stages themselves never print.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::Error;
use crate::cli::{Command, GenerateArgs, GenerateWhat, Legacy, ManifestArgs, MatrixArgs, PlanArgs};
use crate::diagnostic::Problems;
use crate::generate::{self, Destination};
use crate::manifest::{self, Manifest};
use crate::plan::{self, Plan};
use crate::render::{Renderer, context::slash_path};

/// Runs a parsed command line, drawing results on `out`.
///
/// # Errors
/// Whatever stage failed.
pub fn run(cli: crate::cli::Cli, out: &mut dyn Write) -> Result<(), Error> {
    match cli.command {
        Some(Command::Generate(args)) => generate_command(&args, out),
        Some(Command::Validate(args)) => validate(&args, out),
        Some(Command::Plan(args)) => plan_command(&args, out),
        None => legacy(cli.legacy, out),
    }
}

/// The manifest and its compiled templates, every problem of both reported together.
fn load(path: &Path) -> Result<(Manifest, Renderer), Error> {
    let checked = manifest::check(path)?;
    let mut problems = checked.problems;
    let renderer = match &checked.manifest {
        Some(manifest) => Renderer::new(manifest).map_err(|p| problems.extend(p)).ok(),
        None => None,
    };
    match (checked.manifest, renderer) {
        (Some(manifest), Some(renderer)) if problems.is_empty() => Ok((manifest, renderer)),
        _ => Err(Error::Invalid(Problems::new(problems))),
    }
}

/// The output directory as given (or `generated` in the images repo), and
/// as the plan records it: relative to the images repo when inside it.
fn output_dir(manifest: &Manifest, given: Option<&Path>) -> (PathBuf, PathBuf) {
    let Some(given) = given else {
        return (manifest.root.join("generated"), PathBuf::from("generated"));
    };
    let relative = std::path::absolute(given)
        .ok()
        .zip(std::path::absolute(&manifest.root).ok())
        .and_then(|(out, root)| out.strip_prefix(root).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| given.to_path_buf());
    (given.to_path_buf(), relative)
}

fn options(matrix: &MatrixArgs, output_dir: PathBuf) -> plan::Options {
    plan::Options {
        bentoml_version: matrix.bentoml_version.clone(),
        cuda_version: matrix.cuda_version.clone(),
        python_versions: matrix.python_versions.clone(),
        release_types: matrix.release_types.iter().map(|&t| t.into()).collect(),
        output_dir,
    }
}

fn generate_command(args: &GenerateArgs, out: &mut dyn Write) -> Result<(), Error> {
    let (manifest, renderer) = load(&args.manifest.manifest)?;
    let (output, relative) = output_dir(&manifest, args.output.output.as_deref());
    let plan = Plan::new(&manifest, &options(&args.matrix, relative))?;
    run_generate(
        &manifest,
        &renderer,
        &plan,
        &output,
        args.dump_metadata,
        args.dry_run,
        out,
    )
}

fn run_generate(
    manifest: &Manifest,
    renderer: &Renderer,
    plan: &Plan,
    output: &Path,
    dump_metadata: bool,
    dry_run: bool,
    out: &mut dyn Write,
) -> Result<(), Error> {
    let metadata = dump_metadata.then(|| {
        output
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .join("metadata.json")
    });
    if dry_run {
        write_table(plan, out)?;
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
                .as_ref()
                .map(|m| format!(" and write `{}`", m.display()))
                .unwrap_or_default()
        )?;
        return Ok(());
    }
    let destination = Destination {
        output: output.to_path_buf(),
        metadata: metadata.clone(),
    };
    let generated = generate::generate(manifest, plan, renderer, &destination)?;
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
    )?;
    Ok(())
}

fn validate(args: &ManifestArgs, out: &mut dyn Write) -> Result<(), Error> {
    let (manifest, _) = load(&args.manifest)?;
    let releases: usize = manifest.distros.iter().map(|d| d.releases.len()).sum();
    writeln!(
        out,
        "`{}` is valid: {}, {}, {}",
        args.manifest.display(),
        count(manifest.packages.len(), "package"),
        count(releases, "distro release"),
        count(manifest.registries.len(), "registry")
    )?;
    Ok(())
}

fn count(n: usize, what: &str) -> String {
    match (n, what.strip_suffix('y')) {
        (1, _) => format!("1 {what}"),
        (n, Some(stem)) => format!("{n} {stem}ies"),
        (n, None) => format!("{n} {what}s"),
    }
}

fn plan_command(args: &PlanArgs, out: &mut dyn Write) -> Result<(), Error> {
    let (manifest, _) = load(&args.manifest.manifest)?;
    let (_, relative) = output_dir(&manifest, args.output.output.as_deref());
    let plan = Plan::new(&manifest, &options(&args.matrix, relative))?;
    if args.json {
        serde_json::to_writer_pretty(&mut *out, &plan).map_err(std::io::Error::from)?;
        writeln!(out)?;
    } else {
        write_table(&plan, out)?;
    }
    Ok(())
}

/// The plan as a table, in build order.
fn write_table(plan: &Plan, out: &mut dyn Write) -> std::io::Result<()> {
    let by_name: std::collections::HashMap<&str, &plan::Target> =
        plan.targets.iter().map(|t| (t.name.as_str(), t)).collect();
    let rows: Vec<[String; 4]> = plan
        .build_order
        .iter()
        .filter_map(|name| by_name.get(name.as_str()).copied())
        .enumerate()
        .map(|(i, t)| {
            [
                (i + 1).to_string(),
                t.name.clone(),
                t.from.clone(),
                slash_path(&t.dockerfile),
            ]
        })
        .collect();
    let header = ["#", "TARGET", "FROM", "DOCKERFILE"].map(String::from);
    let mut widths = [0; 4];
    for row in std::iter::once(&header).chain(&rows) {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let line = format!(
            "{:>w0$}  {:<w1$}  {:<w2$}  {}",
            row[0],
            row[1],
            row[2],
            row[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        );
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// The original tool: generate, then build (`-bi`) and push (`-pth`).
fn legacy(args: Legacy, out: &mut dyn Write) -> Result<(), Error> {
    let stop = args.stop_at_generate || args.generate.contains(&GenerateWhat::Dockerfiles);
    let build = !stop && (args.build_images || args.generate.contains(&GenerateWhat::Images));
    if build {
        return Err(Error::NotAvailable {
            what: "building images (`-bi`)",
        });
    }
    if args.push_to_hub && !stop {
        return Err(Error::NotAvailable {
            what: "pushing images (`-pth`)",
        });
    }
    let (manifest, renderer) = load(&args.manifest_file)?;
    let (output, relative) = output_dir(&manifest, args.dockerfile_dir.as_deref());
    let matrix = MatrixArgs {
        bentoml_version: args.bentoml_version,
        cuda_version: args.cuda_version,
        python_versions: args.python_version,
        release_types: args.releases,
    };
    let plan = Plan::new(&manifest, &options(&matrix, relative))?;
    run_generate(
        &manifest,
        &renderer,
        &plan,
        &output,
        args.dump_metadata,
        args.dry_run,
        out,
    )
}
