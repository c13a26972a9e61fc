//! What each registry holds, compared with the plan: for every selected
//! target, whether its tag is there and is the local build (`current`),
//! and every tag of a package that the matrix does not produce (`extra`).
//! It asks through the [`Registry`] and [`Engine`] traits, so that it can be
//! tested with fakes; registry messages are scrubbed of credentials.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde::Serialize;

use crate::engine::Engine;
use crate::manifest::Manifest;
use crate::plan::{self, Target};
use crate::registry::reference::{same_image, tagged};
use crate::registry::{Access, Enabled, Failure, Registry, Scrubber};

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
/// release. `engine`, when a daemon answers,
/// tells whether a held tag is the local build.
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
    let mut states = Vec::new();
    // A daemon that failed is said so for each tag, without waiting on it
    // again.
    let mut daemon_down: Option<String> = None;
    for enabled in registries {
        let credentials = enabled.credentials.as_ref();
        // A registry that refused the credentials or did not answer is
        // said so for each of its tags, without waiting on it again; a 403
        // concerns one repository only.
        let mut down: Option<String> = None;
        for &package in &packages {
            let Some(repository) = enabled.repository(package) else {
                continue;
            };
            let row =
                |target: &str, reference: String, state: State, digest: Option<String>| TagState {
                    target: target.to_string(),
                    registry: enabled.host.clone(),
                    reference,
                    state,
                    digest,
                };
            let failed = |failure: Failure, down: &mut Option<String>| {
                let message =
                    scrubber.scrub(&failure.describe(enabled, repository, Access::Read, 1));
                if !matches!(
                    failure,
                    Failure::Other { .. } | Failure::Denied { status: 403 }
                ) {
                    *down = Some(message.clone());
                }
                message
            };
            let held = match &down {
                Some(message) => Err(message.clone()),
                None => registry
                    .tags(repository, credentials)
                    .await
                    .map_err(|failure| failed(failure, &mut down)),
            };
            let held = match held {
                Ok(held) => held,
                Err(message) => {
                    let message = format!("cannot list the tags: {message}");
                    states.push(row("", repository.to_string(), State::Error, Some(message)));
                    continue;
                }
            };
            for target in targets.iter().filter(|t| t.package == package) {
                let reference = tagged(repository, &target.tag);
                if !held.contains(&target.tag) {
                    states.push(row(&target.name, reference, State::Missing, None));
                    continue;
                }
                let digest = match &down {
                    Some(message) => Err(message.clone()),
                    None => registry
                        .digest(repository, &target.tag, credentials)
                        .await
                        .map_err(|failure| failed(failure, &mut down)),
                };
                let digest = match digest {
                    Ok(digest) => digest,
                    Err(message) => {
                        states.push(row(&target.name, reference, State::Error, Some(message)));
                        continue;
                    }
                };
                let local = match (engine, &digest, &daemon_down) {
                    (Some(_), Some(_), Some(message)) => Some(Err(message.clone())),
                    (Some(engine), Some(_), None) => Some(
                        engine
                            .inspect(&target.name)
                            .await
                            .map_err(|e| format!("cannot ask the Docker daemon: {e}")),
                    ),
                    _ => None,
                };
                let state = match (local, &digest) {
                    (_, None) => State::Missing,
                    (None, Some(_)) => State::Unknown,
                    (Some(Err(message)), Some(_)) => {
                        daemon_down = Some(message.clone());
                        states.push(row(&target.name, reference, State::Error, Some(message)));
                        continue;
                    }
                    (Some(Ok(None)), Some(_)) => State::NoLocalImage,
                    (Some(Ok(Some(image))), Some(d))
                        if image
                            .repo_digests
                            .iter()
                            .any(|r| same_image(r, repository, d)) =>
                    {
                        State::Current
                    }
                    (Some(Ok(Some(_))), Some(_)) => State::NotTheLocalBuild,
                };
                states.push(row(&target.name, reference, state, digest));
            }
            for tag in held {
                let state = if produced.contains(package, &tag) {
                    continue;
                } else if produced.of_another_release(package, &tag) {
                    State::OtherRelease
                } else {
                    State::Extra
                };
                states.push(row("", tagged(repository, &tag), state, None));
            }
        }
    }
    states
}

