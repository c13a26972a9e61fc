//! The `status` algorithm against a registry and an engine in memory.

use std::collections::BTreeSet;

use super::*;
use crate::engine::fake::Fake as FakeEngine;
use crate::registry::Credentials;
use crate::registry::fake::Fake as FakeRegistry;

const REPOSITORY: &str = "r.example/org/app";
const PASSWORD: &str = "s3cret-pass";

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

fn credentials() -> Credentials {
    Credentials {
        username: "pusher".into(),
        password: PASSWORD.into(),
    }
}

/// `r.example`, holding the package `app` in [`REPOSITORY`].
fn enabled() -> Arc<Enabled> {
    Arc::new(Enabled {
        host: "r.example".into(),
        repositories: vec![("app".into(), REPOSITORY.into())],
        credentials: Some(credentials()),
        variables: vec!["REG_USER".into(), "REG_PASSWORD".into()],
    })
}

/// Exactly the tags of `targets`.
fn produced_by(targets: &[&Target]) -> Produced {
    Produced::exactly(
        targets
            .iter()
            .map(|t| (t.package.clone(), t.tag.clone()))
            .collect(),
    )
}

/// `status` of `targets` on [`enabled`], as `(reference, state)`, with the
/// rows themselves for messages.
async fn status_of(
    targets: &[&Target],
    produced: &Produced,
    registry: &FakeRegistry,
    engine: Option<&dyn Engine>,
) -> (Vec<(String, State)>, Vec<TagState>) {
    let enabled = enabled();
    let scrubber = Scrubber::new(&[(*enabled).clone()]);
    let states = status(targets, produced, &[enabled], registry, engine, &scrubber).await;
    let found = states
        .iter()
        .map(|s| (s.reference.clone(), s.state))
        .collect();
    (found, states)
}

/// An engine holding `app:TAG` for each tag, each recorded as pushed to
/// [`REPOSITORY`] at `sha256:TAG`.
fn engine_with_pushed(tags: &[&str]) -> FakeEngine {
    let engine = FakeEngine::default();
    for tag in tags {
        engine.images.lock().unwrap().insert(
            format!("app:{tag}"),
            Image {
                id: format!("sha256:local-{tag}"),
                repo_digests: vec![format!("{REPOSITORY}@sha256:{tag}")],
                ..Image::default()
            },
        );
    }
    engine
}

fn row(tag: &str, state: State) -> (String, State) {
    (tagged(REPOSITORY, tag), state)
}

#[tokio::test]
async fn a_tag_the_registry_lacks_is_missing() {
    let registry = FakeRegistry::holding(REPOSITORY, &[("a", "sha256:a")]);
    let (a, b) = (target("a"), target("b"));
    let engine = engine_with_pushed(&["a", "b"]);
    let (found, _) = status_of(&[&a, &b], &produced_by(&[&a, &b]), &registry, Some(&engine)).await;
    assert_eq!(found, [row("a", State::Current), row("b", State::Missing)]);
    assert_eq!(
        registry.asked(),
        [
            format!("tags {REPOSITORY}"),
            format!("digest {REPOSITORY}:a")
        ],
        "a tag the listing lacks is not asked for"
    );
}

/// Six tags pushed and held, the local images recording their digests:
/// six current, nothing extra, even when the versions in the selection
/// are not the manifest's defaults.
#[tokio::test]
async fn every_pushed_tag_is_current_and_none_is_also_extra() {
    let tags = ["a", "b", "c", "d", "e", "f"];
    let held: Vec<(&str, String)> = tags.iter().map(|t| (*t, format!("sha256:{t}"))).collect();
    let held: Vec<(&str, &str)> = held.iter().map(|(t, d)| (*t, d.as_str())).collect();
    let registry = FakeRegistry::holding(REPOSITORY, &held);
    let engine = engine_with_pushed(&tags);
    let targets: Vec<Target> = tags.iter().map(|t| target(t)).collect();
    let targets: Vec<&Target> = targets.iter().collect();
    let (found, states) =
        status_of(&targets, &produced_by(&targets), &registry, Some(&engine)).await;
    let found: Vec<State> = found.into_iter().map(|(_, s)| s).collect();
    assert_eq!(found, [State::Current; 6], "{states:?}");
    assert!(
        states
            .iter()
            .all(|s| s.digest.as_deref() == Some(&format!("sha256:{}", &s.target[4..]))),
        "{states:?}"
    );
}

