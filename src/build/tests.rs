use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::engine::Image;
use crate::engine::fake::Fake;
use crate::generate::{self, Destination};
use crate::manifest;
use crate::plan::with_dependencies;
use crate::render::Renderer;
use crate::run::{Quiet, Recorder, Status};

const MANIFEST: &str = "python_versions: ['3.11', '3.12']
release_spec: &spec
  templates_dir: templates
  base_image: debian:bookworm-slim
  add_to_tags: bookworm
  envars: [LANG=C.UTF-8]
packages:
  server:
    runtime: [debian]
    devel: [debian]
releases:
  debian:
    '12':
      <<: *spec
    '13':
      <<: *spec
      add_to_tags: trixie
";

struct Repo {
    dir: tempfile::TempDir,
    plan: Plan,
}

impl Repo {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let write = |path: &str, text: &str| {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        write("manifest.yml", MANIFEST);
        write(
            "templates/base.Dockerfile.j2",
            "FROM {{ metadata.base_image }}\nARG PYTHON_VERSION\n",
        );
        write(
            "templates/runtime.Dockerfile.j2",
            "ARG PYTHON_VERSION\nFROM {{ metadata.package }}:{{ build_tag }}\nCOPY tools/entrypoint.sh /e\n",
        );
        write(
            "templates/devel.Dockerfile.j2",
            "ARG PYTHON_VERSION\nFROM {{ metadata.package }}:{{ build_tag }}\nRUN true\n",
        );
        write("tools/entrypoint.sh", "#!/bin/sh\n");
        let manifest = manifest::load(&dir.path().join("manifest.yml")).unwrap();
        let options = crate::plan::Options {
            bentoml_version: Some("1.3.0".into()),
            output_dir: "generated".into(),
            ..Default::default()
        };
        let plan = Plan::new(&manifest, &options).unwrap();
        let renderer = Renderer::new(&manifest).unwrap();
        let destination = Destination {
            output: dir.path().join("generated"),
            metadata: None,
            check_only: false,
        };
        generate::generate(&manifest, &plan.matrix, &renderer, &destination).unwrap();
        Self { dir, plan }
    }

    /// Changes `tools/entrypoint.sh`, which only runtime images copy.
    fn edit_what_runtimes_copy(&self) {
        std::fs::write(
            self.dir.path().join("tools/entrypoint.sh"),
            "#!/bin/sh\necho changed\n",
        )
        .unwrap();
    }

    /// Changes the generated Dockerfile of the trixie base images.
    fn edit_the_trixie_base(&self) {
        std::fs::write(
            self.dir.path().join("generated/server/debian13/Dockerfile"),
            "FROM debian:bookworm-slim\nARG PYTHON_VERSION\nRUN true\n",
        )
        .unwrap();
    }

    fn options(&self) -> BuildOptions {
        BuildOptions {
            jobs: 1,
            keep_going: false,
            overwrite: false,
            network: None,
            timeout: Duration::from_secs(60),
            build_args: Vec::new(),
            labels: Vec::new(),
            source_date_epoch: None,
            log_dir: self.dir.path().join(".bentoml-docker/logs"),
            mode: Mode::Build,
            push_to: Vec::new(),
            skip_pushed: None,
        }
    }

    async fn build(&self, engine: &Arc<Fake>, options: &BuildOptions) -> Summary {
        self.build_selected(
            engine,
            options,
            &self.plan.targets.iter().collect::<Vec<_>>(),
        )
        .await
    }

    async fn build_selected(
        &self,
        engine: &Arc<Fake>,
        options: &BuildOptions,
        selected: &[&Target],
    ) -> Summary {
        self.build_reporting(engine, options, selected, Arc::new(Quiet))
            .await
    }

    async fn build_reporting(
        &self,
        engine: &Arc<Fake>,
        options: &BuildOptions,
        selected: &[&Target],
        reporter: Arc<dyn Reporter>,
    ) -> Summary {
        let context = Arc::new(Context::scan(self.dir.path()).unwrap());
        let targets = with_dependencies(&self.plan, selected);
        let engine: Arc<dyn Engine> = Arc::clone(engine) as Arc<dyn Engine>;
        build(
            &self.plan,
            &targets,
            engine,
            context,
            options,
            reporter,
            std::future::pending(),
        )
        .await
    }
}

fn statuses(summary: &Summary) -> Vec<(String, &'static str)> {
    summary
        .targets
        .iter()
        .map(|o| (o.target.clone(), o.status.as_str()))
        .collect()
}

