//! The `status` algorithm against a registry and an engine in memory.

use std::collections::BTreeSet;

use super::*;
use crate::engine::fake::Fake as FakeEngine;
use crate::registry::Credentials;
use crate::registry::fake::Fake as FakeRegistry;

const REPOSITORY: &str = "r.example/org/app";
const PASSWORD: &str = "s3cret-pass";
/// The ID of the external base image the daemon holds now.
const DEBIAN: &str = "sha256:debian-now";

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
        platforms: Vec::new(),
    }
}

/// A target built FROM `base` (a target of [`target`]).
fn dependent(tag: &str, base: &Target) -> Target {
    Target {
        release_type: crate::manifest::ReleaseType::Runtime,
        directory: "generated/app/debian12/runtime".into(),
        dockerfile: "generated/app/debian12/runtime/Dockerfile".into(),
        from: base.name.clone(),
        depends_on: Some(base.name.clone()),
        ..target(tag)
    }
}

/// An images repo with the Dockerfiles of [`target`] and [`dependent`].
fn recipes() -> (tempfile::TempDir, Recipes) {
    let dir = tempfile::tempdir().unwrap();
    let write = |path: &str, text: &str| {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write(
        "generated/app/debian12/Dockerfile",
        "FROM debian:bookworm-slim\n",
    );
    write(
        "generated/app/debian12/runtime/Dockerfile",
        "FROM app:base\nRUN true\n",
    );
    let context = crate::context::Context::scan(dir.path()).unwrap();
    (dir, Recipes::new(Arc::new(context)))
}

/// The labels `build` gives `target` built FROM `base` (an image ID, or
/// for a dependent the inputs hash of its base and that base's ID).
fn labels_of(target: &Target, base: Base) -> Vec<(String, String)> {
    let (_dir, recipes) = recipes();
    let (in_hash, base_id) = match base {
        Base::External(id) => (id.to_string(), id.to_string()),
        Base::Plan { inputs, id } => (inputs::chained(inputs), id.to_string()),
    };
    vec![
        (
            inputs::LABEL.to_string(),
            recipes.hash(target, &in_hash).unwrap(),
        ),
        (inputs::BASE_LABEL.to_string(), base_id),
    ]
}

/// What a test image was built FROM.
#[derive(Clone, Copy)]
enum Base<'a> {
    External(&'a str),
    Plan { inputs: &'a str, id: &'a str },
}

/// Holds `target` in [`REPOSITORY`] as `build` and `push` leave it: at
/// `sha256:TAG`, its config (ID) `config`, labelled `labels`.
fn hold(registry: &FakeRegistry, target: &Target, config: &str, labels: &[(String, String)]) {
    let labels: Vec<(&str, &str)> = labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let digest = format!("sha256:{}", target.tag);
    registry.hold_image(REPOSITORY, &target.tag, &digest, config, &labels);
}

/// Holds `target` as built now FROM the daemon's debian.
fn hold_current(registry: &FakeRegistry, target: &Target) {
    let labels = labels_of(target, Base::External(DEBIAN));
    hold(
        registry,
        target,
        &format!("sha256:id-{}", target.tag),
        &labels,
    );
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
    let (_dir, recipes) = recipes();
    let states = status(
        targets,
        produced,
        &[enabled],
        registry,
        engine,
        &recipes,
        &scrubber,
    )
    .await;
    let found = states
        .iter()
        .map(|s| (s.reference.clone(), s.state))
        .collect();
    (found, states)
}

/// A daemon holding the external base image as [`DEBIAN`].
fn daemon() -> FakeEngine {
    let engine = FakeEngine::default();
    engine.images.lock().unwrap().insert(
        "debian:bookworm-slim".into(),
        Image {
            id: DEBIAN.into(),
            ..Image::default()
        },
    );
    engine
}

fn row(tag: &str, state: State) -> (String, State) {
    (tagged(REPOSITORY, tag), state)
}

#[tokio::test]
async fn a_tag_the_registry_lacks_is_missing() {
    let registry = FakeRegistry::default();
    let (a, b) = (target("a"), target("b"));
    hold_current(&registry, &a);
    let engine = daemon();
    let (found, _) = status_of(&[&a, &b], &produced_by(&[&a, &b]), &registry, Some(&engine)).await;
    assert_eq!(found, [row("a", State::Current), row("b", State::Missing)]);
    assert_eq!(
        registry.asked(),
        [
            format!("tags {REPOSITORY}"),
            format!("image {REPOSITORY}:a")
        ],
        "a tag the listing lacks is not asked for"
    );
}

/// Six tags pushed and held, each with the plan's inputs: six current,
/// nothing extra, even when the versions in the selection are not the
/// manifest's defaults.
#[tokio::test]
async fn every_pushed_tag_is_current_and_none_is_also_extra() {
    let tags = ["a", "b", "c", "d", "e", "f"];
    let registry = FakeRegistry::default();
    let targets: Vec<Target> = tags.iter().map(|t| target(t)).collect();
    for target in &targets {
        hold_current(&registry, target);
    }
    let engine = daemon();
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
async fn a_tag_built_from_other_inputs_is_stale_because_inputs_changed() {
    let registry = FakeRegistry::default();
    let a = target("a");
    let labels = vec![
        (inputs::LABEL.to_string(), "sha256:other-inputs".to_string()),
        (inputs::BASE_LABEL.to_string(), DEBIAN.to_string()),
    ];
    hold(&registry, &a, "sha256:id-a", &labels);
    let engine = daemon();
    let (found, states) = status_of(&[&a], &produced_by(&[&a]), &registry, Some(&engine)).await;
    assert_eq!(found, [row("a", State::Stale)]);
    assert_eq!(states[0].reason.as_deref(), Some(INPUTS_CHANGED));
    assert_eq!(states[0].digest.as_deref(), Some("sha256:a"));
}

/// The same inputs, built FROM the debian of before: stale because the
/// base moved, not because its inputs changed.
#[tokio::test]
async fn a_tag_built_from_a_base_image_that_moved_since_is_stale_saying_so() {
    let registry = FakeRegistry::default();
    let a = target("a");
    let labels = labels_of(&a, Base::External("sha256:debian-before"));
    hold(&registry, &a, "sha256:id-a", &labels);
    let engine = daemon();
    let (found, states) = status_of(&[&a], &produced_by(&[&a]), &registry, Some(&engine)).await;
    assert_eq!(found, [row("a", State::Stale)]);
    assert_eq!(states[0].reason.as_deref(), Some(BASE_MOVED));
}

/// A dependent counts its base by the base's inputs and records its image:
/// it is current while both hold; a base rebuilt alone (the same inputs,
/// a new image) makes it stale as "its base image moved", a base of other
/// inputs as "inputs changed" (its hash chains through the base's), a
/// missing or stale base as such.
#[tokio::test]
async fn a_dependent_is_judged_against_its_base_as_the_registry_holds_it() {
    let engine = daemon();
    let base = target("base");
    let runtime = dependent("runtime", &base);
    let base_inputs = labels_of(&base, Base::External(DEBIAN))[0].1.clone();
    let built_on = |id: &str, inputs: &str| {
        let registry = FakeRegistry::default();
        hold_current(&registry, &base);
        let labels = labels_of(&runtime, Base::Plan { inputs, id });
        hold(&registry, &runtime, "sha256:id-runtime", &labels);
        registry
    };
    let judged = |registry: FakeRegistry| {
        let engine = &engine;
        let (base, runtime) = (&base, &runtime);
        async move {
            let targets = [base, runtime];
            let (_, states) =
                status_of(&targets, &produced_by(&targets), &registry, Some(engine)).await;
            (
                states[1].state,
                states[1].reason.clone().unwrap_or_default(),
            )
        }
    };
    let current = built_on("sha256:id-base", &base_inputs);
    assert_eq!(judged(current).await, (State::Current, String::new()));
    // Built in one bake graph with its base: the base's ID was not known,
    // the label is empty, and the inputs hash alone judges it.
    let in_one_graph = built_on("", &base_inputs);
    assert_eq!(judged(in_one_graph).await, (State::Current, String::new()));
    // A daemon with the containerd image store records the base by the
    // digest its tag resolves to (`sha256:TAG` here), not its config.
    let by_manifest = built_on("sha256:base", &base_inputs);
    assert_eq!(judged(by_manifest).await, (State::Current, String::new()));
    let moved = built_on("sha256:id-base-before", &base_inputs);
    assert_eq!(judged(moved).await, (State::Stale, BASE_MOVED.into()));
    let other = built_on("sha256:id-base", "sha256:base-inputs-before");
    assert_eq!(judged(other).await, (State::Stale, INPUTS_CHANGED.into()));
    let missing = built_on("sha256:id-base", &base_inputs);
    missing
        .repositories
        .lock()
        .unwrap()
        .get_mut(REPOSITORY)
        .unwrap()
        .remove("base");
    assert_eq!(
        judged(missing).await,
        (State::Stale, "its base `app:base` is missing".into())
    );
    // The base, and the runtime on it, built on the debian of before.
    let labels = labels_of(&base, Base::External("sha256:debian-before"));
    let stale_base = built_on("sha256:id-base", &labels[0].1);
    hold(&stale_base, &base, "sha256:id-base", &labels);
    assert_eq!(
        judged(stale_base).await,
        (State::Stale, "its base `app:base` is stale".into())
    );
}

/// Without a daemon the external base's ID now is not known: a base image
/// is unknown, saying so, and a dependent is still judged.
#[tokio::test]
async fn without_a_daemon_a_base_is_unknown_saying_why_and_its_dependent_is_judged() {
    let registry = FakeRegistry::default();
    let base = target("base");
    let runtime = dependent("runtime", &base);
    hold_current(&registry, &base);
    let base_inputs = labels_of(&base, Base::External(DEBIAN))[0].1.clone();
    let labels = labels_of(
        &runtime,
        Base::Plan {
            inputs: &base_inputs,
            id: "sha256:id-base",
        },
    );
    hold(&registry, &runtime, "sha256:id-runtime", &labels);
    let targets = [&base, &runtime];
    let (found, states) = status_of(&targets, &produced_by(&targets), &registry, None).await;
    assert_eq!(
        found,
        [row("base", State::Unknown), row("runtime", State::Current)]
    );
    assert_eq!(
        states[0].reason.as_deref(),
        Some("no Docker daemon to tell what `debian:bookworm-slim` is now")
    );
}

/// A Dockerfile that is not generated cannot be hashed: unknown, with
/// what to run.
#[tokio::test]
async fn a_tag_whose_dockerfile_is_not_generated_is_unknown_saying_what_to_run() {
    let registry = FakeRegistry::default();
    let mut a = target("a");
    hold_current(&registry, &a);
    a.dockerfile = "generated/app/debian13/Dockerfile".into();
    let engine = daemon();
    let (found, states) = status_of(&[&a], &produced_by(&[&a]), &registry, Some(&engine)).await;
    assert_eq!(found, [row("a", State::Unknown)]);
    assert_eq!(
        states[0].reason.as_deref(),
        Some("`generated/app/debian13/Dockerfile` is not generated: run `bentoml-docker generate`")
    );
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
        "without a daemon, a base image's tag is unknown"
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
        &recipes().1,
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
    registry.fail("image ", Failure::Denied { status: 401 });
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
            format!("image {REPOSITORY}:a")
        ]
    );
}