/// The tags a matrix produces, and the shapes of those that carry the
/// BentoML version (`runtime`, `cudnn`), to tell the tags of another
/// release from strays. The CUDA version is part of no tag.
#[derive(Clone, Debug, Default)]
pub struct Produced {
    /// Every `(package, tag)`.
    tags: BTreeSet<(String, String)>,
    /// `(package, what follows the version)` of each tag that begins with
    /// the BentoML version.
    after_version: BTreeSet<(String, String)>,
}

impl Produced {
    /// Exactly `tags`, none of another release.
    #[must_use]
    pub fn exactly(tags: BTreeSet<(String, String)>) -> Self {
        Self {
            tags,
            after_version: BTreeSet::new(),
        }
    }

    /// Whether the matrix produces `package:tag`.
    #[must_use]
    pub fn contains(&self, package: &str, tag: &str) -> bool {
        self.tags.contains(&(package.to_string(), tag.to_string()))
    }

    /// Whether `package:tag` is a tag the matrix would produce with another
    /// BentoML version: the same shape, a version where the version is.
    #[must_use]
    pub fn of_another_release(&self, package: &str, tag: &str) -> bool {
        self.after_version
            .range((package.to_string(), String::new())..)
            .take_while(|(p, _)| p == package)
            .any(|(_, rest)| {
                tag.strip_suffix(rest.as_str())
                    .is_some_and(looks_like_a_version)
            })
    }
}

/// A BentoML version as it begins a tag: `1.2.0`, `1.0.0rc1`, `v1.2`.
fn looks_like_a_version(version: &str) -> bool {
    let digits = version.strip_prefix('v').unwrap_or(version);
    digits.starts_with(|c: char| c.is_ascii_digit())
        && !digits.contains("-python")
        && crate::manifest::check_tag_part(version).is_ok()
}

