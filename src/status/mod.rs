//! What each registry holds, compared with the plan: for every selected
//! target, whether its tag is there and is the local build (`current`),
//! and every tag of a package that the matrix does not produce (`extra`).
//! It asks through the [`Registry`] and [`Engine`] traits, so that it can be
//! tested with fakes; registry messages are scrubbed of credentials.

use std::future::Future;
use std::sync::Arc;

use serde::Serialize;

use crate::engine::{Engine, Image};
use crate::plan::Target;
use crate::registry::reference::{same_image, tagged};
use crate::registry::{Access, Enabled, Failure, Registry, Scrubber, classify};

mod produced;
#[cfg(test)]
mod tests;

pub use produced::{Produced, produced};

/// The state of one tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum State {
    /// The registry holds the local build.
    #[serde(rename = "current")]
    Current,
    /// The registry has no such tag.
    #[serde(rename = "missing")]
    Missing,
    /// The registry holds another image under the tag.
    #[serde(rename = "not the local build")]
    NotTheLocalBuild,
    /// The tag is there, but there is no local image to compare it with.
    #[serde(rename = "no local image")]
    NoLocalImage,
    /// The tag is there, and no Docker daemon can say what was built.
    #[serde(rename = "unknown (no Docker daemon)")]
    Unknown,
    /// A tag the matrix would produce for another BentoML version: an
    /// older (or newer) release, not a failure.
    #[serde(rename = "other release")]
    OtherRelease,
    /// A tag of the package that the matrix does not produce, for any
    /// BentoML version.
    #[serde(rename = "extra")]
    Extra,
    /// The registry, or the Docker daemon, could not be asked.
    #[serde(rename = "error")]
    Error,
}

impl State {
    /// Whether the tag is as the plan wants it: current, or a release the
    /// plan is not about.
    #[must_use]
    pub fn fine(self) -> bool {
        matches!(self, Self::Current | Self::OtherRelease)
    }
}

impl State {
    /// How the table names it.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Current => "current",
            Self::Missing => "missing",
            Self::NotTheLocalBuild => "not the local build",
            Self::NoLocalImage => "no local image",
            Self::Unknown => "unknown (no Docker daemon)",
            Self::OtherRelease => "other release",
            Self::Extra => "extra",
            Self::Error => "error",
        }
    }
}

/// One row of `status`.
#[derive(Clone, Debug, Serialize)]
pub struct TagState {
    /// The local image, `PACKAGE:TAG`; empty for `extra` tags and listing errors.
    pub target: String,
    /// The registry's key in the manifest.
    pub registry: String,
    /// `repository:tag`, or the repository when its tags could not be listed.
    pub reference: String,
    /// What was found.
    pub state: State,
    /// The digest the registry holds, or for `error` what went wrong.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// Compares `targets` with what `registries` hold. `produced` holds every
/// `(package, tag)` the matrix produces (whatever the selection): a tag of
/// the registry outside it is `extra`, unless it is one of another BentoML
/// release. `engine`, when a daemon answers, tells whether a held tag is
/// the local build.
pub async fn status(
    targets: &[&Target],
    produced: &Produced,
    registries: &[Arc<Enabled>],
    registry: &dyn Registry,
    engine: Option<&dyn Engine>,
    scrubber: &Scrubber,
) -> Vec<TagState> {
    let mut packages: Vec<&str> = Vec::new();
    for target in targets {
        if !packages.contains(&target.package.as_str()) {
            packages.push(&target.package);
        }
    }
    let mut survey = Survey {
        targets,
        produced,
        registry,
        scrubber,
        daemon: Daemon { engine, down: None },
        states: Vec::new(),
    };
    for enabled in registries {
        // A registry that refused the credentials or did not answer is
        // said so for each of its tags, without waiting on it again; a 403
        // concerns one repository only.
        let mut down = None;
        for &package in &packages {
            if let Some(repository) = enabled.repository(package) {
                let repository = Repository {
                    enabled,
                    path: repository,
                    package,
                };
                survey.repository(&repository, &mut down).await;
            }
        }
    }
    survey.states
}

/// One `status` run: what it asks, and the rows found so far.
struct Survey<'a> {
    targets: &'a [&'a Target],
    produced: &'a Produced,
    registry: &'a dyn Registry,
    scrubber: &'a Scrubber,
    daemon: Daemon<'a>,
    states: Vec<TagState>,
}

/// The repository of one package on one registry.
struct Repository<'a> {
    enabled: &'a Enabled,
    path: &'a str,
    package: &'a str,
}

