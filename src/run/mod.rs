//! The run model: what long work (building, testing, pushing) reports while
//! it runs ([`Event`], to a [`Reporter`]) and what it leaves at its end (a
//! [`Summary`] of one [`Outcome`] per item). Build, test and push share it,
//! so the command line draws them with one drawing and writes one shape of
//! JSON report.

mod event;

pub use event::{Event, Reporter};
#[cfg(test)]
pub use event::{Quiet, Recorder};

use std::path::PathBuf;

use serde::Serialize;

/// The kind of work a run does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Work {
    /// Building images (and testing them, with `--test`).
    Build,
    /// Testing images that exist.
    Test,
    /// Publishing images to registries.
    Push,
}

/// What happened to one item: a target (build, test), or a target on a
/// registry (push).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Built now.
    Built,
    /// Its image, here, carries the current inputs hash.
    UpToDate,
    /// The registry asked (`build --skip-pushed`) holds an image with the
    /// current inputs hash: not built, and pulled only when a dependent
    /// is built FROM it.
    UpToDateInRegistry,
    /// Would be built (dry run).
    WouldBuild,
    /// Its tests passed (`test`).
    Passed,
    /// Pushed, and the registry holds the pushed digest (unless `reason`
    /// says an interruption came before that was checked).
    Pushed,
    /// Its build, tests, push or the push's verification failed.
    Failed,
    /// Not attempted: what it is built FROM failed, there is no image to
    /// test or push, or the run stopped before it.
    Skipped,
    /// Stopped by an interruption.
    Cancelled,
}

impl Status {
    /// How the summary names it.
    #[must_use]
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Built => "built",
            Self::UpToDate => "up to date (local)",
            Self::UpToDateInRegistry => "up to date (registry)",
            Self::WouldBuild => "would build",
            Self::Passed => "passed",
            Self::Pushed => "pushed",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
            Self::Cancelled => "cancelled",
        }
    }

    /// Built, up to date (here or in the registry), or tested: what others
    /// can be built FROM.
    #[must_use]
    pub fn ready(&self) -> bool {
        matches!(
            self,
            Self::Built | Self::UpToDate | Self::UpToDateInRegistry | Self::Passed
        )
    }
}

/// The result of one item.
#[derive(Clone, Debug, Serialize)]
pub struct Outcome {
    /// The target, `PACKAGE:TAG`.
    pub target: String,
    /// The registry's key in the manifest (push).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
    /// Where it went, `repository:tag` (push).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// What happened.
    pub status: Status,
    /// Why (for anything but a plain success).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The image ID.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// The digest the registry holds (push).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// Its inputs hash.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inputs: Option<String>,
    /// For an index of several platforms (push): each platform's manifest
    /// digest, as the registry lists them; `digest` is the index's.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<PlatformDigest>,
    /// The build or test log.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<PathBuf>,
    /// The tests run, with their exit codes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tests: Vec<TestRun>,
    /// The last lines of a failed build's or test's log.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub log_tail: Vec<String>,
    /// Requests made (push): pushes, or for a failed credential check, its
    /// attempts; none for an item that did not get as far as a push.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts: Option<u32>,
    /// Seconds spent.
    pub seconds: f64,
}

impl Outcome {
    /// `target` ended with `status`, nothing else known yet.
    #[must_use]
    pub fn new(target: &str, status: Status) -> Self {
        Self {
            target: target.to_string(),
            registry: None,
            reference: None,
            status,
            reason: None,
            image: None,
            digest: None,
            inputs: None,
            platforms: Vec::new(),
            log: None,
            tests: Vec::new(),
            log_tail: Vec::new(),
            attempts: None,
            seconds: 0.0,
        }
    }

    /// With `reason`.
    #[must_use]
    pub fn because(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    /// What the drawing calls it: the target, or for a push where it went.
    #[must_use]
    pub fn item(&self) -> &str {
        self.reference.as_deref().unwrap_or(&self.target)
    }
}

/// One test command run in an image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TestRun {
    /// The shell command.
    pub command: String,
    /// The platform it ran on, for an image of several.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// Its exit code.
    pub code: i64,
}

