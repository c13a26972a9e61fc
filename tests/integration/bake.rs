//! Real builds on BuildKit through `docker buildx bake`: `.ci/setup-buildkit`
//! (run by `.ci/test`) starts a dockerd 26 with buildx beside the default
//! daemon and writes how to reach it to an environment file, read here.
//! Each test names its images after its process and itself, and removes
//! them, so tests can run at once and leave nothing behind.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::test::Test;

/// Where `.ci/setup-buildkit` writes the environment; `BUILDKIT_ENV_FILE`
/// names another.
const ENV_FILE: &str = "/var/lib/bentoml-docker-ci/buildkit/env";

/// The BuildKit daemon of `.ci/setup-buildkit` and the docker CLI (with
/// buildx) that talks to it.
pub struct Buildkit {
    cli: PathBuf,
    host: String,
    config: PathBuf,
}

impl Buildkit {
    /// From the environment file: `KEY=VALUE` lines, `#` comments.
    pub fn from_setup() -> Self {
        let file = std::env::var("BUILDKIT_ENV_FILE").unwrap_or_else(|_| ENV_FILE.into());
        let text = std::fs::read_to_string(&file).unwrap_or_else(|e| {
            panic!("no BuildKit ({file}: {e}): run .ci/setup-buildkit (.ci/test does)")
        });
        let vars: BTreeMap<&str, &str> = text
            .lines()
            .filter(|line| !line.trim_start().starts_with('#'))
            .filter_map(|line| line.split_once('='))
            .collect();
        let var = |name: &str| {
            (*vars
                .get(name)
                .unwrap_or_else(|| panic!("{file} has no {name}")))
            .to_string()
        };
        Self {
            cli: var("BUILDKIT_DOCKER").into(),
            host: var("BUILDKIT_DOCKER_HOST"),
            config: var("BUILDKIT_DOCKER_CONFIG").into(),
        }
    }

    /// The variables that point `docker` (and so our binary) at this
    /// daemon: its socket, its `DOCKER_CONFIG` with the buildx plugin, and
    /// its docker CLI first on `PATH`. For [`Test::env`] too.
    pub fn vars(&self) -> Vec<(&'static str, String)> {
        let bin = self.cli.parent().unwrap();
        let path = std::env::var_os("PATH").unwrap_or_default();
        let path = std::env::join_paths(
            std::iter::once(bin.to_path_buf()).chain(std::env::split_paths(&path)),
        )
        .unwrap();
        vec![
            ("DOCKER_HOST", self.host.clone()),
            ("DOCKER_CONFIG", self.config.display().to_string()),
            ("PATH", path.into_string().unwrap()),
        ]
    }

    /// `docker ARGS` on this daemon (no `DOCKER_CONTEXT` of the caller's).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.cli);
        command
            .args(args)
            .envs(self.vars())
            .env_remove("DOCKER_CONTEXT");
        command
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args)
            .output()
            .expect("the docker CLI of .ci/setup-buildkit")
    }

    /// `docker ARGS`, which must succeed: its standard output.
    #[track_caller]
    pub fn docker(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(
            output.status.success(),
            "docker {args:?}:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    /// `docker buildx bake -f FILE ARGS` in `dir` with plain progress.
    pub fn bake(&self, dir: &Path, file: &str, args: &[&str]) -> Output {
        let mut command = self.command(&["buildx", "bake", "--progress", "plain", "-f", file]);
        command.args(args).current_dir(dir);
        command.output().expect("docker buildx bake")
    }

    pub fn image_exists(&self, image: &str) -> bool {
        self.run(&["image", "inspect", image]).status.success()
    }
}

/// Removes the images it names when dropped, the test passed or not.
struct Images<'a> {
    buildkit: &'a Buildkit,
    names: Vec<String>,
}

impl Drop for Images<'_> {
    fn drop(&mut self) {
        for name in &self.names {
            let _ = self.buildkit.run(&["rmi", "-f", name]);
        }
    }
}

