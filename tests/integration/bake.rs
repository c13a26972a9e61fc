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

/// The variables a `.ci/setup-*` script wrote to its environment file
/// (`KEY=VALUE` lines, `#` comments): `file`, or the file `override_var`
/// names. The getter panics, naming the file and the script, on a missing
/// file or variable.
pub(crate) fn setup_env(override_var: &str, file: &str, script: &str) -> impl Fn(&str) -> String {
    let file = std::env::var(override_var).unwrap_or_else(|_| file.into());
    let text = std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("{file}: {e}: run {script} (.ci/test does)"));
    let vars: BTreeMap<String, String> = text
        .lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .filter_map(|line| line.split_once('='))
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect();
    move |name: &str| {
        vars.get(name)
            .unwrap_or_else(|| panic!("{file} has no {name}: run {script}"))
            .clone()
    }
}

/// The BuildKit daemon of `.ci/setup-buildkit` and the docker CLI (with
/// buildx) that talks to it.
pub struct Buildkit {
    cli: PathBuf,
    host: String,
    config: PathBuf,
}

impl Buildkit {
    /// From the environment file.
    pub fn from_setup() -> Self {
        let var = setup_env("BUILDKIT_ENV_FILE", ENV_FILE, ".ci/setup-buildkit");
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
pub(crate) struct Images<'a> {
    pub(crate) buildkit: &'a Buildkit,
    pub(crate) names: Vec<String>,
}

impl Drop for Images<'_> {
    fn drop(&mut self) {
        for name in &self.names {
            let _ = self.buildkit.run(&["rmi", "-f", name]);
        }
    }
}

/// A name for an image of this test, unique among the tests running now.
pub(crate) fn image_name(test: &str, target: &str) -> String {
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

/// Removes every image of a package when dropped, the test passed or not.
struct Package<'a> {
    buildkit: &'a Buildkit,
    name: String,
}

impl Package<'_> {
    fn images(&self) -> Vec<String> {
        self.buildkit
            .docker(&["images", "--format", "{{.Repository}}:{{.Tag}}", &self.name])
            .lines()
            .map(String::from)
            .collect()
    }
}

impl Drop for Package<'_> {
    fn drop(&mut self) {
        for image in self.images() {
            let _ = self.buildkit.run(&["rmi", "-f", &image]);
        }
    }
}

/// The benchmark fixture (no network needed: RUN steps on BuildKit have
/// none) as a package of this test's own, run against BuildKit, with
/// `templates` (base, runtime, devel) in place of its own.
fn baked<'a>(buildkit: &'a Buildkit, test: &str, templates: [&str; 3]) -> (Test, Package<'a>) {
    let package = format!("bdbake-{test}-{}", std::process::id());
    let manifest =
        std::fs::read_to_string(crate::test::fixtures().join("bench-build/manifest.yml")).unwrap();
    let mut repo = Test::fixture("bench-build")
        .manifest(&manifest.replace("  bdbench:\n", &format!("  {package}:\n")))
        .file("templates/debian/base.Dockerfile.j2", templates[0])
        .file("templates/debian/runtime.Dockerfile.j2", templates[1])
        .file("templates/debian/devel.Dockerfile.j2", templates[2]);
    for (name, value) in buildkit.vars() {
        repo = repo.env(name, &value);
    }
    (
        repo,
        Package {
            buildkit,
            name: package,
        },
    )
}

/// A dependent's first step says when it started and ended; the base's
/// last says when it was done.
const TIMED: [&str; 3] = [
    "FROM {{ metadata.base_image }}\nARG PYTHON_VERSION\nRUN echo \"$PYTHON_VERSION\" > /python-version && sleep 2 && date +%s.%N > /base-done\n",
    "ARG PYTHON_VERSION\nFROM {{ metadata.package }}:{{ build_tag }}\nRUN date +%s.%N > /own-start && sleep 3 && date +%s.%N > /own-end\nRUN echo runtime > /kind\n",
    "ARG PYTHON_VERSION\nFROM {{ metadata.package }}:{{ build_tag }}\nRUN date +%s.%N > /own-start && sleep 3 && date +%s.%N > /own-end\nRUN echo devel > /kind\n",
];