#[tokio::test]
async fn builds_bases_first_then_is_up_to_date() {
    let repo = Repo::new();
    let engine = Arc::new(Fake::with_images(&["debian:bookworm-slim"]));
    let summary = repo.build(&engine, &repo.options()).await;
    assert!(summary.success(), "{:?}", statuses(&summary));
    let built = engine.take_built();
    assert_eq!(built.len(), 12);
    let position = |name: &str| built.iter().position(|b| b == name).unwrap();
    assert!(
        position("server:base-python3.11-bookworm")
            < position("server:1.3.0-python3.11-bookworm-runtime")
    );
    let image = engine.images.lock().unwrap()["server:devel-python3.12-trixie"].clone();
    assert_eq!(
        image.labels["org.opencontainers.image.base.name"],
        "server:base-python3.12-trixie"
    );
    assert_eq!(image.labels["org.opencontainers.image.version"], "1.3.0");
    assert!(image.labels[inputs::LABEL].starts_with("sha256:"));

    let again = repo.build(&engine, &repo.options()).await;
    assert_eq!(again.count(&Status::UpToDate), 12);
    assert!(engine.take_built().is_empty());
}

/// A base image the engine lacks is pulled before hashing: the label
/// then holds the ID the build used, and the next run is a no-op.
#[tokio::test]
async fn a_missing_base_image_is_pulled_once_and_not_rebuilt_after() {
    let repo = Repo::new();
    let engine = Arc::new(Fake::default());
    engine.remote.lock().unwrap().insert(
        "debian:bookworm-slim".into(),
        crate::engine::Image {
            id: "sha256:pulled".into(),
            ..crate::engine::Image::default()
        },
    );
    let summary = repo.build(&engine, &repo.options()).await;
    assert!(summary.success(), "{:?}", statuses(&summary));
    assert_eq!(engine.take_built().len(), 12);
    assert_eq!(*engine.pulled.lock().unwrap(), ["debian:bookworm-slim"]);
    let again = repo.build(&engine, &repo.options()).await;
    assert_eq!(again.count(&Status::UpToDate), 12, "{:?}", statuses(&again));
    assert!(engine.take_built().is_empty());
}

/// A pull that hangs is bounded by the build timeout.
#[tokio::test]
async fn a_pull_past_the_timeout_fails_its_targets() {
    let repo = Repo::new();
    let engine = Arc::new(Fake {
        pull_delay: Duration::from_secs(600),
        ..Fake::default()
    });
    engine.remote.lock().unwrap().insert(
        "debian:bookworm-slim".into(),
        crate::engine::Image::default(),
    );
    let options = BuildOptions {
        timeout: Duration::from_millis(50),
        ..repo.options()
    };
    let summary = tokio::time::timeout(Duration::from_secs(30), repo.build(&engine, &options))
        .await
        .expect("the pull was cut off");
    let failed: Vec<&str> = summary
        .targets
        .iter()
        .filter(|o| o.status == Status::Failed)
        .filter_map(|o| o.reason.as_deref())
        .collect();
    assert!(!failed.is_empty(), "{:?}", statuses(&summary));
    for reason in failed {
        assert_eq!(
            reason,
            "pulling `debian:bookworm-slim` timed out after 50ms"
        );
    }
    assert!(engine.take_built().is_empty());
}

#[tokio::test]
async fn a_base_image_that_cannot_be_pulled_fails_its_targets() {
    let repo = Repo::new();
    let engine = Arc::new(Fake::default());
    let summary = repo.build(&engine, &repo.options()).await;
    assert!(!summary.success());
    let base = summary
        .targets
        .iter()
        .find(|o| o.status == Status::Failed)
        .unwrap();
    assert!(
        base.reason.as_deref().unwrap().starts_with(
            "cannot pull `debian:bookworm-slim`: manifest for debian:bookworm-slim not found"
        ),
        "{base:?}"
    );
    assert!(engine.take_built().is_empty());
}

#[tokio::test]
async fn a_changed_input_rebuilds_exactly_its_targets_and_dependents() {
    let repo = Repo::new();
    let engine = Arc::new(Fake::with_images(&["debian:bookworm-slim"]));
    repo.build(&engine, &repo.options()).await;
    engine.take_built();
    repo.edit_what_runtimes_copy();
    repo.build(&engine, &repo.options()).await;
    let mut built = engine.take_built();
    built.sort();
    assert_eq!(
        built,
        [
            "server:1.3.0-python3.11-bookworm-runtime",
            "server:1.3.0-python3.11-trixie-runtime",
            "server:1.3.0-python3.12-bookworm-runtime",
            "server:1.3.0-python3.12-trixie-runtime",
        ]
    );
    // A changed base Dockerfile rebuilds that base and everything FROM it.
    repo.edit_the_trixie_base();
    repo.build(&engine, &repo.options()).await;
    let built = engine.take_built();
    assert_eq!(built.len(), 6, "{built:?}");
    assert!(built.iter().all(|b| b.contains("trixie")));
}

