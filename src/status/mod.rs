//! What each registry holds, compared with the plan: for every selected
//! target, whether its tag is there (`missing`), carries the plan's inputs
//! and was built FROM its base as it is now (`current`), or not (`stale`,
//! saying why), and every tag of a package that the matrix does not
//! produce (`extra`).
//! It asks through the [`Registry`] and [`Engine`] traits, so that it can be
//! tested with fakes; registry messages are scrubbed of credentials.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use serde::Serialize;

use crate::build::inputs;
use crate::engine::{Engine, Image};
use crate::plan::Target;
use crate::registry::reference::tagged;
use crate::registry::{Access, Enabled, Failure, Held, Registry, Scrubber, classify};

mod produced;
mod recipes;
#[cfg(test)]
mod tests;

pub use produced::{Produced, produced};
pub use recipes::Recipes;

/// The state of one tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    /// The registry holds an image with the plan's inputs, built FROM its
    /// base as it is now.
    Current,
    /// The registry has no such tag.
    Missing,
    /// The registry holds an image of other inputs, or built FROM another
    /// base image than the base is now (the row says which).
    Stale,
    /// The tag is there, but what it should be cannot be told (the row
    /// says why: no Docker daemon to tell the external base's ID, a
    /// Dockerfile not generated, ...).
    Unknown,
    /// A tag the matrix would produce for another BentoML version: an
    /// older (or newer) release, not a failure.
    #[serde(rename = "other release")]
    OtherRelease,
    /// A tag of the package that the matrix does not produce, for any
    /// BentoML version.
    Extra,
    /// The registry, or the Docker daemon, could not be asked.
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
            Self::Stale => "stale",
            Self::Unknown => "unknown",
            Self::OtherRelease => "other release",
            Self::Extra => "extra",
            Self::Error => "error",
        }
    }
}

/// Why a tag is stale: what a build would say.
pub const INPUTS_CHANGED: &str = "inputs changed";
/// Why a tag is stale: built FROM another image than its base is now.
pub const BASE_MOVED: &str = "its base image moved";

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
    /// Why it is stale or unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The digest the registry holds, or for `error` what went wrong.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// Compares `targets` (in build order, with what they are built FROM) with
/// what `registries` hold. `produced` holds every `(package, tag)` the
/// matrix produces (whatever the selection): a tag of the registry
/// outside it is `extra`, unless it is one of another BentoML release. A
/// held image is judged by its labels: its inputs hash against what
/// `recipes` make of the plan now, and the base it records against the
/// base now (a base of the plan as the same registry holds it, an
/// external image as `engine`, when a daemon answers, holds it).
pub async fn status(
    targets: &[&Target],
    produced: &Produced,
    registries: &[Arc<Enabled>],
    registry: &dyn Registry,
    engine: Option<&dyn Engine>,
    recipes: &Recipes,
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
        recipes,
        daemon: Daemon { engine, down: None },
        judged: HashMap::new(),
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
    recipes: &'a Recipes,
    daemon: Daemon<'a>,
    /// The targets of the repository judged so far, by name: what their
    /// dependents are judged against.
    judged: HashMap<String, Verdict>,
    states: Vec<TagState>,
}

/// The repository of one package on one registry.
struct Repository<'a> {
    enabled: &'a Enabled,
    path: &'a str,
    package: &'a str,
}

impl Repository<'_> {
    fn row(&self, target: &str, reference: String, verdict: Verdict) -> TagState {
        TagState {
            target: target.to_string(),
            registry: self.enabled.host.clone(),
            reference,
            state: verdict.state,
            reason: verdict.reason,
            digest: verdict.digest,
        }
    }
}

/// What was found of one target in one repository.
#[derive(Clone, Debug)]
struct Verdict {
    state: State,
    /// Why it is stale or unknown.
    reason: Option<String>,
    /// The digest held, or for `error` what went wrong.
    digest: Option<String>,
    /// The inputs hash the plan gives it, when known.
    expected: Option<String>,
    /// The ID (config digest) of the image held.
    config: Option<String>,
}

impl Verdict {
    fn new(state: State) -> Self {
        Self {
            state,
            reason: None,
            digest: None,
            expected: None,
            config: None,
        }
    }

    fn because(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    fn error(message: String) -> Self {
        Self {
            digest: Some(message),
            ..Self::new(State::Error)
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
                let row = repository.row("", repository.path.to_string(), Verdict::error(message));
                self.states.push(row);
                return;
            }
        };
        self.judged.clear();
        let targets = self.targets;
        for target in targets.iter().filter(|t| t.package == repository.package) {
            let verdict = self.target(repository, down, target, &held).await;
            let reference = tagged(repository.path, &target.tag);
            self.states
                .push(repository.row(&target.name, reference, verdict.clone()));
            self.judged.insert(target.name.clone(), verdict);
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
            self.states
                .push(repository.row("", reference, Verdict::new(state)));
        }
    }

    /// What `repository`, which holds the tags `held`, holds of `target`.
    async fn target(
        &mut self,
        repository: &Repository<'_>,
        down: &mut Option<String>,
        target: &Target,
        held: &[String],
    ) -> Verdict {
        if !held.contains(&target.tag) {
            return Verdict::new(State::Missing);
        }
        let registry = self.registry;
        let credentials = repository.enabled.credentials.as_ref();
        let image = match self
            .ask(repository, down, || {
                registry.image(repository.path, &target.tag, credentials)
            })
            .await
        {
            Ok(Some(image)) => image,
            Ok(None) => return Verdict::new(State::Missing),
            Err(message) => return Verdict::error(message),
        };
        let mut verdict = self.judge(target, &image).await;
        if verdict.state == State::Current && target.platforms.len() > 1 {
            verdict = self.platforms(repository, down, target, verdict).await;
        }
        verdict.config = Some(image.config);
        if verdict.state != State::Error {
            verdict.digest = Some(image.digest);
        }
        verdict
    }