/// The report's targets: name -> (status, the whole entry).
fn report_of(test: &Test) -> BTreeMap<String, serde_json::Value> {
    let report: serde_json::Value = serde_json::from_str(&test.read("report.json")).unwrap();
    report["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["target"].as_str().unwrap().to_string(), t.clone()))
        .collect()
}

fn with_status<'a>(report: &'a BTreeMap<String, serde_json::Value>, status: &str) -> Vec<&'a str> {
    report
        .iter()
        .filter(|(_, t)| t["status"] == status)
        .map(|(name, _)| name.as_str())
        .collect()
}

/// Seconds since the epoch, as `date +%s.%N` wrote them into `image`.
fn times(buildkit: &Buildkit, image: &str, files: &[&str]) -> Vec<f64> {
    let mut args = vec!["run", "--rm", "--network", "none", image, "cat"];
    args.extend(files);
    buildkit
        .docker(&args)
        .lines()
        .map(|line| line.trim().parse().unwrap())
        .collect()
}

#[test]
#[ignore = "needs BuildKit; .ci/test sets it up"]
fn bake_engine_builds_bases_first_dependents_together_and_only_what_changed() {
    let buildkit = Buildkit::from_setup();
    let (test, package) = baked(&buildkit, "order", TIMED);
    let build = ["build", "--engine", "bake", "--report", "report.json"];
    let output = test.command(&build).output().unwrap();
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = report_of(&test);
    assert_eq!(with_status(&report, "built").len(), 6, "{said}");
    for (name, target) in &report {
        assert!(buildkit.image_exists(name), "{name} missing:\n{said}");
        let digest = target["digest"].as_str().unwrap_or_default();
        assert!(digest.starts_with("sha256:"), "{name}: {target}");
        assert!(target["log"].as_str().is_some(), "{name}: {target}");
    }
    assert!(said.contains("6 built with bake"), "{said}");

    for python in ["3.7", "3.8"] {
        let name = |kind: &str| {
            if kind == "runtime" {
                format!("{}:1.0.0-python{python}-bookworm-runtime", package.name)
            } else {
                format!("{}:{kind}-python{python}-bookworm", package.name)
            }
        };
        let files = ["/base-done", "/own-start", "/own-end"];
        let runtime = times(&buildkit, &name("runtime"), &files);
        let devel = times(&buildkit, &name("devel"), &files);
        assert!(
            runtime[1] >= runtime[0] && devel[1] >= devel[0],
            "a dependent started before its base was done: {runtime:?} {devel:?}"
        );
        assert!(
            runtime[1].max(devel[1]) < runtime[2].min(devel[2]),
            "the dependents of one base did not run together: {runtime:?} {devel:?}"
        );
    }

    // Nothing changed: nothing to build.
    let rerun = test.command(&build).output().unwrap();
    assert!(rerun.status.success());
    assert_eq!(with_status(&report_of(&test), "up-to-date").len(), 6);

    // A devel template edited: exactly the devel images are rebuilt.
    let devel = TIMED[2].replace("echo devel", "echo devel, edited");
    std::fs::write(
        test.path().join("templates/debian/devel.Dockerfile.j2"),
        devel,
    )
    .unwrap();
    let edited = test.command(&build).output().unwrap();
    assert!(edited.status.success());
    let report = report_of(&test);
    assert_eq!(
        with_status(&report, "built"),
        [
            format!("{}:devel-python3.7-bookworm", package.name),
            format!("{}:devel-python3.8-bookworm", package.name)
        ]
    );
    assert_eq!(with_status(&report, "up-to-date").len(), 4);
}

