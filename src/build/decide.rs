//! Deciding a target: what it is built FROM (a base of the run by its
//! inputs hash, an external image by its ID, pulled when the engine lacks
//! it), its inputs hash, and whether the engine's image is up to date, or
//! else (`--skip-pushed`) the registry's; a base only the registry holds is
//! pulled when a target built FROM it is to be built. The scheduler
//! decides each target when its base is decided; [`decide_all`] decides a
//! whole selection before anything is built, as an engine that builds the
//! graph in one call needs.

use std::collections::HashMap;
use std::sync::Arc;

use super::job::Job;
use super::{BuildOptions, Context, Mode, inputs};
use crate::engine::{BuildRequest, Engine};
use crate::plan::{Plan, Target};
use crate::run::{Event, Outcome, Reporter, Status};

/// What deciding a target found.
#[derive(Clone, Debug)]
pub struct Decision {
    /// Up to date (with its image), would build (with why), failed, or
    /// skipped or would build for its base's sake; with its inputs hash
    /// when known.
    pub outcome: Outcome,
    /// The build that makes its image, whenever its Dockerfile could be
    /// read and hashed (for an up-to-date target too: a bake file names
    /// every target).
    pub request: Option<BuildRequest>,
}

impl Decision {
    fn settled(outcome: Outcome) -> Self {
        Self {
            outcome,
            request: None,
        }
    }

    /// True when the target is to be built.
    #[must_use]
    pub fn stale(&self) -> bool {
        self.outcome.status == Status::WouldBuild && self.request.is_some()
    }
}

/// A base that is a target of the same run, as its decision or build left it.
#[derive(Clone, Debug)]
pub(super) struct PlanBase {
    /// Its inputs hash, which its dependents' hashes chain through.
    pub(super) inputs: Option<String>,
    /// Its image ID, when it has one.
    pub(super) image: Option<String>,
    /// Built in this run (or to be): its dependents are stale whatever
    /// their labels say.
    pub(super) rebuilt: bool,
    /// Where the registry holds it, when only the registry does
    /// (`--skip-pushed`): pulled if a dependent is built.
    pub(super) remote: Option<String>,
}

/// The base `target` may be decided on, from its base's outcome; or, when
/// that base failed or cannot be judged, the target's own outcome.
pub(super) fn base_of(target: &str, base: &Outcome) -> Result<PlanBase, Box<Outcome>> {
    let judged =
        base.status.ready() || (base.status == Status::WouldBuild && base.inputs.is_some());
    if judged {
        return Ok(PlanBase {
            inputs: base.inputs.clone(),
            image: base.image.clone(),
            rebuilt: matches!(base.status, Status::Built | Status::WouldBuild),
            remote: base
                .reference
                .clone()
                .filter(|_| base.status == Status::UpToDateInRegistry),
        });
    }
    Err(Box::new(if base.status == Status::WouldBuild {
        // A dry run whose base's Dockerfile is not generated yet.
        Outcome::new(target, Status::WouldBuild)
            .because(format!("`{}` would be rebuilt", base.target))
    } else {
        Outcome::new(target, Status::Skipped).because(format!(
            "`{}` {}",
            base.target,
            base.status.as_str()
        ))
    }))
}

/// What a dependent's hash counts its base as, and the base's image ID
/// when known (for the base label).
struct BaseRef {
    in_hash: String,
    image: Option<String>,
}

/// What the registry asked by `--skip-pushed` holds for a target.
enum Remote {
    /// Not asked (no `--skip-pushed`, or no repository there for it).
    Unasked,
    /// Its image carries the target's inputs hash.
    Current(Box<Outcome>),
    /// Missing or stale there, and why.
    Stale(String),
}

/// Decides every target of `targets` (in build order, dependencies
/// included) before anything is built: external bases are pulled when the
/// engine lacks them (not in a dry run), and every hash chains through its
/// base's. One decision per target, in the same order.
pub async fn decide_all(
    plan: &Plan,
    targets: &[&Target],
    engine: Arc<dyn Engine>,
    context: Arc<Context>,
    options: &BuildOptions,
    reporter: Arc<dyn Reporter>,
) -> Vec<Decision> {
    let index: HashMap<&str, usize> = targets
        .iter()
        .enumerate()
        .map(|(i, t)| (t.name.as_str(), i))
        .collect();
    let mut decisions: Vec<Decision> = Vec::with_capacity(targets.len());
    for target in targets {
        let parent = target.depends_on.as_deref().and_then(|p| index.get(p));
        let base = match parent.map(|&p| base_of(&target.name, &decisions[p].outcome)) {
            None => None,
            Some(Ok(base)) => Some(base),
            Some(Err(outcome)) => {
                decisions.push(Decision::settled(*outcome));
                continue;
            }
        };
        let job = Job::new(plan, target, base, &engine, &context, options, &reporter);
        decisions.push(job.decide().await);
    }
    decisions
}

