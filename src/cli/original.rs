//! The original tool's command line: its flags in its own spellings
//! (`-bv 0.13.0 -dm`), the help that names them the way each command line
//! does, and the command it runs (generate, then build with `-bi`, then
//! push with `-pth`), which maps its flags onto the same settings the
//! subcommands use.
//!
//! The original's multi-letter short flags (`-bv`, `-sag`, ...) cannot be
//! clap short flags, so [`translate`] rewrites them (and absl's other
//! spellings: `--bv`, `-bentoml_version`, `-bv=X`) to their long forms before
//! parsing.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use super::args::{GenerateWhat, Legacy};
use super::session::Session;
use super::{Error, build, generate, push};
use crate::plan::{Matrix, Plan, Selection};

/// The original's flags: (short, long).
const LEGACY_FLAGS: [(&str, &str); 14] = [
    ("bv", "bentoml_version"),
    ("cv", "cuda_version"),
    ("pv", "python_version"),
    ("r", "releases"),
    ("dd", "dockerfile_dir"),
    ("mf", "manifest_file"),
    ("dm", "dump_metadata"),
    ("dr", "dry_run"),
    ("sag", "stop_at_generate"),
    ("bi", "build_images"),
    ("pth", "push_to_hub"),
    ("o", "overwrite"),
    ("t", "timeout"),
    ("g", "generate"),
];

/// The original's flags that a subcommand spells its own way: (original,
/// subcommand). A stage's help names the original's (`pass \`-mf PATH\``);
/// a subcommand's error should name the flag that subcommand takes.
const SUBCOMMAND_SPELLINGS: [(&str, &str); 7] = [
    ("-bv", "-b"),
    ("-cv", "--cuda-version"),
    ("-pv", "-p"),
    ("-dd", "-o"),
    ("-mf", "-m"),
    ("-dm", "--dump-metadata"),
    ("-dr", "--dry-run"),
];

/// `text` with each original flag it names in backticks (`` `-mf PATH` ``,
/// `` `-bv` ``) spelt as the subcommands spell it (`` `-m PATH` ``, `` `-b` ``).
#[must_use]
pub fn subcommand_spelling(text: &str) -> String {
    let mut out = text.to_string();
    for (original, subcommand) in SUBCOMMAND_SPELLINGS {
        for end in [' ', '`'] {
            out = out.replace(&format!("`{original}{end}"), &format!("`{subcommand}{end}"));
        }
    }
    out
}

/// Flags only a subcommand takes, with that subcommand: a help naming one
/// to a user of the original's flags names the command line that has it.
const SUBCOMMAND_ONLY: [(&str, &str); 2] = [("--engine", "build"), ("--keep-going", "build")];

/// `text` with each subcommand-only flag it names in backticks
/// (`` `--engine buildah` ``) given with its subcommand
/// (`` `bentoml-docker build --engine buildah` ``).
#[must_use]
pub fn original_spelling(text: &str) -> String {
    let mut out = text.to_string();
    for (flag, subcommand) in SUBCOMMAND_ONLY {
        for end in [' ', '`'] {
            out = out.replace(
                &format!("`{flag}{end}"),
                &format!("`bentoml-docker {subcommand} {flag}{end}"),
            );
        }
    }
    out
}

/// A usage error, with a tip when a subcommand was given one of the
/// original's flags it does not take (`build -sag`): clap names the flag as
/// [`translate`] rewrote it (`--stop_at_generate`), not as it was typed.
#[must_use]
pub fn explain(mut error: clap::Error) -> clap::Error {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if error.kind() != ErrorKind::UnknownArgument {
        return error;
    }
    let Some(ContextValue::String(arg)) = error.get(ContextKind::InvalidArg) else {
        return error;
    };
    let name = arg.trim_start_matches('-');
    let name = name.split_once('=').map_or(name, |(name, _)| name);
    let Some((short, long)) = LEGACY_FLAGS.iter().find(|(_, long)| *long == name) else {
        return error;
    };
    let tip = format!(
        "`-{short}` (`--{long}`) is a flag of the original command line, which takes it \
         without a subcommand: `bentoml-docker -bv VERSION -{short}`"
    );
    error.insert(
        ContextKind::Suggested,
        ContextValue::StyledStrs(vec![tip.into()]),
    );
    error
}

/// Rewrites the original's flag spellings to long flags clap knows.
#[must_use]
pub fn translate<I: IntoIterator<Item = OsString>>(args: I) -> Vec<OsString> {
    let mut out = Vec::new();
    let mut rest = false;
    for arg in args {
        let Some(text) = arg.to_str().filter(|_| !rest) else {
            out.push(arg);
            continue;
        };
        if text == "--" {
            rest = true;
            out.push(arg);
            continue;
        }
        let Some(flag) = text.strip_prefix("--").or_else(|| text.strip_prefix('-')) else {
            out.push(arg);
            continue;
        };
        let (name, value) = match flag.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (flag, None),
        };
        let long = LEGACY_FLAGS
            .iter()
            .find(|(short, long)| {
                (*short == name && (short.len() > 1 || text.starts_with("--")))
                    || (*long == name && text.starts_with('-') && !text.starts_with("--"))
            })
            .map(|(_, long)| *long);
        match (long, value) {
            (Some(long), Some(value)) => out.push(format!("--{long}={value}").into()),
            (Some(long), None) => out.push(format!("--{long}").into()),
            (None, _) => out.push(arg),
        }
    }
    out
}