#[tokio::test]
async fn a_failure_skips_dependents_and_stops_unless_keep_going() {
    let repo = Repo::new();
    let engine = Arc::new(Fake::with_images(&["debian:bookworm-slim"]));
    engine
        .failing
        .lock()
        .unwrap()
        .insert("server:base-python3.11-bookworm".into());
    let summary = repo.build(&engine, &repo.options()).await;
    assert!(!summary.success());
    assert_eq!(engine.take_built(), ["server:base-python3.11-bookworm"]);
    let failed = &summary.targets[0];
    assert_eq!(failed.status, Status::Failed);
    assert!(
        failed.log_tail.iter().any(|l| l.contains("RUN failed")),
        "{failed:?}"
    );
    assert!(failed.log.as_ref().unwrap().exists());
    assert_eq!(summary.count(&Status::Skipped), 11);

    let options = BuildOptions {
        keep_going: true,
        ..repo.options()
    };
    let summary = repo.build(&engine, &options).await;
    let statuses = statuses(&summary);
    assert_eq!(summary.count(&Status::Failed), 1);
    assert_eq!(summary.count(&Status::Skipped), 2, "{statuses:?}");
    assert!(statuses.contains(&("server:devel-python3.11-bookworm".into(), "skipped")));
    assert_eq!(summary.count(&Status::Built), 9);
}

#[tokio::test]
async fn a_build_past_its_timeout_fails() {
    let repo = Repo::new();
    let engine = Arc::new(Fake {
        delay: Duration::from_millis(500),
        ..Fake::with_images(&["debian:bookworm-slim"])
    });
    let options = BuildOptions {
        timeout: Duration::from_millis(50),
        ..repo.options()
    };
    let summary = repo.build(&engine, &options).await;
    assert_eq!(summary.targets[0].status, Status::Failed);
    assert_eq!(
        summary.targets[0].reason.as_deref(),
        Some("timed out after 50ms")
    );
    assert_eq!(engine.images.lock().unwrap().len(), 1, "nothing was tagged");
}

/// The bug: `build --dry-run` on a fresh copy (no `generated/`)
/// reported the base targets as failed and exited 1.
#[tokio::test]
async fn a_dry_run_without_generated_dockerfiles_fails_nothing() {
    let repo = Repo::new();
    std::fs::remove_dir_all(repo.dir.path().join("generated")).unwrap();
    let engine = Arc::new(Fake::with_images(&["debian:bookworm-slim"]));
    let options = BuildOptions {
        mode: Mode::DryRun,
        ..repo.options()
    };
    let summary = repo.build(&engine, &options).await;
    assert!(summary.success(), "{summary:?}");
    assert!(
        summary
            .targets
            .iter()
            .all(|t| t.status == Status::WouldBuild),
        "{summary:?}"
    );
    assert!(engine.built.lock().unwrap().is_empty());
}

/// The bug: a build's log stayed empty until the build ended.
#[tokio::test]
async fn a_build_log_is_on_disk_while_the_build_runs() {
    let repo = Repo::new();
    let engine = Arc::new(Fake {
        delay: Duration::from_millis(600),
        ..Fake::with_images(&["debian:bookworm-slim"])
    });
    let options = repo.options();
    let logs = options.log_dir.clone();
    let building = repo.build(&engine, &options);
    let looking = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut seen = String::new();
        for entry in std::fs::read_dir(&logs).unwrap().flatten() {
            seen.push_str(&std::fs::read_to_string(entry.path()).unwrap());
        }
        seen
    };
    let (summary, seen) = tokio::join!(building, looking);
    assert!(summary.success());
    assert!(seen.contains("building server:base-python3.11"), "{seen:?}");
    let names: Vec<String> = std::fs::read_dir(&logs)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| n.ends_with(".log")), "{names:?}");
}

/// The bug: a partial log left by a run killed with SIGKILL stayed for
/// good when no later run built that target again.
#[tokio::test]
async fn a_build_run_removes_the_abandoned_partial_logs_of_any_target() {
    let repo = Repo::new();
    let engine = Arc::new(Fake::with_images(&["debian:bookworm-slim"]));
    let options = repo.options();
    std::fs::create_dir_all(&options.log_dir).unwrap();
    let abandoned = options
        .log_dir
        .join("not-in-this-run_x.log.Q1w2E3r4T5.partial");
    std::fs::write(&abandoned, "cut by SIGKILL").unwrap();
    let summary = repo.build(&engine, &options).await;
    assert!(summary.success());
    assert!(!abandoned.exists());
}