#[tokio::test]
async fn a_tag_holding_another_image_is_not_the_local_build() {
    let registry = FakeRegistry::holding(REPOSITORY, &[("a", "sha256:pushed-by-someone-else")]);
    let a = target("a");
    let engine = engine_with_pushed(&["a"]);
    let (found, states) = status_of(&[&a], &produced_by(&[&a]), &registry, Some(&engine)).await;
    assert_eq!(found, [row("a", State::NotTheLocalBuild)]);
    assert_eq!(
        states[0].digest.as_deref(),
        Some("sha256:pushed-by-someone-else")
    );
}

#[tokio::test]
async fn a_held_tag_without_a_local_image_is_no_local_image() {
    let registry = FakeRegistry::holding(REPOSITORY, &[("a", "sha256:a")]);
    let a = target("a");
    let engine = FakeEngine::default();
    let (found, _) = status_of(&[&a], &produced_by(&[&a]), &registry, Some(&engine)).await;
    assert_eq!(found, [row("a", State::NoLocalImage)]);
}

#[tokio::test]
async fn a_held_tag_the_matrix_does_not_produce_is_extra() {
    let registry = FakeRegistry::holding(REPOSITORY, &[("a", "sha256:a"), ("old", "sha256:o")]);
    let a = target("a");
    let produced = Produced::exactly(BTreeSet::from([("app".to_string(), "a".to_string())]));
    let (found, _) = status_of(&[&a], &produced, &registry, None).await;
    assert_eq!(
        found,
        [row("a", State::Unknown), row("old", State::Extra)],
        "without a daemon, a held tag is unknown"
    );
}

/// What the fixture's matrix produces for BentoML 1.3.0 and Python 3.11.
fn produced_by_the_fixture() -> Produced {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/build/manifest.yml");
    let manifest = crate::manifest::load(&path).unwrap();
    let options = crate::plan::Options {
        bentoml_version: Some("1.3.0".into()),
        python_versions: vec!["3.11".into()],
        ..crate::plan::Options::default()
    };
    produced(&manifest, &options).unwrap()
}

#[tokio::test]
async fn a_held_tag_of_another_bentoml_release_is_an_other_release() {
    let current = "1.3.0-python3.11-bookworm-runtime";
    let older = "1.2.0-python3.11-bookworm-runtime";
    let registry = FakeRegistry::holding(
        REPOSITORY,
        &[
            (current, "sha256:current"),
            (older, "sha256:older"),
            ("latest", "sha256:stray"),
        ],
    );
    let runtime = target(current);
    let (found, states) = status_of(&[&runtime], &produced_by_the_fixture(), &registry, None).await;
    assert_eq!(
        found,
        [
            row(current, State::Unknown),
            row(older, State::OtherRelease),
            row("latest", State::Extra),
        ]
    );
    assert!(
        states[1].state.fine() && !states[2].state.fine(),
        "another release is fine, a stray is not"
    );
}

/// The listing is refused: one row per repository says so, and the
/// registry is asked once, not once per package.
#[tokio::test]
async fn a_registry_that_refuses_the_credentials_is_asked_once_and_said_for_each_repository() {
    let registry = FakeRegistry {
        accepts: Some(Credentials {
            username: "pusher".into(),
            password: "the-right-one".into(),
        }),
        ..FakeRegistry::holding(REPOSITORY, &[("a", "sha256:a")])
    };
    let enabled = Arc::new(Enabled {
        repositories: vec![
            ("app".into(), REPOSITORY.into()),
            ("other".into(), "r.example/org/other".into()),
        ],
        ..(*enabled()).clone()
    });
    let a = target("a");
    let mut other = target("b");
    other.package = "other".into();
    other.name = "other:b".into();
    let states = status(
        &[&a, &other],
        &produced_by(&[&a, &other]),
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
            (REPOSITORY, State::Error),
            ("r.example/org/other", State::Error)
        ]
    );
    for state in &states {
        let message = state.digest.as_deref().unwrap_or_default();
        assert!(
            message.starts_with("cannot list the tags: authentication to `r.example` failed (401)")
                && message.contains("`REG_USER` and `REG_PASSWORD`"),
            "{message}"
        );
    }
    assert_eq!(registry.asked(), [format!("tags {REPOSITORY}")]);
}

