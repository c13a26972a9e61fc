//! The command line: subcommands in today's conventions, and the original
//! tool's flags (`-bv 0.13.0 -dm`) in its own single-dash forms.
//!
//! The original's multi-letter short flags (`-bv`, `-sag`, ...) cannot be
//! clap short flags, so [`translate`] rewrites them (and absl's other
//! spellings: `--bv`, `-bentoml_version`, `-bv=X`) to their long forms before
//! parsing.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::manifest::ReleaseType;

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

/// bentoml-docker: renders, builds and publishes a release matrix of Docker images.
#[derive(Debug, Parser)]
#[command(
    name = "bentoml-docker",
    version,
    args_conflicts_with_subcommands = true,
    args_override_self = true,
    after_help = "Run in an images repo (the directory with `manifest.yml` and `templates/`).\n\
                  The original tool's flags work without a subcommand, e.g.\n  \
                  bentoml-docker -bv 0.13.0 -dm     generate Dockerfiles and metadata.json\n\n\
                  Exit codes: 0 ok, 1 failure (a build, test, push or check failed), 2 invalid\n\
                  manifest, templates or usage, 130 interrupted."
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The original tool's flags.
    #[command(flatten)]
    pub legacy: Legacy,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Render every Dockerfile of the matrix into `generated/`, replacing it as a whole.
    Generate(GenerateArgs),
    /// Check the manifest and its templates; report every problem.
    Validate(ManifestArgs),
    /// Show every target: tag, Dockerfile, what it is built FROM, in build order.
    Plan(PlanArgs),
    /// Check generated/: up to date, every Dockerfile parses, FROMs and COPY sources exist.
    Check(CheckArgs),
    /// Generate, then build the images in dependency order, skipping what is up to date.
    Build(Box<BuildArgs>),
    /// Run the manifest's `tests` in the images that are built.
    Test(Box<TestArgs>),
    /// Push the built images to every enabled registry and verify each digest there.
    Push(Box<PushArgs>),
    /// Compare the plan with what each registry holds: missing, stale and extra tags.
    Status(Box<StatusArgs>),
    /// Print shell completions for bash, zsh, fish, elvish or PowerShell.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff).
    Man,
}

/// `push`.
#[derive(Debug, Args)]
pub struct PushArgs {
    #[command(flatten)]
    pub manifest: ManifestArgs,
    #[command(flatten)]
    pub matrix: MatrixArgs,
    #[command(flatten)]
    pub selection: SelectionArgs,
    /// Pushes to run at once (default: the number of CPUs).
    #[arg(short = 'j', long, value_name = "N", value_parser = at_least_one::<usize>)]
    pub jobs: Option<usize>,
    /// Attempts per push when the registry fails in a way that may pass (5xx, 429, connection).
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = at_least_one::<u32>)]
    pub attempts: u32,
    /// Seconds to wait for each answer of a registry (for a push, for any
    /// progress) before the attempt fails.
    #[arg(long, value_name = "SECONDS", default_value_t = 60, value_parser = at_least_one::<u64>)]
    pub timeout: u64,
    /// Write the summary as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Show what would be pushed where; push nothing.
    #[arg(long = "dry-run", alias = "dry_run")]
    pub dry_run: bool,
}

/// `status`: what the registries hold, so none of the push options.
#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub manifest: ManifestArgs,
    #[command(flatten)]
    pub matrix: MatrixArgs,
    #[command(flatten)]
    pub selection: SelectionArgs,
    /// Seconds to wait for each answer of a registry before the request fails.
    #[arg(long, value_name = "SECONDS", default_value_t = 60, value_parser = at_least_one::<u64>)]
    pub timeout: u64,
    /// Write the table as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
}

/// `test`.
#[derive(Debug, Args)]
pub struct TestArgs {
    #[command(flatten)]
    pub manifest: ManifestArgs,
    #[command(flatten)]
    pub matrix: MatrixArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub selection: SelectionArgs,
    /// Images to test at once (default: the number of CPUs).
    #[arg(short = 'j', long, value_name = "N", value_parser = at_least_one::<usize>)]
    pub jobs: Option<usize>,
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Write the summary as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Where test logs go (default: `.bentoml-docker/logs` in the images repo).
    #[arg(long = "log-dir", value_name = "DIR")]
    pub log_dir: Option<PathBuf>,
}

/// Which manifest.
#[derive(Debug, Args)]
pub struct ManifestArgs {
    /// The manifest; its directory is the images repo.
    #[arg(
        short = 'm',
        long = "manifest",
        visible_alias = "manifest-file",
        alias = "manifest_file",
        value_name = "FILE",
        default_value = "manifest.yml"
    )]
    pub manifest: PathBuf,
}