#[tokio::test]
async fn jobs_run_builds_at_once() {
    let repo = Repo::new();
    let engine = Arc::new(Fake {
        delay: Duration::from_millis(50),
        ..Fake::with_images(&["debian:bookworm-slim"])
    });
    let options = BuildOptions {
        jobs: 3,
        ..repo.options()
    };
    assert!(repo.build(&engine, &options).await.success());
    assert_eq!(
        engine.max_running.load(std::sync::atomic::Ordering::SeqCst),
        3
    );
}

#[tokio::test]
async fn selection_includes_what_targets_are_built_from() {
    let repo = Repo::new();
    let engine = Arc::new(Fake::with_images(&["debian:bookworm-slim"]));
    let runtime = repo
        .plan
        .target("server:1.3.0-python3.12-trixie-runtime")
        .unwrap();
    let summary = repo
        .build_selected(&engine, &repo.options(), &[runtime])
        .await;
    assert_eq!(
        engine.take_built(),
        [
            "server:base-python3.12-trixie",
            "server:1.3.0-python3.12-trixie-runtime"
        ]
    );
    assert!(summary.success());
    // Again: the base is up to date and not rebuilt.
    let devel = repo.plan.target("server:devel-python3.12-trixie").unwrap();
    repo.build_selected(&engine, &repo.options(), &[devel])
        .await;
    assert_eq!(engine.take_built(), ["server:devel-python3.12-trixie"]);
}

#[tokio::test]
async fn an_image_of_several_platforms_is_tested_on_each_and_a_failure_names_it() {
    let mut repo = Repo::new();
    for target in &mut repo.plan.targets {
        target.tests = vec!["uname -m".into()];
        target.platforms = vec!["linux/amd64".into(), "linux/arm64".into()];
    }
    let engine = Arc::new(Fake::with_images(&["debian:bookworm-slim"]));
    *engine.failing_runs.lock().unwrap() = vec!["server:devel-python3.12-trixie".into()];
    let options = BuildOptions {
        mode: Mode::BuildAndTest,
        keep_going: true,
        ..repo.options()
    };
    let summary = repo.build(&engine, &options).await;
    let runs = engine.runs.lock().unwrap().clone();
    let base = "server:base-python3.12-trixie";
    for platform in ["linux/amd64", "linux/arm64"] {
        let on = format!("{base} on {platform}: ");
        assert!(runs.iter().any(|r| r.starts_with(&on)), "{runs:?}");
    }
    let devel = summary
        .targets
        .iter()
        .find(|o| o.target == "server:devel-python3.12-trixie")
        .unwrap();
    assert_eq!(devel.status, Status::Failed);
    let reason = devel.reason.as_deref().unwrap();
    assert!(
        reason.contains("test `uname -m` failed on linux/amd64"),
        "{reason}"
    );
    let tested = summary.targets.iter().find(|o| o.target == base).unwrap();
    let platforms: Vec<_> = tested.tests.iter().map(|t| t.platform.as_deref()).collect();
    assert_eq!(platforms, [Some("linux/amd64"), Some("linux/arm64")]);
}

#[tokio::test]
async fn tests_run_after_each_build_and_a_failing_one_fails_its_target() {
    let mut repo = Repo::new();
    for target in &mut repo.plan.targets {
        target.tests = vec!["python --version".into()];
    }
    let engine = Arc::new(Fake::with_images(&["debian:bookworm-slim"]));
    *engine.failing_runs.lock().unwrap() = vec!["server:devel-python3.12-trixie".into()];
    let options = BuildOptions {
        mode: Mode::BuildAndTest,
        keep_going: true,
        ..repo.options()
    };
    let summary = repo.build(&engine, &options).await;
    let failed: Vec<_> = summary
        .targets
        .iter()
        .filter(|o| o.status == Status::Failed)
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].target, "server:devel-python3.12-trixie");
    assert!(
        failed[0]
            .reason
            .as_deref()
            .unwrap()
            .contains("test `python --version` failed")
    );
    let runs = engine.runs.lock().unwrap().clone();
    assert_eq!(runs.len(), 12);
    assert!(
        runs[0].contains("PYTHON_VERSION=3.11") || runs[0].contains("PYTHON_VERSION=3.12"),
        "{runs:?}"
    );

    // Rerun with --test: the image is up to date, but its failing test
    // is run again and still fails the run.
    engine.take_built();
    let summary = repo.build(&engine, &options).await;
    assert!(engine.take_built().is_empty());
    assert_eq!(
        summary.count(&Status::Failed),
        1,
        "a failed test is not forgotten"
    );
    assert!(!summary.success());

    // `test` alone: every image exists now; nothing is built.
    let options = BuildOptions {
        mode: Mode::TestOnly,
        keep_going: true,
        ..repo.options()
    };
    let summary = repo.build(&engine, &options).await;
    assert_eq!(summary.count(&Status::Passed), 11);
    assert!(engine.take_built().is_empty());
    // When every test passes, `test` succeeds.
    engine.failing_runs.lock().unwrap().clear();
    let summary = repo.build(&engine, &options).await;
    assert_eq!(summary.count(&Status::Passed), 12);
    assert!(summary.success(), "passing tests are a success");
}