#[test]
#[ignore = "needs BuildKit; .ci/test sets it up"]
fn bake_engine_fails_a_failed_run_and_skips_its_dependents() {
    let buildkit = Buildkit::from_setup();
    let base = "FROM {{ metadata.base_image }}\nARG PYTHON_VERSION\nRUN if [ \"$PYTHON_VERSION\" = 3.8 ]; then echo 'no 3.8 here' >&2; exit 7; fi\n";
    let (test, package) = baked(&buildkit, "fails", [base, TIMED[1], TIMED[2]]);
    let output = test
        .command(&["build", "--engine", "bake", "--report", "report.json"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{said}");
    let report = report_of(&test);
    let base = format!("{}:base-python3.8-bookworm", package.name);
    assert_eq!(with_status(&report, "failed"), [base.as_str()], "{said}");
    let failed = &report[&base];
    let tail = failed["log_tail"].to_string();
    assert!(tail.contains("no 3.8 here"), "{failed}");
    for dependent in [
        format!("{}:1.0.0-python3.8-bookworm-runtime", package.name),
        format!("{}:devel-python3.8-bookworm", package.name),
    ] {
        assert_eq!(report[&dependent]["status"], "skipped", "{said}");
        let reason = report[&dependent]["reason"].as_str().unwrap();
        assert!(
            reason.contains(&base) && reason.contains("failed"),
            "{reason}"
        );
        assert!(!buildkit.image_exists(&dependent));
    }
    // The other chain was built, or stopped with the run: never failed.
    for (name, target) in &report {
        if name.contains("3.7") {
            assert!(
                target["status"] == "built" || target["status"] == "skipped",
                "{target}"
            );
        }
    }
    assert!(
        said.contains("no 3.8 here"),
        "the failure's log lines are shown:\n{said}"
    );
}

#[test]
#[ignore = "needs BuildKit; .ci/test sets it up"]
fn bake_engine_ctrl_c_stops_bake_and_every_build_it_started() {
    let buildkit = Buildkit::from_setup();
    let sleep = format!("sleep {}", 600 + std::process::id() % 300);
    let base = format!("FROM {{{{ metadata.base_image }}}}\nARG PYTHON_VERSION\nRUN {sleep}\n");
    let (test, _package) = baked(&buildkit, "interrupt", [&base, TIMED[1], TIMED[2]]);
    // Bake's files go under a directory of this test's own.
    let tmp = tempfile::tempdir().unwrap();
    let test = test.env("TMPDIR", tmp.path().to_str().unwrap());
    let child = test.spawn(&["build", "--engine", "bake", "--report", "report.json"]);
    let running = |pattern: &str| {
        Command::new("pgrep")
            .args(["-f", pattern])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let started = std::time::Instant::now();
    while !running(&sleep) {
        assert!(
            started.elapsed().as_secs() < 120,
            "the builds did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(
        running(tmp.path().to_str().unwrap()),
        "bake runs from its temporary directory"
    );
    let interrupted = std::time::Instant::now();
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        interrupted.elapsed().as_secs() < 30,
        "Ctrl-C did not stop bake"
    );
    assert_eq!(output.status.code(), Some(130));
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(said.contains("(interrupted)"), "{said}");
    let stopped = std::time::Instant::now();
    while running(&sleep) || running(tmp.path().to_str().unwrap()) {
        assert!(
            stopped.elapsed().as_secs() < 20,
            "a bake process or one of its builds outlived the run"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().flatten().collect();
    assert!(left.is_empty(), "temporary files left: {left:?}");
    let report = report_of(&test);
    assert_eq!(with_status(&report, "cancelled").len(), 6, "{said}");
}

#[test]
#[ignore = "needs BuildKit; .ci/test sets it up"]
fn bake_engine_dry_run_shows_the_bake_file_and_builds_nothing() {
    let buildkit = Buildkit::from_setup();
    let (test, package) = baked(&buildkit, "dry", TIMED);
    let generated = test.command(&["generate"]).output().unwrap();
    assert!(generated.status.success());
    let output = test
        .command(&["build", "--engine", "bake", "--dry-run"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{said}");
    let json = said
        .split_once("the bake file this build would run:\n")
        .map_or_else(|| panic!("no bake file in:\n{said}"), |(_, rest)| rest);
    let end = json.find("\n}\n").unwrap() + 3;
    let file: serde_json::Value = serde_json::from_str(&json[..end]).unwrap();
    assert_eq!(file["target"].as_object().unwrap().len(), 6);
    assert!(said.contains("6 would build with bake"), "{said}");
    assert!(package.images().is_empty());
}

#[test]
#[ignore = "needs BuildKit; .ci/test sets it up"]
fn bake_engine_names_a_missing_builder() {
    let buildkit = Buildkit::from_setup();
    let (test, _package) = baked(&buildkit, "builder", TIMED);
    let output = test
        .command(&["build", "--engine", "bake", "--builder", "no-such-builder"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    // As drawn: wrapped, continuation lines marked.
    let stderr: Vec<String> = String::from_utf8_lossy(&output.stderr)
        .split_whitespace()
        .filter(|word| *word != "│")
        .map(String::from)
        .collect();
    let stderr = stderr.join(" ");
    assert!(
        stderr.contains("no buildx builder `no-such-builder`")
            && stderr.contains("docker buildx ls"),
        "{stderr}"
    );
}

/// Where the docker CLI has no buildx plugin (Debian 12's docker.io), the
/// bake engine says what to install.
#[test]
#[ignore = "needs a Docker daemon; .ci/test sets it up"]
fn bake_engine_without_buildx_says_what_to_install() {
    let config = tempfile::tempdir().unwrap();
    let test = Test::fixture("bench-build").env("DOCKER_CONFIG", config.path().to_str().unwrap());
    let output = test
        .command(&["build", "--engine", "bake", "--dry-run"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("`docker buildx` does not run") && stderr.contains("docker-buildx"),
        "{stderr}"
    );
}

/// `build --push` with bake: BuildKit pushes every image to the htpasswd
/// registry as it builds; each tag is then verified by digest over the
/// registry's API, and the password is in no output, report, log or file
/// left behind.
#[test]
#[ignore = "needs BuildKit and docker-registry; .ci/test sets them up"]
fn bake_engine_pushes_from_the_builder_verified_by_digest_and_the_password_never_leaks() {
    use crate::registry;
    let buildkit = Buildkit::from_setup();
    let package = format!("bdbake-push-{}", std::process::id());
    let password = "Bake-pa55-never-leaks";
    let server = registry::registry(password);
    let host = format!("127.0.0.1:{}", server.port);
    let tmp = tempfile::tempdir().unwrap();
    let mut test = registry::fixture(&package, &[(host.clone(), "BK")])
        .env("TMPDIR", tmp.path().to_str().unwrap());
    for (name, value) in buildkit.vars() {
        test = test.env(name, &value);
    }
    let _package = Package {
        buildkit: &buildkit,
        name: package.clone(),
    };
    let env = [("BK_USER", registry::USER), ("BK_PASSWORD", password)];
    let (code, stdout, stderr) = registry::run(
        &test,
        &[
            "build",
            "--engine",
            "bake",
            "--push",
            "--report",
            "report.json",
        ],
        &env,
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    let report: serde_json::Value = serde_json::from_str(&test.read("report.json")).unwrap();
    let built: BTreeMap<&str, &str> = report["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            assert_eq!(t["status"], "built", "{t}");
            (t["target"].as_str().unwrap(), t["digest"].as_str().unwrap())
        })
        .collect();
    let pushes = report["push"]["targets"].as_array().unwrap();
    assert_eq!(pushes.len(), 3, "{report}");
    let repository = format!("bdtest/{package}");
    for push in pushes {
        assert_eq!(push["status"], "pushed", "{push}");
        let tag = push["reference"]
            .as_str()
            .unwrap()
            .rsplit_once(':')
            .unwrap()
            .1;
        let served = registry::digest(server.port, password, &repository, tag);
        assert_eq!(push["digest"].as_str().unwrap(), served, "{push}");
        // What BuildKit built is what the registry serves.
        assert_eq!(built[push["target"].as_str().unwrap()], served, "{push}");
        // The local name is there too, for tests and dependents.
        assert!(buildkit.image_exists(push["target"].as_str().unwrap()));
    }
    // A fresh runner: no local image; the registry says every target is
    // current, so bake builds nothing and nothing is pushed again.
    for target in built.keys() {
        let _ = buildkit.run(&["rmi", "-f", target]);
    }
    let (code, again, again_err) = registry::run(
        &test,
        &[
            "build",
            "--engine",
            "bake",
            "--skip-pushed",
            "--push",
            "--report",
            "again.json",
        ],
        &env,
    );
    assert_eq!(code, 0, "{again}{again_err}");
    let report: serde_json::Value = serde_json::from_str(&test.read("again.json")).unwrap();
    for target in report["targets"].as_array().unwrap() {
        assert_eq!(target["status"], "up-to-date-in-registry", "{target}");
    }
    assert!(
        report["push"]["targets"].as_array().unwrap().is_empty(),
        "{report}"
    );
    assert!(!again.contains(password) && !again_err.contains(password));
    assert!(!stdout.contains(password) && !stderr.contains(password));
    registry::no_file_holds(test.path(), password);
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().flatten().collect();
    assert!(left.is_empty(), "temporary files left: {left:?}");
}