/// What the matrix of `options` produces, whatever its release-type
/// selection: with the Python versions it names and with the manifest's
/// defaults, so that neither the tags of a push made with
/// `--python-version` nor those of the defaults are taken for strays.
///
/// # Errors
/// When `options` do not fit the manifest.
pub fn produced(manifest: &Manifest, options: &plan::Options) -> Result<Produced, plan::Error> {
    let mut whole = options.clone();
    whole.release_types = Vec::new();
    let mut produced = Produced::default();
    let mut add = |options: &plan::Options| -> Result<(), plan::Error> {
        let matrix = plan::Matrix::new(manifest, options)?;
        for target in matrix.targets(manifest) {
            if let Some(rest) = target.tag.strip_prefix(matrix.bentoml_version.as_str())
                && rest.starts_with('-')
            {
                produced
                    .after_version
                    .insert((target.package.clone(), rest.to_string()));
            }
            produced.tags.insert((target.package, target.tag));
        }
        Ok(())
    };
    add(&whole)?;
    if !whole.python_versions.is_empty() {
        whole.python_versions = Vec::new();
        add(&whole)?;
    }
    Ok(produced)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::fake::Fake;
    use crate::registry::Credentials;
    use futures_util::future::BoxFuture;
    use std::collections::HashMap;

    /// A registry holding `tags`: tag -> digest.
    struct Holding {
        tags: HashMap<String, String>,
    }

    impl Registry for Holding {
        fn digest<'a>(
            &'a self,
            _: &'a str,
            tag: &'a str,
            _: Option<&'a Credentials>,
        ) -> BoxFuture<'a, Result<Option<String>, Failure>> {
            Box::pin(async move { Ok(self.tags.get(tag).cloned()) })
        }

        fn tags<'a>(
            &'a self,
            _: &'a str,
            _: Option<&'a Credentials>,
        ) -> BoxFuture<'a, Result<Vec<String>, Failure>> {
            Box::pin(async move {
                let mut tags: Vec<String> = self.tags.keys().cloned().collect();
                tags.sort();
                Ok(tags)
            })
        }

        fn writable<'a>(
            &'a self,
            _: &'a str,
            _: Option<&'a Credentials>,
        ) -> BoxFuture<'a, Result<(), Failure>> {
            Box::pin(async { Ok(()) })
        }
    }

    /// A registry that denies (403) listing one repository and holds
    /// nothing in the others.
    struct DeniesOne {
        denied: &'static str,
    }

    impl Registry for DeniesOne {
        fn digest<'a>(
            &'a self,
            _: &'a str,
            _: &'a str,
            _: Option<&'a Credentials>,
        ) -> BoxFuture<'a, Result<Option<String>, Failure>> {
            Box::pin(async { Ok(None) })
        }

        fn tags<'a>(
            &'a self,
            repository: &'a str,
            _: Option<&'a Credentials>,
        ) -> BoxFuture<'a, Result<Vec<String>, Failure>> {
            Box::pin(async move {
                if repository == self.denied {
                    Err(Failure::Denied { status: 403 })
                } else {
                    Ok(Vec::new())
                }
            })
        }

        fn writable<'a>(
            &'a self,
            _: &'a str,
            _: Option<&'a Credentials>,
        ) -> BoxFuture<'a, Result<(), Failure>> {
            Box::pin(async { Ok(()) })
        }
    }

    /// The bug: a 403 on one repository marked every repository of the
    /// registry denied, each naming the first.
    #[tokio::test]
    async fn a_403_on_one_repository_leaves_the_others_of_the_registry_asked() {
        let registry = DeniesOne {
            denied: "r.example/org/app",
        };
        let enabled = Arc::new(Enabled {
            host: "r.example".into(),
            repositories: vec![
                ("app".into(), "r.example/org/app".into()),
                ("other".into(), "r.example/org/other".into()),
            ],
            credentials: None,
            variables: Vec::new(),
        });
        let app = target("a");
        let mut other = target("b");
        other.package = "other".into();
        other.name = "other:b".into();
        let states = status(
            &[&app, &other],
            &Produced::default(),
            &[enabled],
            &registry,
            None,
            &Scrubber::default(),
        )
        .await;
        let found: Vec<(&str, State)> = states
            .iter()
            .map(|s| (s.reference.as_str(), s.state))
            .collect();
        assert_eq!(
            found,
            [
                ("r.example/org/app", State::Error),
                ("r.example/org/other:b", State::Missing)
            ],
            "{states:?}"
        );
        assert!(
            states[0]
                .digest
                .as_ref()
                .is_some_and(|m| m.contains("`r.example/org/app`")),
            "{states:?}"
        );
    }

    fn target(tag: &str) -> Target {
        Target {
            name: format!("app:{tag}"),
            package: "app".into(),
            tag: tag.into(),
            release_type: crate::manifest::ReleaseType::Base,
            distro: "debian".into(),
            release: "12".into(),
            python_version: "3.11".into(),
            directory: "generated/app/debian12".into(),
            dockerfile: "generated/app/debian12/Dockerfile".into(),
            build_args: indexmap::IndexMap::new(),
            from: "debian:bookworm-slim".into(),
            depends_on: None,
            tests: Vec::new(),
        }
    }

    /// Six tags pushed and held, the local images recording their digests:
    /// six current, nothing extra, even when the versions in the selection
    /// are not the manifest's defaults.
    #[tokio::test]
    async fn every_pushed_tag_is_current_and_none_is_also_extra() {
        let tags = ["a", "b", "c", "d", "e", "f"];
        let engine = Fake::with_images(
            &tags
                .map(|t| format!("app:{t}"))
                .each_ref()
                .map(String::as_str),
        );
        let mut held = HashMap::new();
        for tag in tags {
            let digest = format!("sha256:{tag}");
            engine
                .images
                .lock()
                .unwrap()
                .get_mut(&format!("app:{tag}"))
                .unwrap()
                .repo_digests
                .push(format!("r.example/org/app@{digest}"));
            held.insert(tag.to_string(), digest);
        }
        let registry = Holding { tags: held };
        let enabled = Arc::new(Enabled {
            host: "r.example".into(),
            repositories: vec![("app".into(), "r.example/org/app".into())],
            credentials: None,
            variables: Vec::new(),
        });
        let targets: Vec<Target> = tags.iter().map(|t| target(t)).collect();
        let targets: Vec<&Target> = targets.iter().collect();
        let produced = Produced::exactly(
            targets
                .iter()
                .map(|t| (t.package.clone(), t.tag.clone()))
                .collect(),
        );
        let states = status(
            &targets,
            &produced,
            &[enabled],
            &registry,
            Some(&engine),
            &Scrubber::default(),
        )
        .await;
        let found: Vec<State> = states.iter().map(|s| s.state).collect();
        assert_eq!(found, [State::Current; 6], "{states:?}");
    }

    #[tokio::test]
    async fn a_held_tag_the_matrix_does_not_produce_is_extra() {
        let registry = Holding {
            tags: HashMap::from([
                ("a".to_string(), "sha256:a".to_string()),
                ("old".to_string(), "sha256:o".to_string()),
            ]),
        };
        let enabled = Arc::new(Enabled {
            host: "r.example".into(),
            repositories: vec![("app".into(), "r.example/org/app".into())],
            credentials: None,
            variables: Vec::new(),
        });
        let a = target("a");
        let produced = Produced::exactly(BTreeSet::from([("app".to_string(), "a".to_string())]));
        let states = status(
            &[&a],
            &produced,
            &[enabled],
            &registry,
            None,
            &Scrubber::default(),
        )
        .await;
        let found: Vec<(&str, State)> = states
            .iter()
            .map(|s| (s.reference.as_str(), s.state))
            .collect();
        assert_eq!(
            found,
            [
                ("r.example/org/app:a", State::Unknown),
                ("r.example/org/app:old", State::Extra)
            ]
        );
    }

    /// The bug: `status -p 3.12 -p 3.13` judged "extra" against the
    /// manifest's default versions only, so every current tag of a push
    /// made with those versions was counted a second time as `extra`.
    #[test]
    fn tags_of_python_versions_given_on_the_command_line_are_produced() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/build/manifest.yml");
        let manifest = crate::manifest::load(&path).unwrap();
        let options = plan::Options {
            python_versions: vec!["3.12".into()],
            release_types: vec![crate::manifest::ReleaseType::Runtime],
            ..plan::Options::default()
        };
        let produced = produced(&manifest, &options).unwrap();
        for tag in [
            "base-python3.12-bookworm",
            "devel-python3.12-bookworm",
            "1.3.0-python3.12-bookworm-runtime",
            "base-python3.11-bookworm",
            "devel-python3.13-bookworm",
        ] {
            assert!(produced.contains("app", tag), "{tag}: {produced:?}");
        }
        assert!(!produced.contains("app", "base-python3.10-bookworm"));
    }

    /// The bug: once a second BentoML release existed, the tags of the
    /// other were `extra` and `status` could never pass.
    #[test]
    fn tags_of_another_bentoml_release_are_other_releases_not_extra() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/build/manifest.yml");
        let manifest = crate::manifest::load(&path).unwrap();
        let options = plan::Options {
            bentoml_version: Some("1.3.0".into()),
            python_versions: vec!["3.11".into()],
            ..plan::Options::default()
        };
        let produced = produced(&manifest, &options).unwrap();
        assert!(produced.contains("app", "1.3.0-python3.11-bookworm-runtime"));
        for older in [
            "1.2.0-python3.11-bookworm-runtime",
            "1.0.0rc1-python3.11-bookworm-runtime",
            "v1.4-python3.13-bookworm-runtime",
        ] {
            assert!(!produced.contains("app", older));
            assert!(produced.of_another_release("app", older), "{older}");
        }
        for stray in [
            "latest",
            "1.2.0-python3.11-bookworm-cudnn",
            "1.2.0-python3.10-bookworm-runtime",
            "nightly-python3.11-bookworm-runtime",
            "base-python3.9-bookworm",
        ] {
            assert!(!produced.of_another_release("app", stray), "{stray}");
            assert!(!produced.of_another_release("other", stray), "{stray}");
        }
    }
}