/// One platform of an index, with its manifest's digest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PlatformDigest {
    /// `os/arch[/variant]`.
    pub platform: String,
    /// Its manifest's digest.
    pub digest: String,
}

/// A registry (or one of its repositories) that failed the credential
/// check before any push: said once, not once per target.
#[derive(Clone, Debug, Serialize)]
pub struct CheckFailure {
    /// The registry's key in the manifest.
    pub registry: String,
    /// What happened and what to check, credentials scrubbed.
    pub message: String,
    /// Attempts made.
    pub attempts: u32,
}

/// Every item's outcome, in order, and how the run ended.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// What the run did.
    pub work: Work,
    /// The engine used.
    pub engine: String,
    /// One per target (per target and registry for a push).
    pub targets: Vec<Outcome>,
    /// Failed credential checks: their pushes were not attempted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<CheckFailure>,
    /// True when the run was interrupted.
    pub interrupted: bool,
    /// Seconds for the whole run.
    pub seconds: f64,
    /// The pushes that followed the build (`build --push`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub push: Option<Box<Summary>>,
}

impl Summary {
    /// True when nothing failed, was skipped or cancelled, and the run was
    /// not interrupted.
    #[must_use]
    pub fn success(&self) -> bool {
        !self.interrupted
            && self.targets.iter().all(|o| match self.work {
                Work::Push => o.status == Status::Pushed,
                Work::Build | Work::Test => o.status.ready() || o.status == Status::WouldBuild,
            })
    }

    /// How many items ended with `status`.
    #[must_use]
    pub fn count(&self, status: &Status) -> usize {
        self.targets.iter().filter(|o| &o.status == status).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(work: Work, statuses: &[Status]) -> Summary {
        Summary {
            work,
            engine: "fake".into(),
            targets: statuses
                .iter()
                .map(|s| Outcome::new("app:1", s.clone()))
                .collect(),
            checks: Vec::new(),
            interrupted: false,
            seconds: 0.0,
            push: None,
        }
    }

    #[test]
    fn success_is_judged_by_the_work_done() {
        assert!(summary(Work::Build, &[Status::Built, Status::UpToDate]).success());
        assert!(summary(Work::Build, &[Status::WouldBuild]).success());
        assert!(summary(Work::Build, &[Status::UpToDateInRegistry]).success());
        assert!(!summary(Work::Build, &[Status::Built, Status::Skipped]).success());
        assert!(summary(Work::Test, &[Status::Passed]).success());
        assert!(summary(Work::Push, &[Status::Pushed]).success());
        assert!(!summary(Work::Push, &[Status::Built]).success());
        let mut interrupted = summary(Work::Push, &[Status::Pushed]);
        interrupted.interrupted = true;
        assert!(!interrupted.success());
    }

    #[test]
    fn a_report_leaves_out_what_does_not_concern_its_work() {
        let built = serde_json::to_value(summary(Work::Build, &[Status::Built])).unwrap();
        assert_eq!(built["work"], "build");
        assert_eq!(built["targets"][0]["status"], "built");
        for absent in ["registry", "reference", "digest", "attempts", "tests"] {
            assert!(built["targets"][0].get(absent).is_none(), "{absent}");
        }
        assert!(built.get("checks").is_none());
    }

    #[test]
    fn up_to_date_says_where_in_the_summary_and_the_report() {
        assert_eq!(Status::UpToDate.as_str(), "up to date (local)");
        assert_eq!(Status::UpToDateInRegistry.as_str(), "up to date (registry)");
        let report = serde_json::to_value(summary(
            Work::Build,
            &[Status::UpToDate, Status::UpToDateInRegistry],
        ))
        .unwrap();
        assert_eq!(report["targets"][0]["status"], "up-to-date");
        assert_eq!(report["targets"][1]["status"], "up-to-date-in-registry");
    }
}