impl Job {
    /// What the target is built FROM, as its hash counts it: a base of this
    /// run by its inputs hash, an external image by its ID.
    async fn base_ref(&self) -> Result<BaseRef, Outcome> {
        if let Some(base) = &self.base {
            return Ok(BaseRef {
                in_hash: match (&base.inputs, &base.image) {
                    (Some(inputs), _) => inputs::chained(inputs),
                    (None, Some(image)) => image.clone(),
                    (None, None) => format!("unresolved:{}", self.target.from),
                },
                image: base.image.clone(),
            });
        }
        let id = self.external_id().await?;
        let known = !id.starts_with("unresolved:");
        Ok(BaseRef {
            image: known.then(|| id.clone()),
            in_hash: id,
        })
    }

    /// The ID of the external image the target is built FROM: the
    /// engine's, pulled when it lacks it.
    async fn external_id(&self) -> Result<String, Outcome> {
        let from = &self.target.from;
        let inspect = |e| self.failed(format!("cannot inspect `{from}`: {e}"));
        match self.engine.inspect(from).await {
            Ok(Some(image)) => return Ok(image.id),
            // A dry run fetches nothing: the hash notes it is unknown.
            Ok(None) if self.options.mode == Mode::DryRun => {
                return Ok(format!("unresolved:{from}"));
            }
            Ok(None) => {}
            Err(e) => return Err(inspect(e)),
        }
        // Fetched first, so that the hash holds the ID the build will use:
        // else the next run would see a new parent.
        self.reporter.event(Event::Pulling {
            target: &self.target.name,
            image: from,
        });
        match self.bounded(self.engine.pull(from)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(self.failed(format!("cannot pull `{from}`: {e}"))),
            Err(late) => return Err(self.failed(format!("pulling `{from}` {late}"))),
        }
        match self.engine.inspect(from).await {
            Ok(Some(image)) => Ok(image.id),
            Ok(None) => Err(self.failed(format!("`{from}` is missing after a pull"))),
            Err(e) => Err(inspect(e)),
        }
    }

    /// The plan's build arguments, those of the command line over them.
    fn build_args(&self) -> Vec<(String, String)> {
        let mut build_args: Vec<(String, String)> = self
            .target
            .build_args
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (name, value) in &self.options.build_args {
            match build_args.iter_mut().find(|(n, _)| n == name) {
                Some(slot) => slot.1.clone_from(value),
                None => build_args.push((name.clone(), value.clone())),
            }
        }
        build_args
    }

    /// Whether the target is stale, by its inputs hash and the image the
    /// engine holds.
    pub(super) async fn decide(&self) -> Decision {
        self.judge().await.unwrap_or_else(Decision::settled)
    }

    async fn judge(&self) -> Result<Decision, Outcome> {
        let name = self.target.name.as_str();
        let base = self.base_ref().await?;
        let dockerfile = self.dockerfile().map_err(|outcome| *outcome)?;
        let build_args = self.build_args();
        let hash = inputs::hash(
            &dockerfile,
            &self.context,
            &build_args,
            &base.in_hash,
            &self.target.platforms,
        )
        .map_err(|e| self.failed(e))?;
        let existing = self
            .engine
            .inspect(name)
            .await
            .map_err(|e| self.failed(format!("cannot inspect `{name}`: {e}")))?;
        let request = self.request(dockerfile, build_args, &hash, base.image.clone());
        let why = match &existing {
            _ if self.options.overwrite => "`--overwrite`",
            None => "no image",
            Some(_) if self.base.as_ref().is_some_and(|b| b.rebuilt) => "its base is rebuilt",
            Some(image) if image.labels.get(inputs::LABEL) != Some(&hash) => "inputs changed",
            Some(image) if base_moved(&image.labels, &base) => "its base image changed",
            Some(image) => {
                let mut outcome = Outcome::new(name, Status::UpToDate);
                outcome.image = Some(image.id.clone());
                outcome.inputs = Some(hash);
                return Ok(Decision {
                    outcome,
                    request: Some(request),
                });
            }
        };
        let rebuilt = self.base.as_ref().is_some_and(|b| b.rebuilt);
        let remote = if self.options.overwrite || rebuilt {
            Remote::Unasked
        } else {
            self.in_registry(&hash, &base).await?
        };
        let why = match remote {
            Remote::Current(outcome) => {
                return Ok(Decision {
                    outcome: *outcome,
                    request: Some(request),
                });
            }
            Remote::Stale(note) => format!("{why}; {note}"),
            Remote::Unasked => why.to_string(),
        };
        if self.options.mode != Mode::DryRun {
            self.fetch_base(base.image.as_deref()).await?;
        }
        let mut outcome = Outcome::new(name, Status::WouldBuild).because(why);
        outcome.inputs = Some(hash);
        Ok(Decision {
            outcome,
            request: Some(request),
        })
    }

