//! Everything that can stop a run, gathered from the stages. Each stage's
//! error knows its own exit code; this one only adds what belongs to the
//! command line itself (its options, standard output, the report file) and
//! the outcomes of a whole run (builds, tests or pushes failed).

use std::path::PathBuf;

use crate::{bake, diagnostic, engine, fanout, generate, manifest, output, plan, registry};

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
    /// `--package`, `--distro` or `--target` names nothing in the plan.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Selection(#[from] plan::NotInPlan),
    /// A `--build-arg` that is not `NAME=VALUE`.
    #[error("`--build-arg {arg}` is not `NAME=VALUE`")]
    BuildArg {
        /// The argument as given.
        arg: String,
    },
    /// A multi-platform target for an engine that builds one platform.
    #[error("{message}")]
    MultiPlatform {
        /// Which target, and which engines can.
        message: String,
    },
    /// `--builder` with an engine other than bake.
    #[error("`--builder` names a buildx builder, which only `--engine bake` uses")]
    #[diagnostic(help("add `--engine bake`, or drop `--builder`"))]
    BuilderWithoutBake,
    /// `SOURCE_DATE_EPOCH` is set to something that is not a time.
    #[error("{message}")]
    #[diagnostic(help("set it to a Unix time in seconds, such as `git log -1 --format=%ct`"))]
    SourceDateEpoch {
        /// What is wrong with it.
        message: String,
    },
    /// The build logs' directory cannot be made or written.
    #[error("cannot write logs in `{}`: {why}", path.display())]
    #[diagnostic(help("give `--log-dir` a directory (it is created when missing)"))]
    LogDir {
        /// The directory.
        path: PathBuf,
        /// Why not, said in the message (the message was always one line).
        why: std::io::Error,
    },
    /// `--report` names a directory.
    #[error("`--report {}` is a directory", path.display())]
    #[diagnostic(help("name a file, e.g. `--report report.json`"))]
    ReportIsADirectory {
        /// The path given.
        path: PathBuf,
    },
    /// `--report` names a file in a directory that does not exist.
    #[error("the directory of `--report {}` does not exist", path.display())]
    #[diagnostic(help("create `{}` first", parent.display()))]
    ReportDirectoryMissing {
        /// The path given.
        path: PathBuf,
        /// Its directory.
        parent: PathBuf,
    },
    /// No registry of the manifest is switched on.
    #[error("no registry is enabled")]
    NoRegistry {
        /// How to switch one on.
        #[help]
        help: String,
    },
    /// Generation failed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Generate(#[from] generate::Error),
    /// The plan cannot be written as a bake file.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Bake(#[from] bake::Error),
    /// The plan cannot be cut into a CI matrix as asked.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Fanout(#[from] fanout::Error),
    /// The bake file cannot be written.
    #[error("cannot write the bake file `{path}`")]
    BakeFile {
        /// The path given.
        path: PathBuf,
        /// Why.
        #[source]
        #[diagnostic_source]
        source: output::Error,
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
    /// The `--report` file cannot be written (after the run it reports).
    #[error("cannot write the report `{}`", path.display())]
    Report {
        /// The path given.
        path: PathBuf,
        /// Why.
        #[source]
        #[diagnostic_source]
        source: output::Error,
    },
    /// Standard output is gone (or full): nothing more can be said there.
    #[error("cannot write to standard output")]
    Stdout(#[source] std::io::Error),
}

impl Error {
    /// The documented exit code: 2 for invalid input or usage, 1 for
    /// failures, 130 for an interruption. A stage's error says its own.
    #[must_use]
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Manifest(error) => error.exit_code(),
            Self::Plan(error) => error.exit_code(),
            Self::Selection(error) => error.exit_code(),
            Self::Generate(error) => error.exit_code(),
            Self::Engine(error) => error.exit_code(),
            Self::Registry(error) => error.exit_code(),
            Self::Report { source, .. } | Self::BakeFile { source, .. } => source.exit_code(),
            Self::Bake(error) => error.exit_code(),
            Self::Fanout(error) => error.exit_code(),
            Self::Invalid(_)
            | Self::BuildArg { .. }
            | Self::BuilderWithoutBake
            | Self::MultiPlatform { .. }
            | Self::SourceDateEpoch { .. }
            | Self::LogDir { .. }
            | Self::ReportIsADirectory { .. }
            | Self::ReportDirectoryMissing { .. }
            | Self::NoRegistry { .. } => 2,
            Self::Interrupted => 130,
            Self::Context(_)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_that_cannot_be_written_says_so_and_not_standard_output() {
        let error = Error::Report {
            path: PathBuf::from("out/report.json"),
            source: output::Error::Io {
                action: "write",
                path: PathBuf::from("out/report.json"),
                source: std::io::Error::from(std::io::ErrorKind::StorageFull),
            },
        };
        assert_eq!(
            error.to_string(),
            "cannot write the report `out/report.json`"
        );
        assert_eq!(error.exit_code(), 1);
        let stdout = Error::Stdout(std::io::Error::from(std::io::ErrorKind::BrokenPipe));
        assert_eq!(stdout.to_string(), "cannot write to standard output");
    }

    #[test]
    fn a_bad_build_arg_is_a_usage_error_of_its_own() {
        let error = Error::BuildArg { arg: "X".into() };
        assert_eq!(error.to_string(), "`--build-arg X` is not `NAME=VALUE`");
        assert_eq!(error.exit_code(), 2);
    }

    #[test]
    fn each_stage_gives_its_exit_code() {
        assert_eq!(Error::from(plan::Error::Empty).exit_code(), 2);
        assert_eq!(Error::from(generate::Error::Interrupted).exit_code(), 130);
        assert_eq!(
            Error::from(generate::Error::Output(output::Error::Interrupted)).exit_code(),
            130
        );
        assert_eq!(
            Error::from(engine::Error::Build("no space".into())).exit_code(),
            1
        );
    }
}