/// A name for an image of this test, unique among the tests running now.
fn image_name(test: &str, target: &str) -> String {
    format!(
        "bentoml-docker-test-{test}-{}/{target}:1",
        std::process::id()
    )
}

#[test]
#[ignore = "needs BuildKit; .ci/test sets it up"]
fn bake_builds_a_dependent_from_its_base_target_with_no_registry() {
    let buildkit = Buildkit::from_setup();
    let base = image_name("bake-graph", "base");
    let app = image_name("bake-graph", "app");
    let images = Images {
        buildkit: &buildkit,
        names: vec![base.clone(), app.clone()],
    };
    // `app` starts FROM `base`'s tag, which no daemon or registry has: only
    // the `contexts` entry can give it, so BuildKit must build `base` first.
    let bakefile = serde_json::json!({
        "group": {"default": {"targets": ["base", "app"]}},
        "target": {
            "base": {
                "context": ".",
                "dockerfile": "base.Dockerfile",
                "tags": [base],
            },
            "app": {
                "context": ".",
                "dockerfile": "app.Dockerfile",
                "tags": [app],
                "contexts": {(base.as_str()): "target:base"},
            },
        },
    });
    let repo = Test::new()
        .file(
            "base.Dockerfile",
            "FROM debian:bookworm-slim\nRUN echo base > /base.txt\n",
        )
        .file(
            "app.Dockerfile",
            &format!("FROM {base}\nRUN test \"$(cat /base.txt)\" = base && echo app > /app.txt\n"),
        )
        .file("docker-bake.json", &bakefile.to_string());

    let print = buildkit.bake(repo.path(), "docker-bake.json", &["--print"]);
    assert!(
        print.status.success(),
        "{}",
        String::from_utf8_lossy(&print.stderr)
    );
    let printed: serde_json::Value = serde_json::from_slice(&print.stdout).unwrap();
    assert_eq!(printed["target"]["base"]["tags"][0], base.as_str());
    assert_eq!(printed["target"]["app"]["contexts"][&base], "target:base");

    let build = buildkit.bake(repo.path(), "docker-bake.json", &[]);
    let log = String::from_utf8_lossy(&build.stderr);
    assert!(build.status.success(), "{log}");
    for image in &images.names {
        assert!(
            buildkit.image_exists(image),
            "{image} missing after:\n{log}"
        );
    }
    let files = buildkit.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        &app,
        "cat",
        "/base.txt",
        "/app.txt",
    ]);
    assert_eq!(files, "base\napp\n");
}

/// The file `export bake` writes is one bake reads: `--print` accepts it
/// and shows every target, each dependent with its base's `target:`
/// context.
#[test]
#[ignore = "needs BuildKit and a Docker daemon; .ci/test sets them up"]
fn bake_accepts_the_exported_file_and_shows_every_target() {
    let buildkit = Buildkit::from_setup();
    let test = Test::fixture("build");
    let exported = test.command(&["export", "bake"]).output().unwrap();
    assert!(
        exported.status.success(),
        "{}",
        String::from_utf8_lossy(&exported.stderr)
    );
    let printed = buildkit
        .command(&["buildx", "bake", "-f", "docker-bake.json", "--print"])
        .current_dir(test.path())
        .output()
        .unwrap();
    assert!(
        printed.status.success(),
        "{}",
        String::from_utf8_lossy(&printed.stderr)
    );
    let shown: serde_json::Value = serde_json::from_slice(&printed.stdout).unwrap();
    let written: serde_json::Value = serde_json::from_str(&test.read("docker-bake.json")).unwrap();
    let written = written["target"].as_object().unwrap();
    assert_eq!(written.len(), 6);
    for (name, target) in written {
        let shown = &shown["target"][name];
        assert_eq!(shown["tags"], target["tags"], "{name}");
        assert_eq!(shown["contexts"], target["contexts"], "{name}");
    }
}