    /// A target of several platforms, current by its labels: stale when
    /// its tag is not an index of exactly those platforms.
    async fn platforms(
        &mut self,
        repository: &Repository<'_>,
        down: &mut Option<String>,
        target: &Target,
        current: Verdict,
    ) -> Verdict {
        let registry = self.registry;
        let credentials = repository.enabled.credentials.as_ref();
        let contents = match self
            .ask(repository, down, || {
                registry.contents(repository.path, &target.tag, credentials)
            })
            .await
        {
            Ok(Some(contents)) => contents,
            Ok(None) => return Verdict::new(State::Missing),
            Err(message) => return Verdict::error(message),
        };
        let declared: Vec<crate::registry::Platform> = target
            .platforms
            .iter()
            .filter_map(|p| p.parse().ok())
            .collect();
        let expected = crate::registry::index::Expected {
            platforms: &declared,
            built: &[],
            attestations: self.recipes.attest,
        };
        let problems = crate::registry::index::verify(&expected, &contents);
        if problems.is_empty() {
            return current;
        }
        let said: Vec<String> = problems.iter().map(ToString::to_string).collect();
        Verdict {
            expected: current.expected,
            ..Verdict::new(State::Stale).because(said.join("; "))
        }
    }

    /// `image`, held under `target`'s tag, judged by its labels.
    async fn judge(&mut self, target: &Target, image: &Held) -> Verdict {
        let recorded = image.labels.get(inputs::BASE_LABEL);
        let base = match self.base(target, recorded).await {
            Ok(base) => base,
            Err(verdict) => return *verdict,
        };
        let expected = match self.recipes.hash(target, &base.in_hash) {
            Ok(hash) => hash,
            Err(message) => return Verdict::new(State::Unknown).because(message),
        };
        let verdict = match image.labels.get(inputs::LABEL) {
            None => Verdict::new(State::Stale).because("it carries no inputs label"),
            Some(label) if *label != expected => Verdict::new(State::Stale).because(INPUTS_CHANGED),
            Some(_) => match (&base.stale, recorded, &base.now) {
                (Some(why), _, _) => Verdict::new(State::Stale).because(why.clone()),
                (None, recorded, Ok(now))
                    if inputs::base_moved(recorded.map(String::as_str), now)
                        && recorded != base.also.as_ref() =>
                {
                    Verdict::new(State::Stale).because(BASE_MOVED)
                }
                (None, _, Err(why)) => Verdict::new(State::Unknown).because(why.clone()),
                (None, _, Ok(_)) => Verdict::new(State::Current),
            },
        };
        Verdict {
            expected: Some(expected),
            ..verdict
        }
    }

    /// What `target` is built FROM now: as its hash counts it, and its
    /// image ID (or why it is not known); for a base of the plan, why that
    /// base is stale or missing. `recorded` is the base the held image
    /// records. A verdict when the target cannot be judged.
    async fn base(
        &mut self,
        target: &Target,
        recorded: Option<&String>,
    ) -> Result<Base, Box<Verdict>> {
        if let Some(name) = &target.depends_on {
            let Some(base) = self.judged.get(name) else {
                return Err(Box::new(
                    Verdict::new(State::Unknown)
                        .because(format!("its base `{name}` is not judged")),
                ));
            };
            let Some(expected) = &base.expected else {
                let why = match base.state {
                    State::Missing => format!("its base `{name}` is missing"),
                    _ => format!("its base `{name}` could not be judged"),
                };
                let state = if base.state == State::Missing {
                    State::Stale
                } else {
                    State::Unknown
                };
                return Err(Box::new(Verdict::new(state).because(why)));
            };
            return Ok(Base {
                in_hash: inputs::chained(expected),
                now: base
                    .config
                    .clone()
                    .ok_or_else(|| format!("`{name}` holds no image")),
                // A daemon with the containerd image store names an image
                // by its manifest (or index) digest, not its config's.
                also: base.digest.clone(),
                stale: (base.state == State::Stale).then(|| format!("its base `{name}` is stale")),
            });
        }
        let from = &target.from;
        let now = match self.daemon.image(from).await {
            None => Err(format!("no Docker daemon to tell what `{from}` is now")),
            Some(Err(message)) => return Err(Box::new(Verdict::error(message))),
            Some(Ok(None)) => Err(format!("`{from}` is not here to compare with: pull it")),
            Some(Ok(Some(image))) => Ok(image.id),
        };
        // Its own inputs are judged against the base it was built FROM;
        // whether that base moved is judged apart.
        let in_hash = match (recorded, &now) {
            (Some(recorded), _) if !recorded.is_empty() => recorded.clone(),
            (_, Ok(now)) => now.clone(),
            (_, Err(why)) => {
                return Err(Box::new(Verdict::new(State::Unknown).because(why.clone())));
            }
        };
        Ok(Base {
            in_hash,
            now,
            also: None,
            stale: None,
        })
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
/// What a target is built FROM, as [`Survey::base`] found it.
struct Base {
    /// What its inputs hash counts it as.
    in_hash: String,
    /// Its image ID now, or why that is not known.
    now: Result<String, String>,
    /// Another name of the same image now: a base of the plan by the
    /// digest its tag resolves to.
    also: Option<String>,
    /// Why it is stale, for a base of the plan that is.
    stale: Option<String>,
}

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
