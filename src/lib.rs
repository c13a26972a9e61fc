//! bentoml-docker renders, builds and publishes a release matrix of Docker
//! images from one `manifest.yml` and a directory of Jinja templates.
//!
//! The stages follow the data: [`manifest`] (read and check) -> [`plan`]
//! (every target, before any side effect) -> [`render`] (templates) ->
//! [`output`] (atomic writes); [`generate`] ties the last three together.

pub mod build;
pub mod check;
pub mod cli;
mod commands;
pub mod diagnostic;
pub mod dockerfile;
mod draw;
pub mod engine;
pub mod generate;
pub mod git;
pub mod interrupt;
pub mod manifest;
pub mod output;
pub mod plan;
pub mod push;
pub mod registry;
pub mod render;
pub mod status;

use std::ffi::OsString;
use std::io::Write;

use clap::Parser;

/// Everything that can stop a run, by stage.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum Error {
    /// The manifest could not be read.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Manifest(#[from] manifest::Error),
    /// The manifest or templates have problems.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Invalid(#[from] diagnostic::Problems),
    /// The command line does not fit the manifest.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Plan(#[from] plan::Error),
    /// Generation failed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Generate(#[from] generate::Error),
    /// A selection names nothing in the plan, or a build option is malformed.
    #[error("{message}")]
    Selection {
        /// What is wrong.
        message: String,
        /// The closest name.
        #[help]
        help: Option<String>,
    },
    /// The build context cannot be read.
    #[error("{0}")]
    Context(String),
    /// The engine cannot be used.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Engine(#[from] engine::Error),
    /// Some builds failed.
    #[error("{failed} builds failed, {skipped} skipped")]
    BuildFailed {
        /// Failed builds.
        failed: usize,
        /// Targets not attempted.
        skipped: usize,
    },
    /// Some image tests failed (`test`).
    #[error(
        "{failed} targets failed their tests; {skipped} were not tested (no image, or its base not tested)"
    )]
    TestsFailed {
        /// Targets whose tests failed (or whose image is missing).
        failed: usize,
        /// Targets not tested.
        skipped: usize,
    },
    /// The runtime that talks to an engine or a registry cannot start.
    #[error("cannot start the runtime for the engine and registry calls")]
    Runtime(#[source] std::io::Error),
    /// Registries cannot be used (a credential variable is not set).
    #[error(transparent)]
    #[diagnostic(transparent)]
    Registry(#[from] registry::Error),
    /// Some pushes failed.
    #[error("{failed} pushes failed, {skipped} skipped")]
    PushFailed {
        /// Failed pushes.
        failed: usize,
        /// Pushes not attempted.
        skipped: usize,
    },
    /// `check` found `generated/` stale, or a Dockerfile that breaks a rule.
    #[error("`check` failed: {}", match .0.len() {
        1 => "1 problem".to_string(),
        n => format!("{n} problems"),
    })]
    CheckFailed(#[related] Vec<diagnostic::Problem>),
    /// `status` found tags that are not current.
    #[error("{count} tags are missing, stale or extra")]
    NotCurrent {
        /// How many.
        count: usize,
    },
    /// Interrupted (Ctrl-C).
    #[error("interrupted")]
    Interrupted,
    /// Standard output is gone.
    #[error("cannot write output")]
    Stdout(#[from] std::io::Error),
}

impl Error {
    /// The documented exit code: 2 for invalid input or usage, 1 for
    /// failures, 130 for an interruption.
    #[must_use]
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Manifest(_)
            | Self::Invalid(_)
            | Self::Plan(_)
            | Self::Selection { .. }
            | Self::Registry(_)
            | Self::Generate(
                generate::Error::Render(_)
                | generate::Error::Output(
                    output::Error::WouldReplaceRepo { .. }
                    | output::Error::WrongKind { .. }
                    | output::Error::BrokenLink { .. }
                    | output::Error::ForeignLock { .. },
                ),
            ) => 2,
            // `output::Error::Interrupted` (the lock's wait) never gets
            // here: generation says it as `generate::Error::Interrupted`.
            Self::Interrupted | Self::Generate(generate::Error::Interrupted) => 130,
            Self::Generate(generate::Error::Output(_))
            | Self::Context(_)
            | Self::Engine(_)
            | Self::BuildFailed { .. }
            | Self::TestsFailed { .. }
            | Self::Runtime(_)
            | Self::PushFailed { .. }
            | Self::NotCurrent { .. }
            | Self::CheckFailed(_)
            | Self::Stdout(_) => 1,
        }
    }
}

/// Parses `args` (the original's flag spellings included) and runs the
/// command, drawing results on `out`. Usage errors, `--help` and `--version`
/// are clap's: they print and exit.
///
/// # Errors
/// Whatever stage failed; see [`Error::exit_code`].
pub fn run<I: IntoIterator<Item = OsString>>(args: I, out: &mut dyn Write) -> Result<(), Failure> {
    let cli =
        cli::Cli::try_parse_from(cli::translate(args)).unwrap_or_else(|e| cli::explain(e).exit());
    let subcommand = cli.command.is_some();
    commands::run(cli, out).map_err(|error| Failure::new(error, subcommand))
}

/// A failed run, told in the flags of the command line that ran it: the
/// stages' help names the original's flags (`-mf PATH`), which a subcommand
/// spells its own way (`-m PATH`), and a subcommand's (`--engine buildah`),
/// which the original's command line does not take.
#[derive(Debug)]
pub struct Failure {
    error: Error,
    subcommand: bool,
}

impl Failure {
    fn new(mut error: Error, subcommand: bool) -> Self {
        if subcommand {
            let problems = match &mut error {
                Error::Invalid(problems)
                | Error::Manifest(manifest::Error::Invalid(problems))
                | Error::Generate(generate::Error::Render(problems)) => Some(problems),
                _ => None,
            };
            if let Some(problems) = problems {
                *problems = diagnostic::Problems::new(
                    problems
                        .problems()
                        .iter()
                        .map(|p| {
                            let help = miette::Diagnostic::help(p)
                                .map(|h| cli::subcommand_spelling(&h.to_string()));
                            p.clone().maybe_help(help)
                        })
                        .collect(),
                );
            }
        }
        Self { error, subcommand }
    }

    /// What stopped the run.
    #[must_use]
    pub fn error(&self) -> &Error {
        &self.error
    }

    /// See [`Error::exit_code`].
    #[must_use]
    pub fn exit_code(&self) -> u8 {
        self.error.exit_code()
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl std::error::Error for Failure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.error)
    }
}

impl miette::Diagnostic for Failure {
    fn code<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.error.code()
    }

    fn severity(&self) -> Option<miette::Severity> {
        self.error.severity()
    }

    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        let help = self.error.help()?.to_string();
        Some(Box::new(if self.subcommand {
            cli::subcommand_spelling(&help)
        } else {
            cli::original_spelling(&help)
        }))
    }

    fn url<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.error.url()
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.error.source_code()
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        self.error.labels()
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn miette::Diagnostic> + 'a>> {
        self.error.related()
    }

    fn diagnostic_source(&self) -> Option<&dyn miette::Diagnostic> {
        self.error.diagnostic_source()
    }
}