impl Repository<'_> {
    fn row(
        &self,
        target: &str,
        reference: String,
        state: State,
        digest: Option<String>,
    ) -> TagState {
        TagState {
            target: target.to_string(),
            registry: self.enabled.host.clone(),
            reference,
            state,
            digest,
        }
    }
}

impl Survey<'_> {
    /// The rows of `repository`: the selected targets of its package, then
    /// the tags it holds that the matrix does not produce. `down` is what
    /// its registry said when it became unusable.
    async fn repository(&mut self, repository: &Repository<'_>, down: &mut Option<String>) {
        let registry = self.registry;
        let credentials = repository.enabled.credentials.as_ref();
        let held = match self
            .ask(repository, down, || {
                registry.tags(repository.path, credentials)
            })
            .await
        {
            Ok(held) => held,
            Err(message) => {
                let message = format!("cannot list the tags: {message}");
                let row =
                    repository.row("", repository.path.to_string(), State::Error, Some(message));
                self.states.push(row);
                return;
            }
        };
        let targets = self.targets;
        for target in targets.iter().filter(|t| t.package == repository.package) {
            let (state, digest) = self.target(repository, down, target, &held).await;
            let reference = tagged(repository.path, &target.tag);
            self.states
                .push(repository.row(&target.name, reference, state, digest));
        }
        for tag in held {
            let state = if self.produced.contains(repository.package, &tag) {
                continue;
            } else if self.produced.of_another_release(repository.package, &tag) {
                State::OtherRelease
            } else {
                State::Extra
            };
            let reference = tagged(repository.path, &tag);
            self.states.push(repository.row("", reference, state, None));
        }
    }

    /// The state of `target` in `repository`, which holds the tags `held`,
    /// and the digest held (or for `error` what went wrong).
    async fn target(
        &mut self,
        repository: &Repository<'_>,
        down: &mut Option<String>,
        target: &Target,
        held: &[String],
    ) -> (State, Option<String>) {
        if !held.contains(&target.tag) {
            return (State::Missing, None);
        }
        let registry = self.registry;
        let credentials = repository.enabled.credentials.as_ref();
        let digest = match self
            .ask(repository, down, || {
                registry.digest(repository.path, &target.tag, credentials)
            })
            .await
        {
            Ok(Some(digest)) => digest,
            Ok(None) => return (State::Missing, None),
            Err(message) => return (State::Error, Some(message)),
        };
        let state = match self.daemon.image(&target.name).await {
            None => State::Unknown,
            Some(Err(message)) => return (State::Error, Some(message)),
            Some(Ok(None)) => State::NoLocalImage,
            Some(Ok(Some(image)))
                if image
                    .repo_digests
                    .iter()
                    .any(|r| same_image(r, repository.path, &digest)) =>
            {
                State::Current
            }
            Some(Ok(Some(_))) => State::NotTheLocalBuild,
        };
        (state, Some(digest))
    }

    /// What `request` answers, or why it failed, in words; a registry found
    /// `down` is not asked again, and a failure that concerns more than one
    /// repository (credentials refused, no answer) marks it down.
    async fn ask<T, F>(
        &self,
        repository: &Repository<'_>,
        down: &mut Option<String>,
        request: impl FnOnce() -> F,
    ) -> Result<T, String>
    where
        F: Future<Output = Result<T, Failure>>,
    {
        if let Some(message) = down {
            return Err(message.clone());
        }
        request().await.map_err(|failure| {
            let described = failure.describe(repository.enabled, repository.path, Access::Read, 1);
            let message = self.scrubber.scrub(&described);
            if classify::whole_registry(&failure) {
                *down = Some(message.clone());
            }
            message
        })
    }
}

/// The Docker daemon, when one answers: a daemon that failed is said so
/// for each later tag, without waiting on it again.
struct Daemon<'a> {
    engine: Option<&'a dyn Engine>,
    down: Option<String>,
}

impl Daemon<'_> {
    /// The local image `name`, `None` when there is no daemon to ask.
    async fn image(&mut self, name: &str) -> Option<Result<Option<Image>, String>> {
        let engine = self.engine?;
        if let Some(message) = &self.down {
            return Some(Err(message.clone()));
        }
        let image = engine
            .inspect(name)
            .await
            .map_err(|e| format!("cannot ask the Docker daemon: {e}"));
        if let Err(message) = &image {
            self.down = Some(message.clone());
        }
        Some(image)
    }
}