#[tokio::test]
async fn a_test_past_the_timeout_fails_its_target() {
    let mut repo = Repo::new();
    for target in &mut repo.plan.targets {
        target.tests = vec!["sleep 600".into()];
    }
    let engine = Arc::new(Fake {
        run_delay: Duration::from_secs(30),
        ..Fake::with_images(&["debian:bookworm-slim"])
    });
    let options = BuildOptions {
        mode: Mode::BuildAndTest,
        timeout: Duration::from_millis(50),
        ..repo.options()
    };
    let summary = repo.build(&engine, &options).await;
    let first = &summary.targets[0];
    assert_eq!(first.status, Status::Failed);
    assert!(
        first
            .reason
            .as_deref()
            .unwrap()
            .contains("timed out after 50ms"),
        "{first:?}"
    );
}

#[tokio::test]
async fn dry_run_decides_without_building() {
    let repo = Repo::new();
    let engine = Arc::new(Fake::with_images(&["debian:bookworm-slim"]));
    let options = BuildOptions {
        mode: Mode::DryRun,
        ..repo.options()
    };
    let summary = repo.build(&engine, &options).await;
    assert_eq!(summary.count(&Status::WouldBuild), 12);
    assert!(engine.take_built().is_empty());
    let runtime = summary
        .targets
        .iter()
        .find(|o| o.target.ends_with("runtime"))
        .unwrap();
    assert_eq!(runtime.reason.as_deref(), Some("no image"));
}

/// The point of chaining: a dry run, with nothing built, knows every
/// target's inputs hash, and the build then labels each image with it.
#[tokio::test]
async fn every_inputs_hash_is_known_before_anything_is_built() {
    let repo = Repo::new();
    let engine = Arc::new(Fake::with_images(&["debian:bookworm-slim"]));
    let dry = BuildOptions {
        mode: Mode::DryRun,
        ..repo.options()
    };
    let decided = repo.build(&engine, &dry).await;
    assert!(
        decided.targets.iter().all(|o| o.inputs.is_some()),
        "{decided:?}"
    );
    let built = repo.build(&engine, &repo.options()).await;
    assert_eq!(built.count(&Status::Built), 12);
    for (before, after) in decided.targets.iter().zip(&built.targets) {
        assert_eq!(
            (&before.target, &before.inputs),
            (&after.target, &after.inputs)
        );
    }
}

/// A dependent's hash holds its base's inputs hash, not the ID of the image
/// the base became: rebuilding everything (new image IDs) keeps every hash.
#[tokio::test]
async fn hashes_chain_through_the_bases_inputs_not_their_image_ids() {
    let repo = Repo::new();
    let engine = Arc::new(Fake::with_images(&["debian:bookworm-slim"]));
    let first = repo.build(&engine, &repo.options()).await;
    let again = BuildOptions {
        overwrite: true,
        ..repo.options()
    };
    let second = repo.build(&engine, &again).await;
    assert_eq!(second.count(&Status::Built), 12);
    for (a, b) in first.targets.iter().zip(&second.targets) {
        assert_ne!(a.image, b.image, "{} got a new image", a.target);
        assert_eq!(a.inputs, b.inputs, "{}", a.target);
    }
}