/// Which part of the matrix.
#[derive(Debug, Args)]
pub struct MatrixArgs {
    /// BentoML release version, e.g. 1.3.0 (default: the manifest's `bentoml_version`).
    #[arg(
        short = 'b',
        long = "bentoml-version",
        alias = "bentoml_version",
        value_name = "VERSION"
    )]
    pub bentoml_version: Option<String>,
    /// CUDA version from `cuda_dependencies` (default: the only one, or 11.3.1).
    #[arg(long = "cuda-version", alias = "cuda_version", value_name = "VERSION")]
    pub cuda_version: Option<String>,
    /// Python version; repeat or separate with commas (default: the manifest's, else 3.7 and 3.8).
    #[arg(
        short = 'p',
        long = "python-version",
        alias = "python_version",
        value_name = "VERSION",
        value_delimiter = ','
    )]
    pub python_versions: Vec<String>,
    /// Release types to act on; `base` is always included, as the others are built FROM it.
    #[arg(
        short = 'r',
        long = "release-type",
        alias = "releases",
        value_name = "TYPE",
        value_enum,
        value_delimiter = ','
    )]
    pub release_types: Vec<ReleaseTypeArg>,
}

/// Where Dockerfiles go.
#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Output directory (default: `generated` in the images repo).
    #[arg(
        short = 'o',
        long = "output",
        visible_alias = "dockerfile-dir",
        alias = "dockerfile_dir",
        value_name = "DIR"
    )]
    pub output: Option<PathBuf>,
}

/// `generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub manifest: ManifestArgs,
    #[command(flatten)]
    pub matrix: MatrixArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    /// Also write `metadata.json` beside the output directory.
    #[arg(long = "dump-metadata", alias = "dump_metadata")]
    pub dump_metadata: bool,
    /// Show what would be written; write nothing.
    #[arg(long = "dry-run", alias = "dry_run")]
    pub dry_run: bool,
}

/// `check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub manifest: ManifestArgs,
    #[command(flatten)]
    pub matrix: MatrixArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub manifest: ManifestArgs,
    #[command(flatten)]
    pub matrix: MatrixArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    /// Print the plan as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `build`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    #[command(flatten)]
    pub manifest: ManifestArgs,
    #[command(flatten)]
    pub matrix: MatrixArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub selection: SelectionArgs,
    #[command(flatten)]
    pub build: BuildOptions,
}

/// Which targets to build (with what they are built FROM, when missing or stale).
#[derive(Debug, Args, Default)]
pub struct SelectionArgs {
    /// Only this package; repeatable.
    #[arg(long = "package", value_name = "NAME")]
    pub packages: Vec<String>,
    /// Only this distro (`debian`) or distro release (`debian12`); repeatable.
    #[arg(long = "distro", value_name = "NAME")]
    pub distros: Vec<String>,
    /// Only this target, `PACKAGE:TAG`; repeatable.
    #[arg(long = "target", value_name = "NAME")]
    pub targets: Vec<String>,
}

/// How to build.
#[derive(Debug, Args)]
pub struct BuildOptions {
    /// Builds to run at once (default: the number of CPUs).
    #[arg(short = 'j', long, value_name = "N", value_parser = at_least_one::<usize>)]
    pub jobs: Option<usize>,
    /// After a failure, build everything that does not depend on it.
    #[arg(short = 'k', long = "keep-going")]
    pub keep_going: bool,
    /// Rebuild images even when they are up to date.
    #[arg(long, alias = "overwrite_images")]
    pub overwrite: bool,
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Network mode of RUN steps, e.g. `host`.
    #[arg(long, value_name = "MODE")]
    pub network: Option<String>,
    /// An extra build argument `NAME=VALUE`; repeatable.
    #[arg(long = "build-arg", value_name = "NAME=VALUE", value_parser = build_arg)]
    pub build_args: Vec<String>,
    /// Seconds allowed to each build.
    #[arg(
        short = 't',
        long,
        value_name = "SECONDS",
        default_value_t = 3600,
        value_parser = at_least_one::<u64>
    )]
    pub timeout: u64,
    /// Write the summary as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Show what would be built and why; build nothing.
    #[arg(long = "dry-run", alias = "dry_run")]
    pub dry_run: bool,
    /// Run the manifest's `tests` in each image after it is built.
    #[arg(long)]
    pub test: bool,
    /// Where build logs go (default: `.bentoml-docker/logs` in the images repo).
    #[arg(long = "log-dir", value_name = "DIR")]
    pub log_dir: Option<PathBuf>,
}

/// Which engine builds (or holds) the images.
#[derive(Clone, Debug, Args)]
pub struct EngineArgs {
    /// The builder: the Docker daemon, or buildah where there is no daemon.
    #[arg(long, value_enum, default_value_t = EngineArg::Docker)]
    pub engine: EngineArg,
    /// Storage driver of buildah, e.g. `vfs` (default: `STORAGE_DRIVER`, else buildah's).
    #[arg(long = "storage-driver", value_name = "DRIVER")]
    pub storage_driver: Option<String>,
}

