//! The commands: each wires the stages together (manifest -> plan -> render
//! -> output) and draws the result. The stages themselves never print.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::Error;
use std::sync::Arc;
use std::time::Duration;

use crate::build;
use crate::cli::{
    BuildArgs, BuildOptions, Command, EngineArg, GenerateArgs, GenerateWhat, Legacy, ManifestArgs,
    MatrixArgs, PlanArgs, SelectionArgs,
};
use crate::context::Context;
use crate::diagnostic::Problems;
use crate::diagnostic::suggestion;
use crate::engine::{Engine, buildah::Buildah, docker::Docker};
use crate::generate::{self, Destination};
use crate::manifest::{self, Manifest, ReleaseType};
use crate::plan::{self, Matrix, Plan};
use crate::render::{Limits, Renderer, metadata::slash_path};

/// Runs a parsed command line, drawing results on `out`.
///
/// # Errors
/// Whatever stage failed.
pub fn run(cli: crate::cli::Cli, out: &mut dyn Write) -> Result<(), Error> {
    // Every command exits 130 on a signal: at once while it only reads,
    // cleanly once it writes or builds (it cooperates from then on).
    crate::interrupt::watch();
    match cli.command {
        Some(Command::Generate(args)) => generate_command(&args, out),
        Some(Command::Validate(args)) => validate(&args, out),
        Some(Command::Plan(args)) => plan_command(&args, out),
        Some(Command::Check(args)) => check_command(&args, out),
        Some(Command::Build(args)) => build_command(&args, out),
        Some(Command::Test(args)) => test_command(&args, out),
        Some(Command::Push(args)) => push_command(&args, out),
        Some(Command::Status(args)) => status_command(&args, out),
        Some(Command::Completions { shell }) => {
            use clap::CommandFactory;
            // Rendered in memory: clap_complete panics when its writer fails
            // (`completions bash | head`), and a closed pipe is no failure.
            let mut script = Vec::new();
            clap_complete::generate(
                shell,
                &mut crate::cli::Cli::command(),
                "bentoml-docker",
                &mut script,
            );
            out.write_all(&script)?;
            Ok(())
        }
        Some(Command::Man) => {
            use clap::CommandFactory;
            clap_mangen::Man::new(crate::cli::Cli::command()).render(out)?;
            Ok(())
        }
        None => legacy(cli.legacy, out),
    }
}