/// A base rebuilt on its own (same inputs, a new image) leaves its
/// dependents built FROM the old one: the next run rebuilds them, and only
/// them.
#[tokio::test]
async fn a_base_rebuilt_alone_makes_its_dependents_stale() {
    let repo = Repo::new();
    let engine = Arc::new(Fake::with_images(&["debian:bookworm-slim"]));
    repo.build(&engine, &repo.options()).await;
    let base = repo
        .plan
        .targets
        .iter()
        .find(|t| t.depends_on.is_none())
        .unwrap();
    let overwrite = BuildOptions {
        overwrite: true,
        ..repo.options()
    };
    repo.build_selected(&engine, &overwrite, &[base]).await;
    engine.take_built();
    let next = repo.build(&engine, &repo.options()).await;
    let mut dependents: Vec<&str> = Vec::new();
    for target in &repo.plan.targets {
        let mut parent = target.depends_on.as_deref();
        while let Some(name) = parent {
            if name == base.name {
                dependents.push(&target.name);
            }
            parent = repo.plan.target(name).and_then(|t| t.depends_on.as_deref());
        }
    }
    let mut built = engine.take_built();
    built.sort();
    dependents.sort_unstable();
    assert!(!dependents.is_empty());
    assert_eq!(built, dependents, "{:?}", statuses(&next));
    let direct = next
        .targets
        .iter()
        .find(|o| repo.plan.target(&o.target).unwrap().depends_on.as_deref() == Some(&base.name))
        .unwrap();
    assert_eq!(direct.reason.as_deref(), Some("its base image changed"));
}

#[tokio::test]
async fn an_interruption_cancels_running_builds_and_tags_nothing() {
    let repo = Repo::new();
    let engine = Arc::new(Fake {
        delay: Duration::from_secs(30),
        ..Fake::with_images(&["debian:bookworm-slim"])
    });
    let context = Arc::new(Context::scan(repo.dir.path()).unwrap());
    let targets: Vec<&Target> =
        with_dependencies(&repo.plan, &repo.plan.targets.iter().collect::<Vec<_>>());
    let options = BuildOptions {
        jobs: 2,
        ..repo.options()
    };
    let dyn_engine: Arc<dyn Engine> = Arc::clone(&engine) as Arc<dyn Engine>;
    let interrupt = tokio::time::sleep(Duration::from_millis(100));
    let summary = build(
        &repo.plan,
        &targets,
        dyn_engine,
        context,
        &options,
        Arc::new(Quiet),
        interrupt,
    )
    .await;
    assert!(summary.interrupted);
    assert_eq!(summary.count(&Status::Cancelled), 2);
    assert_eq!(summary.count(&Status::Skipped), 10);
    assert_eq!(
        engine.images.lock().unwrap().len(),
        1,
        "no image was tagged"
    );
}

/// One event stream: the run says how many targets it has, then each
/// target's pull, build, steps, tests and end, in that order, and every
/// target ends exactly once.
#[tokio::test]
async fn a_build_says_each_step_of_each_target_in_order() {
    let mut repo = Repo::new();
    for target in &mut repo.plan.targets {
        target.tests = vec!["true".into()];
    }
    let engine = Arc::new(Fake::default());
    engine.remote.lock().unwrap().insert(
        "debian:bookworm-slim".into(),
        Image {
            id: "sha256:debian".into(),
            ..Image::default()
        },
    );
    let recorder = Arc::new(Recorder::default());
    let options = BuildOptions {
        mode: Mode::BuildAndTest,
        ..repo.options()
    };
    let all: Vec<&Target> = repo.plan.targets.iter().collect();
    let summary = repo
        .build_reporting(&engine, &options, &all, Arc::clone(&recorder) as _)
        .await;
    let lines = recorder.lines();
    assert_eq!(lines[0], "begin 12");
    let first = &summary.targets[0].target;
    let of_first: Vec<&str> = lines
        .iter()
        .filter(|l| l.split(' ').nth(1) == Some(first))
        .map(String::as_str)
        .collect();
    assert_eq!(
        of_first,
        [
            format!("pulling {first} debian:bookworm-slim"),
            format!("building {first}"),
            format!("step {first} 1/1"),
            format!("testing {first} true"),
            format!("finished {first} built"),
        ]
    );
    for outcome in &summary.targets {
        let ends = lines
            .iter()
            .filter(|l| l.starts_with(&format!("finished {} ", outcome.target)))
            .count();
        assert_eq!(ends, 1, "{}: {lines:?}", outcome.target);
    }
}