/// The tags are listed, the manifests refused: each held tag says so, and
/// only the first is asked.
#[tokio::test]
async fn a_registry_that_refuses_the_credentials_is_said_for_each_tag_without_asking_again() {
    let registry = FakeRegistry::holding(
        REPOSITORY,
        &[("a", "sha256:a"), ("b", "sha256:b"), ("c", "sha256:c")],
    );
    registry.fail("digest ", Failure::Denied { status: 401 });
    let targets = [target("a"), target("b"), target("c")];
    let targets: Vec<&Target> = targets.iter().collect();
    let (found, states) = status_of(&targets, &produced_by(&targets), &registry, None).await;
    assert_eq!(
        found,
        [
            row("a", State::Error),
            row("b", State::Error),
            row("c", State::Error)
        ]
    );
    let said: BTreeSet<&str> = states.iter().filter_map(|s| s.digest.as_deref()).collect();
    assert_eq!(said.len(), 1, "the same words for each tag: {said:?}");
    assert!(
        said.iter()
            .all(|m| m.contains("authentication to `r.example` failed (401)")),
        "{said:?}"
    );
    assert_eq!(
        registry.asked(),
        [
            format!("tags {REPOSITORY}"),
            format!("digest {REPOSITORY}:a")
        ]
    );
}

/// A 403 concerns what the account may do in one repository: the next
/// tag is asked.
#[tokio::test]
async fn a_403_on_one_tag_leaves_the_next_asked() {
    let registry = FakeRegistry::holding(REPOSITORY, &[("a", "sha256:a"), ("b", "sha256:b")]);
    registry.fail(
        &format!("digest {REPOSITORY}:a"),
        Failure::Denied { status: 403 },
    );
    let (a, b) = (target("a"), target("b"));
    let (found, _) = status_of(&[&a, &b], &produced_by(&[&a, &b]), &registry, None).await;
    assert_eq!(found, [row("a", State::Error), row("b", State::Unknown)]);
}

/// The bug: a 403 on one repository marked every repository of the
/// registry denied, each naming the first.
#[tokio::test]
async fn a_403_on_one_repository_leaves_the_others_of_the_registry_asked() {
    let registry = FakeRegistry::default();
    registry.fail("tags r.example/org/app", Failure::Denied { status: 403 });
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

#[tokio::test]
async fn what_a_registry_says_is_scrubbed_of_the_password() {
    let registry = FakeRegistry::holding(REPOSITORY, &[("a", "sha256:a")]);
    registry.fail(
        "digest ",
        Failure::Other {
            message: format!("login pusher:{PASSWORD} rejected by the backend"),
            transient: false,
        },
    );
    let a = target("a");
    let (_, states) = status_of(&[&a], &produced_by(&[&a]), &registry, None).await;
    let message = states[0].digest.as_deref().unwrap_or_default();
    assert!(
        message.contains("pusher:***") && !message.contains(PASSWORD),
        "{message}"
    );
}

/// The daemon fails once: had it been asked again, the next tag would
/// have been judged (`current`) rather than said to fail.
#[tokio::test]
async fn a_daemon_that_fails_is_said_for_each_tag_without_asking_again() {
    let registry = FakeRegistry::holding(REPOSITORY, &[("a", "sha256:a"), ("b", "sha256:b")]);
    let engine = engine_with_pushed(&["a", "b"]);
    *engine.inspect_failures.lock().unwrap() = 1;
    let (a, b, c) = (target("a"), target("b"), target("c"));
    let (found, states) = status_of(
        &[&a, &b, &c],
        &produced_by(&[&a, &b, &c]),
        &registry,
        Some(&engine),
    )
    .await;
    assert_eq!(
        found,
        [
            row("a", State::Error),
            row("b", State::Error),
            row("c", State::Missing)
        ],
        "a tag the registry lacks needs no daemon"
    );
    for state in &states[..2] {
        assert_eq!(
            state.digest.as_deref(),
            Some("cannot ask the Docker daemon: the daemon hung up")
        );
    }
}
