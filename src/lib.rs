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
                    | output::Error::BrokenLink { .. },
                ),
            ) => 2,
            Self::Interrupted
            | Self::Generate(
                generate::Error::Interrupted | generate::Error::Output(output::Error::Interrupted),
            ) => 130,
            Self::Generate(generate::Error::Output(_))
            | Self::Context(_)
            | Self::Engine(_)
            | Self::BuildFailed { .. }
            | Self::PushFailed { .. }
            | Self::NotCurrent { .. }
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
pub fn run<I: IntoIterator<Item = OsString>>(args: I, out: &mut dyn Write) -> Result<(), Error> {
    let cli = cli::Cli::try_parse_from(cli::translate(args)).unwrap_or_else(|e| e.exit());
    commands::run(cli, out)
}