/// The manifest and its compiled templates, every problem of both reported together.
fn load(path: &Path) -> Result<(Manifest, Renderer), Error> {
    let limits = Limits::from_env().map_err(|p| Error::Invalid(Problems::new(vec![*p])))?;
    let checked = manifest::check(path)?;
    let mut problems = checked.problems;
    let renderer = match &checked.manifest {
        Some(manifest) => Renderer::with_limits(manifest, limits)
            .map_err(|p| problems.extend(p))
            .ok(),
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
    let matrix = Matrix::new(&manifest, &options(&args.matrix, relative))?;
    let metadata = args.dump_metadata.then(|| metadata_beside(&output));
    run_generate(
        &manifest,
        &renderer,
        &matrix,
        &output,
        metadata,
        args.dry_run,
        out,
    )
    .map(drop)
}

/// `metadata.json` beside the output directory.
fn metadata_beside(output: &Path) -> PathBuf {
    crate::output::parent_of(output).join("metadata.json")
}

/// Generates (or, for a dry run, prints the plan); returns the output's
/// lock, held until the caller drops it: a build keeps it to the end of
/// its builds.
fn run_generate(
    manifest: &Manifest,
    renderer: &Renderer,
    matrix: &Matrix,
    output: &Path,
    metadata: Option<PathBuf>,
    dry_run: bool,
    out: &mut dyn Write,
) -> Result<Option<crate::output::Lock>, Error> {
    if dry_run {
        let plan = Plan::of(matrix.clone(), manifest);
        write_table(&plan, out)?;
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
        return Ok(None);
    }
    let destination = Destination {
        output: output.to_path_buf(),
        metadata: metadata.clone(),
        check_only: false,
    };
    let watch = crate::interrupt::watch();
    if let Some(watch) = watch {
        watch.cooperate();
    }
    let waiting = |lock: &Path| {
        eprintln!(
            "waiting for another run to finish writing `{}` (it holds `{}`)",
            output.display(),
            lock.display()
        );
    };
    let mut control = generate::Control {
        stop: watch.map(crate::interrupt::Watch::flag),
        waiting: Some(&waiting),
        lock: None,
    };
    let lock = generate::lock(manifest, &destination, control)?;
    control.lock = Some(&lock);
    let generated = generate::generate_with(manifest, matrix, renderer, &destination, control)?;
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
    Ok(Some(lock))
}

fn validate(args: &ManifestArgs, out: &mut dyn Write) -> Result<(), Error> {
    let (manifest, renderer) = load(&args.manifest)?;
    generate::render_only(&manifest, &renderer).map_err(Error::Invalid)?;
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

fn check_command(args: &crate::cli::CheckArgs, out: &mut dyn Write) -> Result<(), Error> {
    let (manifest, renderer) = load(&args.manifest.manifest)?;
    let (output, relative) = output_dir(&manifest, args.output.output.as_deref());
    let plan = Plan::new(&manifest, &options(&args.matrix, relative))?;
    let unreadable = |source| {
        generate::Error::Output(crate::output::Error::Io {
            action: "read",
            path: output.clone(),
            source,
        })
    };
    // Never read a file, a device or a fifo as if it were the tree.
    crate::output::resolve_directory(&output).map_err(generate::Error::Output)?;
    // A signal from here on stops the generation below, and the temporary
    // tree goes with the return.
    let watch = crate::interrupt::watch();
    if let Some(watch) = watch {
        watch.cooperate();
    }
    // A fresh generation beside nothing of the user's, compared file by file.
    let fresh = tempfile::Builder::new()
        .prefix("bentoml-docker-check-")
        .tempdir()
        .map_err(|source| {
            generate::Error::Output(crate::output::Error::Io {
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
    let control = generate::Control {
        stop: watch.map(crate::interrupt::Watch::flag),
        waiting: None,
        lock: None,
    };
    generate::generate_with(&manifest, &plan.matrix, &renderer, &destination, control)?;
    let stale = crate::check::compare(&rendered, &output).map_err(unreadable)?;
    if watch.is_some_and(|w| w.flag().load(std::sync::atomic::Ordering::SeqCst)) {
        return Err(Error::Interrupted);
    }
    let mut problems = Vec::new();
    problems.extend(crate::check::stale_problem(
        &output,
        &stale,
        &regenerate_command(args),
    ));
    let context =
        Context::scan_for(&manifest.root, &plan.matrix.output_dir).map_err(Error::Context)?;
    problems.extend(crate::check::dockerfiles(
        &manifest, &plan, &context, &renderer,
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
        output.display(),
        files.len()
    )?;
    Ok(())
}

/// The `generate` command line that writes what `check` compared with.
fn regenerate_command(args: &crate::cli::CheckArgs) -> String {
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
    crate::draw::aligned_table(&["#", "TARGET", "FROM", "DOCKERFILE"], &rows, &[0], out)
}

/// The original tool: generate, then build (`-bi`) and push (`-pth`).
fn legacy(args: Legacy, out: &mut dyn Write) -> Result<(), Error> {
    let stop = args.stop_at_generate || args.generate.contains(&GenerateWhat::Dockerfiles);
    let build = !stop && (args.build_images || args.generate.contains(&GenerateWhat::Images));
    let push = !stop && args.push_to_hub;
    let (manifest, renderer) = load(&args.manifest_file)?;
    if push {
        // Credentials are checked before anything is generated or built.
        registries(&manifest)?;
    }
    // As the original: `./generated` and `./metadata.json` in the current directory.
    let given = args
        .dockerfile_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("./generated"));
    let (output, relative) = output_dir(&manifest, Some(&given));
    let matrix = MatrixArgs {
        bentoml_version: args.bentoml_version,
        cuda_version: args.cuda_version,
        python_versions: args.python_version,
        release_types: args.releases,
    };
    let matrix = Matrix::new(&manifest, &options(&matrix, relative))?;
    let metadata = args.dump_metadata.then(|| PathBuf::from("./metadata.json"));
    // Held to the end of the builds: no other run swaps the Dockerfiles
    // being built.
    let _lock = run_generate(
        &manifest,
        &renderer,
        &matrix,
        &output,
        metadata,
        args.dry_run,
        out,
    )?;
    if args.dry_run || !(build || push) {
        return Ok(());
    }
    let plan = Plan::of(matrix, &manifest);
    let options = BuildOptions {
        jobs: None,
        keep_going: false,
        overwrite: args.overwrite,
        engine: crate::cli::EngineArgs::default(),
        network: None,
        build_args: Vec::new(),
        timeout: args.timeout,
        report: None,
        dry_run: false,
        test: false,
        log_dir: None,
    };
    if build {
        run_build(
            &manifest,
            &plan,
            &SelectionArgs::default(),
            &options,
            false,
            out,
        )?;
    }
    if push {
        let settings = PushSettings {
            jobs: None,
            attempts: 4,
            timeout: Duration::from_secs(REGISTRY_TIMEOUT),
            report: None,
            dry_run: false,
        };
        run_push(&manifest, &plan, &SelectionArgs::default(), &settings, out)?;
    }
    Ok(())
}
fn build_command(args: &BuildArgs, out: &mut dyn Write) -> Result<(), Error> {
    let (manifest, renderer) = load(&args.manifest.manifest)?;
    let (output, relative) = output_dir(&manifest, args.output.output.as_deref());
    let plan = Plan::new(&manifest, &options(&args.matrix, relative))?;
    // Invalid input is found before anything is written.
    select(&plan, &args.selection)?;
    writable_report(args.build.report.as_deref())?;
    // Held from regeneration to the end of the builds: no other run swaps
    // the Dockerfiles being built.
    let _lock = if args.build.dry_run {
        let destination = Destination {
            output: output.clone(),
            metadata: None,
            check_only: true,
        };
        if generate::generate(&manifest, &plan.matrix, &renderer, &destination)?.stale {
            writeln!(
                out,
                "note: `{}` is stale; a build regenerates it first, and this dry run judges the Dockerfiles there now",
                output.display()
            )?;
        }
        None
    } else {
        run_generate(
            &manifest,
            &renderer,
            &plan.matrix,
            &output,
            None,
            false,
            out,
        )?
    };
    run_build(&manifest, &plan, &args.selection, &args.build, false, out)
}

/// A `--report` path that can be written, checked before any work: a long
/// run should not end in failing to write its report.
fn writable_report(path: Option<&Path>) -> Result<(), Error> {
    let Some(path) = path else { return Ok(()) };
    let option = format!("`--report {}`", path.display());
    if path.is_dir() {
        return Err(Error::Selection {
            message: format!("{option} is a directory"),
            help: Some("name a file, e.g. `--report report.json`".into()),
        });
    }
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !parent.is_dir() {
        return Err(Error::Selection {
            message: format!("the directory of {option} does not exist"),
            help: Some(format!("create `{}` first", parent.display())),
        });
    }
    Ok(())
}

/// The targets the selection names (all when it names none).
fn select<'p>(plan: &'p Plan, selection: &SelectionArgs) -> Result<Vec<&'p plan::Target>, Error> {
    let unknown = |what: &str, name: &str, known: &[String]| Error::Selection {
        message: format!("no {what} `{name}` in the plan"),
        help: suggestion(name, known.iter().map(String::as_str)),
    };
    let known = |f: fn(&plan::Target) -> String| {
        let mut names: Vec<String> = plan.targets.iter().map(f).collect();
        names.sort();
        names.dedup();
        names
    };
    let packages = known(|t| t.package.clone());
    let mut distros = known(|t| t.distro.clone());
    distros.extend(known(|t| format!("{}{}", t.distro, t.release)));
    let names = known(|t| t.name.clone());
    for (what, given, known) in [
        ("package", &selection.packages, &packages),
        ("distro", &selection.distros, &distros),
        ("target", &selection.targets, &names),
    ] {
        if let Some(name) = given.iter().find(|n| !known.contains(n)) {
            return Err(unknown(what, name, known));
        }
    }
    Ok(plan
        .targets
        .iter()
        .filter(|t| selection.packages.is_empty() || selection.packages.contains(&t.package))
        .filter(|t| {
            selection.distros.is_empty()
                || selection
                    .distros
                    .iter()
                    .any(|d| *d == t.distro || *d == format!("{}{}", t.distro, t.release))
        })
        .filter(|t| selection.targets.is_empty() || selection.targets.contains(&t.name))
        .collect())
}

/// A repository URL without any user name or password in it.
fn without_credentials(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let host = authority
            .rsplit_once('@')
            .map_or(authority, |(_, host)| host);
        return if path.is_empty() {
            format!("{scheme}://{host}")
        } else {
            format!("{scheme}://{host}/{path}")
        };
    }
    // scp-like `user@host:path`
    match url.split_once('@') {
        Some((_, rest)) if !rest.contains('@') => rest.to_string(),
        _ => url.to_string(),
    }
}

fn test_command(args: &crate::cli::TestArgs, out: &mut dyn Write) -> Result<(), Error> {
    let (manifest, _) = load(&args.manifest.manifest)?;
    let (_, relative) = output_dir(&manifest, args.output.output.as_deref());
    let plan = Plan::new(&manifest, &options(&args.matrix, relative))?;
    let options = BuildOptions {
        jobs: args.jobs,
        keep_going: true,
        overwrite: false,
        engine: args.engine.clone(),
        network: None,
        build_args: Vec::new(),
        timeout: 3600,
        report: args.report.clone(),
        dry_run: false,
        test: true,
        log_dir: args.log_dir.clone(),
    };
    run_build(&manifest, &plan, &args.selection, &options, true, out)
}

fn run_build(
    manifest: &Manifest,
    plan: &Plan,
    selection: &SelectionArgs,
    args: &BuildOptions,
    test_only: bool,
    out: &mut dyn Write,
) -> Result<(), Error> {
    let selected = select(plan, selection)?;
    writable_report(args.report.as_deref())?;
    let targets = crate::plan::with_dependencies(plan, &selected);
    let mut build_args = Vec::new();
    for arg in &args.build_args {
        let Some((name, value)) = arg.split_once('=') else {
            return Err(Error::Selection {
                message: format!("`--build-arg {arg}` is not `NAME=VALUE`"),
                help: None,
            });
        };
        build_args.push((name.to_string(), value.to_string()));
    }
    let mut labels = Vec::new();
    if let Some(revision) = crate::git::revision(&manifest.root) {
        labels.push(("org.opencontainers.image.revision".to_string(), revision));
    }
    if let Some(source) = crate::git::origin(&manifest.root) {
        // A clone URL may carry a token (`https://ci-token:SECRET@host/...`):
        // it must not end up in a label of every image.
        labels.push((
            "org.opencontainers.image.source".to_string(),
            without_credentials(&source),
        ));
    }
    let source_date_epoch = build::source_date_epoch(
        std::env::var("SOURCE_DATE_EPOCH").ok().as_deref(),
    )
    .map_err(|message| Error::Selection {
        message,
        help: Some("set it to a Unix time in seconds, such as `git log -1 --format=%ct`".into()),
    })?;
    let log_dir = args
        .log_dir
        .clone()
        .unwrap_or_else(|| manifest.root.join(crate::context::STATE_DIR).join("logs"));
    build::log::check_directory(&log_dir).map_err(|e| Error::Selection {
        message: format!("cannot write logs in `{}`: {e}", log_dir.display()),
        help: Some("give `--log-dir` a directory (it is created when missing)".into()),
    })?;
    let options = build::Options {
        jobs: jobs_or_cpus(args.jobs),
        keep_going: args.keep_going,
        overwrite: args.overwrite,
        network: args.network.clone(),
        timeout: Duration::from_secs(args.timeout),
        build_args,
        labels,
        source_date_epoch,
        log_dir,
        test: args.test,
        mode: if test_only {
            build::Mode::TestOnly
        } else if args.dry_run {
            build::Mode::DryRun
        } else {
            build::Mode::Build
        },
    };
    let dockerfiles: Vec<String> = plan
        .targets
        .iter()
        .map(|t| slash_path(&t.dockerfile))
        .collect();
    let context = Context::scan_keeping(&manifest.root, &dockerfiles, &plan.matrix.output_dir)
        .map_err(Error::Context)?;
    let runtime = runtime()?;
    // The async work stops what it started on a signal (`signalled`).
    crate::interrupt::cooperate();
    let summary = runtime.block_on(async {
        let engine: Arc<dyn Engine> = match args.engine.engine {
            EngineArg::Docker => Arc::new(Docker::connect().await?),
            EngineArg::Buildah => {
                Arc::new(Buildah::connect(args.engine.storage_driver.as_deref()).await?)
            }
        };
        let context = Arc::new(context);
        let summary = build::build(
            plan,
            &targets,
            engine,
            context,
            &options,
            crate::draw::progress(None),
            crate::interrupt::signalled(),
        )
        .await;
        Ok::<_, Error>(summary)
    })?;
    crate::draw::summary(&summary, out)?;
    if let Some(path) = &args.report {
        write_json(path, &summary)?;
    }
    if summary.interrupted {
        return Err(Error::Interrupted);
    }
    if !summary.success() {
        let failed = summary.count(&crate::run::Status::Failed);
        let skipped = summary.count(&crate::run::Status::Skipped);
        return Err(if test_only {
            Error::TestsFailed { failed, skipped }
        } else {
            Error::BuildFailed { failed, skipped }
        });
    }
    Ok(())
}

/// The enabled registries and what pushes need: the `.env` warnings are printed here.
fn registries(manifest: &Manifest) -> Result<Vec<Arc<crate::registry::Enabled>>, Error> {
    let variables = crate::registry::Variables::load(&manifest.root)?;
    for warning in &variables.warnings {
        eprintln!("warning: {warning}");
    }
    let enabled = crate::registry::enabled(manifest, &variables)?;
    if enabled.is_empty() {
        let switches: Vec<String> = manifest
            .registries
            .iter()
            .filter_map(|r| {
                r.only_if
                    .as_ref()
                    .map(|v| format!("`{v}` for `{}`", r.host))
            })
            .collect();
        return Err(Error::Selection {
            message: "no registry is enabled".into(),
            help: Some(if switches.is_empty() {
                "declare one under `repository` in the manifest".into()
            } else {
                format!(
                    "a registry is used when its `only_if` variable is set: {}",
                    switches.join(", ")
                )
            }),
        });
    }
    Ok(enabled.into_iter().map(Arc::new).collect())
}

fn push_command(args: &crate::cli::PushArgs, out: &mut dyn Write) -> Result<(), Error> {
    let (manifest, _) = load(&args.manifest.manifest)?;
    let plan = Plan::new(
        &manifest,
        &options(&args.matrix, PathBuf::from("generated")),
    )?;
    let settings = PushSettings {
        jobs: args.jobs,
        attempts: args.attempts,
        timeout: Duration::from_secs(args.timeout),
        report: args.report.clone(),
        dry_run: args.dry_run,
    };
    run_push(&manifest, &plan, &args.selection, &settings, out)
}

/// Seconds a registry request may take before it fails, for `-pth` (which
/// has no flag for it); `push --timeout` defaults to the same.
const REGISTRY_TIMEOUT: u64 = 60;

/// How to push, whichever command line asked.
struct PushSettings {
    jobs: Option<usize>,
    attempts: u32,
    /// The bound of each registry request, and of a push without progress.
    timeout: Duration,
    report: Option<PathBuf>,
    dry_run: bool,
}

fn run_push(
    manifest: &Manifest,
    plan: &Plan,
    selection: &SelectionArgs,
    args: &PushSettings,
    out: &mut dyn Write,
) -> Result<(), Error> {
    let targets = select(plan, selection)?;
    writable_report(args.report.as_deref())?;
    let registries = registries(manifest)?;
    let jobs = crate::push::jobs(&targets, &registries);
    if args.dry_run {
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
        crate::draw::table(&["TARGET", "PUSH TO", "CREDENTIALS FROM"], &rows, out)?;
        writeln!(out, "dry run: would push {} images", jobs.len())?;
        return Ok(());
    }
    let plain = plain(&registries);
    let scrubber = Arc::new(crate::registry::Scrubber::new(&plain));
    let api: Arc<dyn crate::registry::Registry> =
        Arc::new(crate::registry::Distribution::new(&plain, args.timeout));
    let options = crate::push::Options {
        jobs: jobs_or_cpus(args.jobs),
        attempts: args.attempts.max(1),
        backoff: Duration::from_millis(500),
    };
    let runtime = runtime()?;
    // The async work stops what it started on a signal (`signalled`).
    crate::interrupt::cooperate();
    let summary = runtime.block_on(async {
        let engine: Arc<dyn crate::engine::Pusher> =
            Arc::new(Docker::connect().await?.with_push_stall(args.timeout));
        let reporter = crate::draw::progress(Some(jobs.len()));
        let summary = crate::push::push(
            jobs,
            engine,
            api,
            scrubber,
            &options,
            reporter,
            crate::interrupt::signalled(),
        )
        .await;
        Ok::<_, Error>(summary)
    })?;
    crate::draw::summary(&summary, out)?;
    if let Some(path) = &args.report {
        write_json(path, &summary)?;
    }
    if summary.interrupted {
        return Err(Error::Interrupted);
    }
    if !summary.success() {
        return Err(Error::PushFailed {
            failed: summary.count(&crate::run::Status::Failed),
            skipped: summary.count(&crate::run::Status::Skipped),
        });
    }
    Ok(())
}

/// The runtime of the commands that talk to an engine or a registry.
fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(Error::Runtime)
}

/// `--jobs`, by default the number of CPUs.
fn jobs_or_cpus(given: Option<usize>) -> usize {
    given.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
}

/// The registries without their sharing.
fn plain(registries: &[Arc<crate::registry::Enabled>]) -> Vec<crate::registry::Enabled> {
    registries.iter().map(|r| (**r).clone()).collect()
}

/// Writes `value` as JSON to `path`, atomically.
fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<(), Error> {
    let mut file = crate::output::AtomicFile::new(path).map_err(generate::Error::Output)?;
    serde_json::to_writer_pretty(&mut file, value)
        .map_err(std::io::Error::from)
        .and_then(|()| writeln!(file))
        .map_err(|source| {
            generate::Error::Output(crate::output::Error::Io {
                action: "write",
                path: path.to_path_buf(),
                source,
            })
        })?;
    file.commit().map_err(generate::Error::Output)?;
    Ok(())
}

fn status_command(args: &crate::cli::StatusArgs, out: &mut dyn Write) -> Result<(), Error> {
    let (manifest, _) = load(&args.manifest.manifest)?;
    let options = options(&args.matrix, PathBuf::from("generated"));
    let plan = Plan::new(&manifest, &options)?;
    let targets = select(&plan, &args.selection)?;
    writable_report(args.report.as_deref())?;
    // "Extra" is judged against the whole matrix, not the selection.
    let produced = crate::status::produced(&manifest, &options)?;
    let registries = registries(&manifest)?;
    let plain = plain(&registries);
    let scrubber = crate::registry::Scrubber::new(&plain);
    let timeout = Duration::from_secs(args.timeout);
    let api = crate::registry::Distribution::new(&plain, timeout);
    let runtime = runtime()?;
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
    crate::draw::table(&["TAG", "STATE", "DIGEST"], &rows, out)?;
    let not_current = states.iter().filter(|s| !s.state.fine()).count();
    let other_releases = states
        .iter()
        .filter(|s| s.state == crate::status::State::OtherRelease)
        .count();
    write!(
        out,
        "{} current, {not_current} not",
        states.len() - not_current - other_releases
    )?;
    if other_releases > 0 {
        write!(out, ", {other_releases} of other releases")?;
    }
    writeln!(out)?;
    if let Some(path) = &args.report {
        write_json(path, &states)?;
    }
    if not_current > 0 {
        return Err(Error::NotCurrent { count: not_current });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::without_credentials;

    #[test]
    fn clone_urls_lose_their_credentials() {
        assert_eq!(
            without_credentials("https://gitlab-ci-token:s3cr3t@gitlab.example.com/org/images.git"),
            "https://gitlab.example.com/org/images.git"
        );
        assert_eq!(
            without_credentials("https://github.com/org/images"),
            "https://github.com/org/images"
        );
        assert_eq!(
            without_credentials("git@github.com:org/images.git"),
            "github.com:org/images.git"
        );
        assert_eq!(
            without_credentials("ssh://user@host:22/repo"),
            "ssh://host:22/repo"
        );
    }
}