/// A 403 concerns what the account may do in one repository: the next
/// tag is asked.
#[tokio::test]
async fn a_403_on_one_tag_leaves_the_next_asked() {
    let registry = FakeRegistry::holding(REPOSITORY, &[("a", "sha256:a"), ("b", "sha256:b")]);
    registry.fail(
        &format!("image {REPOSITORY}:a"),
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
        &recipes().1,
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
        "image ",
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
    let engine = daemon();
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

/// A target of several platforms is current only when its tag is an index
/// of exactly those: a missing platform makes it stale, saying which.
#[tokio::test]
async fn a_tag_missing_a_declared_platform_is_stale_saying_which() {
    use crate::registry::index::{Child, Index, OCI_INDEX};
    let registry = FakeRegistry::default();
    let platforms = vec!["linux/amd64".to_string(), "linux/arm64".to_string()];
    let (mut a, mut b) = (target("a"), target("b"));
    a.platforms.clone_from(&platforms);
    b.platforms.clone_from(&platforms);
    hold_current(&registry, &a);
    hold_current(&registry, &b);
    let index = |tag: &str, held: &[&str]| Index {
        digest: format!("sha256:index-{tag}"),
        media_type: OCI_INDEX.into(),
        platforms: held
            .iter()
            .map(|p| Child {
                platform: p.parse().unwrap(),
                digest: format!("sha256:{tag}-{}", p.replace('/', "-")),
            })
            .collect(),
        attestations: Vec::new(),
        unplaced: Vec::new(),
    };
    registry.hold_index(REPOSITORY, "a", index("a", &["linux/amd64", "linux/arm64"]));
    registry.hold_index(REPOSITORY, "b", index("b", &["linux/amd64"]));
    let engine = daemon();
    let (found, states) =
        status_of(&[&a, &b], &produced_by(&[&a, &b]), &registry, Some(&engine)).await;
    assert_eq!(
        found,
        [row("a", State::Current), row("b", State::Stale)],
        "{states:?}"
    );
    let why = states[1].reason.as_deref().unwrap();
    assert!(why.contains("linux/arm64"), "{why}");
}