/// What a whole-graph builder is handed: every target decided before
/// anything builds, exactly the stale ones marked, each with its build (the
/// up-to-date ones too, for a bake file), and nothing built by deciding.
#[tokio::test]
async fn deciding_every_target_first_finds_exactly_what_a_build_rebuilds() {
    let repo = Repo::new();
    let engine = Arc::new(Fake::with_images(&["debian:bookworm-slim"]));
    repo.build(&engine, &repo.options()).await;
    engine.take_built();
    repo.edit_what_runtimes_copy();
    repo.edit_the_trixie_base();
    let context = Arc::new(Context::scan(repo.dir.path()).unwrap());
    let all: Vec<&Target> = repo.plan.targets.iter().collect();
    let targets = with_dependencies(&repo.plan, &all);
    let decisions = decide_all(
        &repo.plan,
        &targets,
        Arc::clone(&engine) as Arc<dyn Engine>,
        context,
        &repo.options(),
        Arc::new(Quiet),
    )
    .await;
    assert!(engine.take_built().is_empty(), "deciding builds nothing");
    assert_eq!(decisions.len(), targets.len());
    assert!(decisions.iter().all(|d| d.request.is_some()));
    let mut stale: Vec<String> = decisions
        .iter()
        .filter(|d| d.stale())
        .map(|d| d.outcome.target.clone())
        .collect();
    stale.sort();
    repo.build(&engine, &repo.options()).await;
    let mut built = engine.take_built();
    built.sort();
    assert!(!built.is_empty());
    assert_eq!(stale, built);
    for decision in decisions.iter().filter(|d| !d.stale()) {
        assert_eq!(decision.outcome.status, Status::UpToDate, "{decision:?}");
    }
}

/// Where [`pushed_registry`] holds the package `server`.
const PUSHED_TO: &str = "r.example/org/server";

/// A registry holding every image `built` has (as a push of them would:
/// each image's labels, its ID as its config's digest), and a fresh
/// engine, with only the distro's image, that can pull them from there.
fn pushed_registry(
    built: &Fake,
) -> (
    Arc<crate::registry::fake::Fake>,
    crate::registry::Published,
    Arc<Fake>,
) {
    let registry = Arc::new(crate::registry::fake::Fake::default());
    let fresh = Arc::new(Fake::with_images(&["debian:bookworm-slim"]));
    for (name, image) in built.images.lock().unwrap().iter() {
        let Some(tag) = name.strip_prefix("server:") else {
            continue;
        };
        let labels: Vec<(&str, &str)> = image
            .labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let digest = format!("sha256:manifest-of-{tag}");
        registry.hold_image(PUSHED_TO, tag, &digest, &image.id, &labels);
        let remote = format!("{PUSHED_TO}:{tag}");
        fresh.remote.lock().unwrap().insert(remote, image.clone());
    }
    let enabled = crate::registry::Enabled {
        host: "r.example".into(),
        repositories: vec![("server".into(), PUSHED_TO.into())],
        credentials: None,
        variables: Vec::new(),
    };
    let published = crate::registry::Published::new(
        Arc::clone(&registry) as Arc<dyn crate::registry::Registry>,
        Arc::new(enabled),
        Arc::new(crate::registry::Scrubber::default()),
    );
    (registry, published, fresh)
}

/// A fresh runner (no image of the plan) with everything pushed: nothing
/// is built and nothing pulled, every target up to date (registry).
#[tokio::test]
async fn skip_pushed_on_a_fresh_engine_builds_and_pulls_nothing_the_registry_holds() {
    let repo = Repo::new();
    let first = Arc::new(Fake::with_images(&["debian:bookworm-slim"]));
    repo.build(&first, &repo.options()).await;
    let (_, published, fresh) = pushed_registry(&first);
    let options = BuildOptions {
        skip_pushed: Some(published),
        ..repo.options()
    };
    let summary = repo.build(&fresh, &options).await;
    assert!(summary.success(), "{:?}", statuses(&summary));
    assert_eq!(
        summary.count(&Status::UpToDateInRegistry),
        repo.plan.targets.len(),
        "{:?}",
        statuses(&summary)
    );
    assert!(fresh.take_built().is_empty());
    assert!(fresh.pulled.lock().unwrap().is_empty());
    let base = &summary.targets[0];
    assert_eq!(
        base.reference.as_deref(),
        Some(&*format!("{PUSHED_TO}:{}", &base.target[7..]))
    );
    assert!(
        base.digest
            .as_deref()
            .unwrap()
            .starts_with("sha256:manifest-of-")
    );
}