impl Default for EngineArgs {
    fn default() -> Self {
        Self {
            engine: EngineArg::Docker,
            storage_driver: None,
        }
    }
}

/// `--engine`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum EngineArg {
    /// The Docker daemon (Engine API).
    Docker,
    /// buildah, without a daemon.
    Buildah,
}

/// A release type on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ReleaseTypeArg {
    /// The distro with Python.
    Base,
    /// BentoML from PyPI.
    Runtime,
    /// Runtime with CUDA and cuDNN.
    Cudnn,
    /// BentoML from its main branch.
    Devel,
}

impl From<ReleaseTypeArg> for ReleaseType {
    fn from(arg: ReleaseTypeArg) -> Self {
        match arg {
            ReleaseTypeArg::Base => Self::Base,
            ReleaseTypeArg::Runtime => Self::Runtime,
            ReleaseTypeArg::Cudnn => Self::Cudnn,
            ReleaseTypeArg::Devel => Self::Devel,
        }
    }
}

/// The original tool's flags, used without a subcommand.
#[derive(Debug, Args)]
#[command(next_help_heading = "Original flags (without a subcommand)")]
pub struct Legacy {
    /// -bv: BentoML release version.
    #[arg(long = "bentoml_version", value_name = "VERSION")]
    pub bentoml_version: Option<String>,
    /// -cv: CUDA version from `cuda_dependencies`.
    #[arg(long = "cuda_version", value_name = "VERSION")]
    pub cuda_version: Option<String>,
    /// -pv: Python version, repeatable.
    #[arg(long = "python_version", value_name = "VERSION", value_delimiter = ',')]
    pub python_version: Vec<String>,
    /// -r: release types to act on, repeatable.
    #[arg(
        short = 'r',
        long = "releases",
        value_name = "TYPE",
        value_enum,
        value_delimiter = ','
    )]
    pub releases: Vec<ReleaseTypeArg>,
    /// -dd: output directory.
    #[arg(long = "dockerfile_dir", value_name = "DIR")]
    pub dockerfile_dir: Option<PathBuf>,
    /// -mf: manifest file.
    #[arg(
        long = "manifest_file",
        value_name = "FILE",
        default_value = "manifest.yml"
    )]
    pub manifest_file: PathBuf,
    /// -dm: write metadata.json.
    #[arg(long = "dump_metadata")]
    pub dump_metadata: bool,
    /// -dr: show what would happen; write and build nothing.
    #[arg(long = "dry_run")]
    pub dry_run: bool,
    /// -sag: stop after generating.
    #[arg(long = "stop_at_generate")]
    pub stop_at_generate: bool,
    /// -bi: build images.
    #[arg(long = "build_images")]
    pub build_images: bool,
    /// -pth: push images.
    #[arg(long = "push_to_hub")]
    pub push_to_hub: bool,
    /// -o: rebuild images that already exist.
    #[arg(short = 'o', long = "overwrite")]
    pub overwrite: bool,
    /// -t: build timeout in seconds.
    #[arg(
        short = 't',
        long = "timeout",
        value_name = "SECONDS",
        default_value_t = 3600,
        value_parser = at_least_one::<u64>
    )]
    pub timeout: u64,
    /// -g: what to do: `dockerfiles` (stop after generating) and/or `images`, repeatable.
    #[arg(
        short = 'g',
        long = "generate",
        value_name = "WHAT",
        value_enum,
        value_delimiter = ','
    )]
    pub generate: Vec<GenerateWhat>,
}

/// A whole number, 1 or more (`--jobs`, `--timeout`, `--attempts`), said
/// in words when it is not one rather than in the parser's terms.
fn at_least_one<T>(text: &str) -> Result<T, String>
where
    T: std::str::FromStr<Err = std::num::ParseIntError> + PartialOrd + From<u8>,
{
    use std::num::IntErrorKind;
    match text.trim().parse::<T>() {
        Ok(n) if n >= T::from(1) => Ok(n),
        Ok(_) => Err("must be 1 or more".into()),
        Err(e) if *e.kind() == IntErrorKind::PosOverflow => Err("too large".into()),
        Err(_) => Err("expected a whole number, 1 or more".into()),
    }
}

/// `--build-arg NAME=VALUE`, NAME a word.
fn build_arg(text: &str) -> Result<String, String> {
    match text.split_once('=') {
        Some((name, _))
            if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
        {
            Ok(text.to_string())
        }
        Some(_) => Err("the NAME before `=` must be letters, digits and `_`".into()),
        None => Err("expected NAME=VALUE".into()),
    }
}

/// `-g` values of the original.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum GenerateWhat {
    /// Dockerfiles only.
    Dockerfiles,
    /// Build images.
    Images,
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
    fn the_command_line_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
