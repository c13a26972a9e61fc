//! The command line, on top of the stages: it parses the arguments (the
//! original's flag spellings included), opens a `session`, runs one
//! command and draws what happened. Each command is a file of its own that
//! reads its arguments, calls the stages and draws; none holds logic a
//! stage owns.
//!
//! - `args`: the clap definitions; `original`: the original's flags and
//!   command line;
//! - `session`: loading, output directory, plan, registries, runtime and
//!   signals at the start of a run, the report and the exit at its end;
//! - one file per command: `generate`, `validate`, `plan`, `check`,
//!   `build`, `test`, `push`, `status`, `export` (`matrix`: its
//!   `github-matrix`), `graph`;
//! - `draw`: progress, tables and summaries; [`Error`]: every way a run ends
//!   badly, with its exit code.

mod args;
mod build;
mod check;
mod draw;
mod error;
mod export;
mod generate;
mod graph;
mod matrix;
mod original;
mod plan;
mod push;
mod session;
mod status;
mod test;
mod validate;

use std::ffi::OsString;
use std::io::Write;

use clap::{CommandFactory, Parser};

pub use error::Error;

use crate::{diagnostic, manifest};
use args::{Cli, Command};

/// Parses `args` (the original's flag spellings included) and runs the
/// command, drawing results on `out`. Usage errors, `--help` and `--version`
/// are clap's: they print and exit.
///
/// # Errors
/// Whatever stage failed; see [`Error::exit_code`].
pub fn run<I: IntoIterator<Item = OsString>>(args: I, out: &mut dyn Write) -> Result<(), Failure> {
    let cli = Cli::try_parse_from(original::translate(args))
        .unwrap_or_else(|e| original::explain(e).exit());
    let subcommand = cli.command.is_some();
    dispatch(cli, out).map_err(|error| Failure::new(error, subcommand))
}

/// Runs a parsed command line.
fn dispatch(cli: Cli, out: &mut dyn Write) -> Result<(), Error> {
    session::watch_signals();
    match cli.command {
        Some(Command::Generate(args)) => generate::run(&args, out),
        Some(Command::Validate(args)) => validate::run(&args, out),
        Some(Command::Plan(args)) => plan::run(&args, out),
        Some(Command::Check(args)) => check::run(&args, out),
        Some(Command::Build(args)) => build::run(&args, out),
        Some(Command::Test(args)) => test::run(&args, out),
        Some(Command::Push(args)) => push::run(&args, out),
        Some(Command::Status(args)) => status::run(&args, out),
        Some(Command::Export(export)) => export::run(&export, out),
        Some(Command::Graph(args)) => graph::run(&args, out),
        Some(Command::Completions { shell }) => {
            // Rendered in memory: clap_complete panics when its writer fails
            // (`completions bash | head`), and a closed pipe is no failure.
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "bentoml-docker", &mut script);
            out.write_all(&script).map_err(Error::Stdout)
        }
        Some(Command::Man) => clap_mangen::Man::new(Cli::command())
            .render(out)
            .map_err(Error::Stdout),
        None => original::run(&cli.legacy, out),
    }
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
                | Error::Generate(crate::generate::Error::Render(problems)) => Some(problems),
                _ => None,
            };
            if let Some(problems) = problems {
                *problems = diagnostic::Problems::new(
                    problems
                        .problems()
                        .iter()
                        .map(|p| {
                            let help = miette::Diagnostic::help(p)
                                .map(|h| original::subcommand_spelling(&h.to_string()));
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
            original::subcommand_spelling(&help)
        } else {
            original::original_spelling(&help)
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