/// An edit that only runtime images see: exactly they are built, each
/// after its base is pulled from the registry (under the name its FROM
/// gives), and no base is rebuilt.
#[tokio::test]
async fn skip_pushed_builds_exactly_the_stale_and_pulls_their_bases_without_rebuilding_them() {
    let repo = Repo::new();
    let first = Arc::new(Fake::with_images(&["debian:bookworm-slim"]));
    repo.build(&first, &repo.options()).await;
    let (_, published, fresh) = pushed_registry(&first);
    repo.edit_what_runtimes_copy();
    let options = BuildOptions {
        skip_pushed: Some(published),
        ..repo.options()
    };
    let summary = repo.build(&fresh, &options).await;
    assert!(summary.success(), "{:?}", statuses(&summary));
    let mut built = fresh.take_built();
    built.sort();
    let mut runtimes: Vec<String> = repo
        .plan
        .targets
        .iter()
        .filter(|t| t.release_type == crate::manifest::ReleaseType::Runtime)
        .map(|t| t.name.clone())
        .collect();
    runtimes.sort();
    assert_eq!(built, runtimes);
    let mut pulled = fresh.pulled.lock().unwrap().clone();
    pulled.sort();
    pulled.dedup();
    let mut bases: Vec<String> = repo
        .plan
        .targets
        .iter()
        .filter(|t| t.release_type == crate::manifest::ReleaseType::Base)
        .map(|t| format!("{PUSHED_TO}:{}", t.tag))
        .collect();
    bases.sort();
    assert_eq!(pulled, bases);
    for runtime in &runtimes {
        let outcome = summary
            .targets
            .iter()
            .find(|o| &o.target == runtime)
            .unwrap();
        assert_eq!(
            outcome.reason.as_deref(),
            Some(&*format!(
                "no image; `{PUSHED_TO}:{}` holds other inputs",
                &runtime[7..]
            ))
        );
        let from = &repo
            .plan
            .targets
            .iter()
            .find(|t| &t.name == runtime)
            .unwrap()
            .from;
        assert!(fresh.images.lock().unwrap().contains_key(from), "{from}");
    }
    // The next run on that runner finds the new runtime images here.
    let again = repo.build(&fresh, &options).await;
    assert!(fresh.take_built().is_empty(), "{:?}", statuses(&again));
    assert_eq!(again.count(&Status::UpToDate), runtimes.len() + bases.len());
}

/// A registry that fails (not "not found") fails the targets it was asked
/// about, in its words: never a silent rebuild of everything.
#[tokio::test]
async fn skip_pushed_with_a_failing_registry_fails_the_check_and_builds_nothing() {
    let repo = Repo::new();
    let first = Arc::new(Fake::with_images(&["debian:bookworm-slim"]));
    repo.build(&first, &repo.options()).await;
    let (registry, published, fresh) = pushed_registry(&first);
    registry.fail(
        "image",
        crate::registry::Failure::Other {
            message: "received unexpected HTTP status: 503 Service Unavailable".into(),
            transient: true,
        },
    );
    let options = BuildOptions {
        skip_pushed: Some(published),
        keep_going: true,
        ..repo.options()
    };
    let summary = repo.build(&fresh, &options).await;
    assert!(fresh.take_built().is_empty());
    assert!(!summary.success());
    let reason = summary.targets[0].reason.as_deref().unwrap();
    assert!(
        reason.starts_with(&format!(
            "cannot ask `r.example` whether `{}` is pushed: ",
            summary.targets[0].target
        )) && reason.contains("503"),
        "{reason}"
    );
    assert_eq!(summary.targets[0].status, Status::Failed);
}

/// The same judgement before anything builds (a whole-graph engine), and
/// in a dry run, which pulls nothing.
#[tokio::test]
async fn deciding_every_target_first_asks_the_registry_too() {
    let repo = Repo::new();
    let first = Arc::new(Fake::with_images(&["debian:bookworm-slim"]));
    repo.build(&first, &repo.options()).await;
    let (_, published, fresh) = pushed_registry(&first);
    repo.edit_what_runtimes_copy();
    let context = Arc::new(Context::scan(repo.dir.path()).unwrap());
    let all: Vec<&Target> = repo.plan.targets.iter().collect();
    let targets = with_dependencies(&repo.plan, &all);
    let options = BuildOptions {
        skip_pushed: Some(published),
        mode: Mode::DryRun,
        ..repo.options()
    };
    let decisions = decide_all(
        &repo.plan,
        &targets,
        Arc::clone(&fresh) as Arc<dyn Engine>,
        context,
        &options,
        Arc::new(Quiet),
    )
    .await;
    for (target, decision) in targets.iter().zip(&decisions) {
        let runtime = target.release_type == crate::manifest::ReleaseType::Runtime;
        assert_eq!(decision.stale(), runtime, "{decision:?}");
        if !runtime {
            assert_eq!(decision.outcome.status, Status::UpToDateInRegistry);
        }
    }
    assert!(fresh.pulled.lock().unwrap().is_empty());
}