    /// What the registry of `--skip-pushed` holds for the target, judged
    /// by the target's inputs `hash` and what it is built FROM now. Any
    /// answer but "not found" that is not an image fails the target: a
    /// registry that cannot be asked must not turn into a rebuild of
    /// everything.
    async fn in_registry(&self, hash: &str, base: &BaseRef) -> Result<Remote, Outcome> {
        let Some(published) = &self.options.skip_pushed else {
            return Ok(Remote::Unasked);
        };
        let target = &self.target;
        let found = published
            .find(&target.package, &target.tag)
            .await
            .map_err(|e| {
                self.failed(format!(
                    "cannot ask `{}` whether `{}` is pushed: {e}",
                    published.host(),
                    target.name
                ))
            })?;
        let Some(found) = found else {
            return Ok(Remote::Unasked);
        };
        let note = match &found.image {
            None => "is missing",
            Some(image) if image.labels.get(inputs::LABEL).map(String::as_str) != Some(hash) => {
                "holds other inputs"
            }
            Some(image) if base_moved(&image.labels, base) => "was built FROM another base image",
            Some(image) => {
                let mut outcome = Outcome::new(&target.name, Status::UpToDateInRegistry);
                outcome.image = Some(image.config.clone());
                outcome.digest = Some(image.digest.clone());
                outcome.inputs = Some(hash.to_string());
                outcome.registry = Some(found.registry);
                outcome.reference = Some(found.reference);
                return Ok(Remote::Current(Box::new(outcome)));
            }
        };
        Ok(Remote::Stale(format!("`{}` {note}", found.reference)))
    }

    /// Before a build: the base, when only the registry holds it, pulled
    /// and named as this target's `FROM` names it, unless the engine has
    /// it under that name already (`image`, its ID).
    async fn fetch_base(&self, image: Option<&str>) -> Result<(), Outcome> {
        let remote = self.base.as_ref().and_then(|b| b.remote.as_deref());
        let (Some(remote), Some(published)) = (remote, &self.options.skip_pushed) else {
            return Ok(());
        };
        let local = &self.target.from;
        if let Ok(Some(held)) = self.engine.inspect(local).await
            && Some(held.id.as_str()) == image
        {
            return Ok(());
        }
        self.reporter.event(Event::Pulling {
            target: &self.target.name,
            image: remote,
        });
        let pulled = self.engine.fetch_as(remote, local, published.credentials());
        match self.bounded(pulled).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                Err(self.failed(published.scrub(&format!("cannot pull its base `{remote}`: {e}"))))
            }
            Err(late) => Err(self.failed(format!("pulling its base `{remote}` {late}"))),
        }
    }

    /// The target's Dockerfile as generated.
    fn dockerfile(&self) -> Result<String, Box<Outcome>> {
        let path = self.context.root().join(&self.target.dockerfile);
        std::fs::read_to_string(&path).map_err(|e| {
            // A real run generates it first: a dry run has nothing to judge.
            let dry = self.options.mode == Mode::DryRun;
            Box::new(if dry && e.kind() == std::io::ErrorKind::NotFound {
                Outcome::new(&self.target.name, Status::WouldBuild)
                    .because("its Dockerfile is not generated yet")
            } else {
                self.failed(format!("cannot read `{}`: {e}", path.display()))
            })
        })
    }

    /// The build of the target's image, labelled with its inputs hash and
    /// the ID of its base image (empty when not known).
    fn request(
        &self,
        dockerfile: String,
        build_args: Vec<(String, String)>,
        hash: &str,
        base_image: Option<String>,
    ) -> BuildRequest {
        let mut labels = self.labels.clone();
        labels.push((inputs::LABEL.to_string(), hash.to_string()));
        // Set even when unknown (a base built in the same graph call):
        // else the image would inherit its base's own base label.
        labels.push((
            inputs::BASE_LABEL.to_string(),
            base_image.unwrap_or_default(),
        ));
        BuildRequest {
            tag: self.target.name.clone(),
            dockerfile: crate::render::metadata::slash_path(&self.target.dockerfile),
            dockerfile_text: dockerfile,
            timestamp: self.options.source_date_epoch,
            context: Arc::clone(&self.context),
            build_args,
            labels,
            network: self.options.network.clone(),
            platforms: self.target.platforms.clone(),
        }
    }
}

/// Whether an image labelled `labels` was built FROM another image than
/// its base is now ([`inputs::base_moved`]).
fn base_moved(labels: &HashMap<String, String>, base: &BaseRef) -> bool {
    base.image.as_deref().is_some_and(|now| {
        inputs::base_moved(labels.get(inputs::BASE_LABEL).map(String::as_str), now)
    })
}