/// The original tool: generate, then build (`-bi`) and push (`-pth`).
pub fn run(args: &Legacy, out: &mut dyn Write) -> Result<(), Error> {
    let stop = args.steps.stop_at_generate || args.generate.contains(&GenerateWhat::Dockerfiles);
    let build = !stop && (args.steps.build_images || args.generate.contains(&GenerateWhat::Images));
    let push = !stop && args.steps.push_to_hub;
    let session = Session::open(&args.manifest_file)?;
    if push {
        // Credentials are checked before anything is generated or built.
        session.registries()?;
    }
    // As the original: `./generated` and `./metadata.json` in the current directory.
    let given = args
        .dockerfile_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("./generated"));
    let output = session.output_dir(Some(&given));
    let matrix = Matrix::new(&session.manifest, &args.options(output.relative))?;
    let metadata = args.dump_metadata.then(|| PathBuf::from("./metadata.json"));
    // Held to the end of the builds: no other run swaps the Dockerfiles
    // being built.
    let _lock = generate::generate_into(
        &session,
        &matrix,
        &output.path,
        metadata.as_deref(),
        args.dry_run,
        out,
    )?;
    if args.dry_run || !(build || push) {
        return Ok(());
    }
    let plan = Plan::of(matrix, &session.manifest);
    if build {
        // `-bi -pth`: the pushes follow the build (bake pushes as it builds).
        let settings = build_settings(args, push)?;
        return build::build(&session, &plan, &Selection::default(), &settings, out);
    }
    if push {
        push::push(
            &session,
            &plan,
            &Selection::default(),
            &push_settings(),
            out,
        )?;
    }
    Ok(())
}

/// `-bi`: a build of every target, stopping at the first failure, as
/// `build` with the original's `-o` and `-t`; with `-pth`, as `build --push`.
fn build_settings(args: &Legacy, push: bool) -> Result<build::Settings, Error> {
    Ok(build::Settings {
        engine: build::EngineChoice::of(&args.engine)?,
        jobs: None,
        keep_going: false,
        overwrite: args.overwrite,
        network: None,
        build_args: Vec::new(),
        timeout: Duration::from_secs(args.timeout),
        report: None,
        log_dir: None,
        mode: crate::build::Mode::Build,
        registries: build::RegistryUse {
            skip_pushed: false,
            push,
        },
    })
}

/// `-pth`: `push` with its defaults (the original has no flags for them).
fn push_settings() -> push::Settings {
    push::Settings {
        jobs: None,
        attempts: super::args::ATTEMPTS,
        timeout: Duration::from_secs(super::args::REGISTRY_TIMEOUT),
        report: None,
        dry_run: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        translate(args.iter().map(OsString::from))
            .into_iter()
            .map(|s| s.into_string().unwrap())
            .collect()
    }

    #[test]
    fn original_short_flags_become_long_flags() {
        assert_eq!(
            strings(&[
                "x", "-bv", "0.13.0", "-dm", "-sag", "-pv=3.8", "--bv", "1", "-r", "runtime"
            ]),
            [
                "x",
                "--bentoml_version",
                "0.13.0",
                "--dump_metadata",
                "--stop_at_generate",
                "--python_version=3.8",
                "--bentoml_version",
                "1",
                "-r",
                "runtime"
            ]
        );
        assert_eq!(
            strings(&["x", "-bentoml_version", "1"]),
            ["x", "--bentoml_version", "1"]
        );
        assert_eq!(strings(&["x", "--", "-bv"]), ["x", "--", "-bv"]);
        assert_eq!(
            strings(&["x", "--r", "runtime", "--o", "--t=5"]),
            ["x", "--releases", "runtime", "--overwrite", "--timeout=5"]
        );
    }

    #[test]
    fn bi_builds_as_build_does_with_the_original_overwrite_and_timeout() {
        use clap::Parser;
        let cli = super::super::args::Cli::parse_from(translate(
            ["x", "-bv", "1", "-bi", "-o", "-t", "60"].map(OsString::from),
        ));
        let settings = build_settings(&cli.legacy, false).unwrap();
        assert!(settings.overwrite && !settings.keep_going);
        assert_eq!(settings.timeout, Duration::from_secs(60));
        assert_eq!(settings.mode, crate::build::Mode::Build);
        assert_eq!(settings.engine, build::EngineChoice::Docker);
        assert!(!settings.registries.push);
    }

    #[test]
    fn bi_pth_with_bake_builds_and_pushes_in_one_run() {
        use clap::Parser;
        let cli = super::super::args::Cli::parse_from(translate(
            ["x", "-bv", "1", "-bi", "-pth", "--engine", "bake"].map(OsString::from),
        ));
        assert!(cli.legacy.steps.build_images && cli.legacy.steps.push_to_hub);
        let settings = build_settings(&cli.legacy, true).unwrap();
        assert_eq!(settings.engine, build::EngineChoice::Bake { builder: None });
        assert!(settings.registries.push);
    }
}
