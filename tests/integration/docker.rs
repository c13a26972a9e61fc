//! Real builds on a Docker daemon (and buildah): `.ci/run` starts the daemon
//! and makes `debian:bookworm-slim` with debootstrap. Each test builds its
//! own package name, so tests can run at once.

use std::process::Command;

use crate::test::Test;

const NEEDS: &str = "needs a Docker daemon with debian:bookworm-slim; .ci/run sets it up";

/// The build fixture with its package renamed to `package`.
fn fixture(package: &str) -> Test {
    let manifest =
        std::fs::read_to_string(crate::test::fixtures().join("build/manifest.yml")).unwrap();
    Test::fixture("build").manifest(&manifest.replace("  app:\n", &format!("  {package}:\n")))
}

fn docker(args: &[&str]) -> String {
    let output = Command::new("docker")
        .args(args)
        .output()
        .expect("docker CLI");
    assert!(
        output.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

/// buildah on the vfs store the tests build into.
fn buildah(args: &[&str]) -> std::process::Output {
    Command::new("buildah")
        .args(["--storage-driver", "vfs"])
        .args(args)
        .output()
        .expect("buildah")
}

/// The labels of a local image.
fn labels_of(image: &str) -> serde_json::Value {
    serde_json::from_str(&docker(&[
        "image",
        "inspect",
        "--format",
        "{{json .Config.Labels}}",
        image,
    ]))
    .unwrap()
}

fn report(test: &Test) -> Vec<(String, String)> {
    let report: serde_json::Value = serde_json::from_str(&test.read("report.json")).unwrap();
    report["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["target"].as_str().unwrap().to_string(),
                t["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn statuses<'a>(report: &'a [(String, String)], status: &str) -> Vec<&'a str> {
    let mut names: Vec<&str> = report
        .iter()
        .filter(|(_, s)| s == status)
        .map(|(n, _)| n.as_str())
        .collect();
    names.sort_unstable();
    names
}

fn cleanup(package: &str) {
    let images = docker(&["images", "--format", "{{.Repository}}:{{.Tag}}", package]);
    for image in images.lines().filter(|l| !l.is_empty()) {
        let _ = Command::new("docker")
            .args(["rmi", "-f", "--no-prune", image])
            .output();
    }
}

const BUILD: [&str; 8] = [
    "build",
    "--network",
    "host",
    "-j",
    "2",
    "--keep-going",
    "--report",
    "report.json",
];

/// Each image of `package` carries its labels and runs the Python of its
/// tag; the runtime images hold what their template wrote.
fn every_image_is_labelled_and_runs_its_python(package: &str) {
    for python in ["3.11", "3.13"] {
        for tag in [
            format!("base-python{python}-bookworm"),
            format!("1.3.0-python{python}-bookworm-runtime"),
            format!("devel-python{python}-bookworm"),
        ] {
            let image = format!("{package}:{tag}");
            let labels = labels_of(&image);
            assert_eq!(labels["org.opencontainers.image.title"], image.as_str());
            assert_eq!(labels["org.opencontainers.image.version"], "1.3.0");
            assert!(
                labels["org.bentoml.docker.inputs"]
                    .as_str()
                    .unwrap()
                    .starts_with("sha256:")
            );
            assert!(labels["org.opencontainers.image.created"].is_string());
            let version = docker(&[
                "run",
                "--rm",
                "--network",
                "none",
                &image,
                "python",
                "--version",
            ]);
            assert!(
                version.starts_with(&format!("Python {python}.")),
                "{image}: {version}"
            );
        }
        let hello = docker(&[
            "run",
            "--rm",
            "--network",
            "none",
            &format!("{package}:1.3.0-python{python}-bookworm-runtime"),
            "cat",
            "/hello.txt",
        ]);
        assert!(
            hello.starts_with(&format!("hello from {python}.")),
            "{hello}"
        );
    }
}

#[test]
#[ignore = "needs a Docker daemon with debian:bookworm-slim; .ci/run sets it up"]
fn docker_builds_in_order_then_is_up_to_date_then_rebuilds_what_changed() {
    let _ = NEEDS;
    let package = "bdtest-incremental";
    cleanup(package);
    // The first build also runs the manifest's tests after each build.
    let mut first = BUILD.to_vec();
    first.push("--test");
    let test = fixture(package).args(&first);
    let output = test.success();
    let tested: serde_json::Value = serde_json::from_str(&test.read("report.json")).unwrap();
    let runs: usize = tested["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["tests"].as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!(runs, 4, "bases and runtime images have a test each");
    let test = test.args(&BUILD);
    assert!(
        output.stdout.contains("6 built with docker"),
        "{}",
        output.stdout
    );

    every_image_is_labelled_and_runs_its_python(package);

    // Nothing changed: everything is up to date.
    let output = test.success();
    assert!(
        output.stdout.contains("6 up to date (local) with docker"),
        "{}",
        output.stdout
    );

    // One template changes: exactly its targets rebuild.
    let template = test.path().join("templates/debian/runtime.Dockerfile.j2");
    let text = std::fs::read_to_string(&template).unwrap();
    std::fs::write(
        &template,
        format!("{text}\nRUN echo changed > /changed.txt\n"),
    )
    .unwrap();
    test.success();
    let report = report(&test);
    assert_eq!(
        statuses(&report, "built"),
        [
            format!("{package}:1.3.0-python3.11-bookworm-runtime"),
            format!("{package}:1.3.0-python3.13-bookworm-runtime")
        ]
    );
    assert_eq!(statuses(&report, "up-to-date").len(), 4);

    // A copied file changes: the images that copy it rebuild.
    std::fs::write(test.path().join("tools/hello.py"), "print('hello again')\n").unwrap();
    test.success();
    assert_eq!(statuses(&report_of(&test), "built").len(), 2);

    // The manifest's tests: bases pass; runtime images now print something
    // else, so their test fails.
    let test = test.args(&["test", "--report", "report.json"]);
    let output = test.failure(1);
    let report = report_of(&test);
    assert_eq!(statuses(&report, "passed").len(), 4, "{report:?}");
    assert_eq!(
        statuses(&report, "failed"),
        [
            format!("{package}:1.3.0-python3.11-bookworm-runtime"),
            format!("{package}:1.3.0-python3.13-bookworm-runtime")
        ]
    );
    assert!(output.stdout.contains("test `grep -q"), "{}", output.stdout);
    cleanup(package);
}

/// A `.dockerignore` that excludes everything but `tools/` excludes the
/// generated Dockerfiles too; the builder still gets the one it builds, as
/// from the Docker CLI.
#[test]
#[ignore = "needs a Docker daemon with debian:bookworm-slim; .ci/run sets it up"]
fn docker_builds_when_dockerignore_excludes_the_dockerfiles() {
    let package = "bdtest-dockerignore";
    cleanup(package);
    let child = "ARG PYTHON_VERSION\nFROM {{ metadata.package }}:{{ build_tag }}\nCOPY tools/hello.py /child.py\n";
    let test = fixture(package)
        .file(".dockerignore", "*\n!tools\n")
        .file(
            "templates/debian/base.Dockerfile.j2",
            "FROM {{ metadata.base_image }}\nCOPY tools/hello.py /hello.py\n",
        )
        .file("templates/debian/runtime.Dockerfile.j2", child)
        .file("templates/debian/devel.Dockerfile.j2", child)
        .args(&BUILD);
    let output = test.success();
    let report = report(&test);
    assert_eq!(statuses(&report, "built").len(), 6, "{}", output.stderr);
    cleanup(package);
}

/// The build fixture with one Python version, one test that hangs
/// (`sleep SECONDS`) and a base template without `RUN`.
fn hanging_test(package: &str, seconds: u32) -> Test {
    let manifest = std::fs::read_to_string(crate::test::fixtures().join("build/manifest.yml"))
        .unwrap()
        .replace("  app:\n", &format!("  {package}:\n"))
        .replace(
            "python_versions: [\"3.11\", \"3.13\"]",
            "python_versions: [\"3.11\"]",
        );
    let start = manifest.find("tests:").unwrap();
    let end = manifest.find("release_spec:").unwrap();
    let manifest = format!(
        "{}tests:\n  base:\n    - exec sleep {seconds}\n\n{}",
        &manifest[..start],
        &manifest[end..]
    );
    Test::fixture("build").manifest(&manifest).file(
        "templates/debian/base.Dockerfile.j2",
        "FROM {{ metadata.base_image }}\nCOPY tools/hello.py /hello.py\n",
    )
}

/// The one target failed because its test ran past the timeout, and its log says so.
fn assert_test_timed_out(test: &Test, image: &str, stderr: &str) {
    let report: serde_json::Value = serde_json::from_str(&test.read("report.json")).unwrap();
    let targets = report["targets"].as_array().unwrap();
    let failed: Vec<&serde_json::Value> =
        targets.iter().filter(|t| t["status"] == "failed").collect();
    assert_eq!(failed.len(), 1, "{stderr}");
    assert_eq!(failed[0]["target"], image, "{stderr}");
    let reason = failed[0]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("timed out after 20s"), "{reason}");
    let log =
        std::fs::read_to_string(test.path().join(failed[0]["log"].as_str().unwrap())).unwrap();
    assert!(log.contains("$ exec sleep"), "the test is logged: {log}");
}

/// Runs `command` to its end, noting whether a `sleep SECONDS` process
/// (the hanging test) ever ran meanwhile.
fn run_seeing_sleep(command: &mut Command, seconds: u32) -> (std::process::Output, bool) {
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut seen = false;
    while !seen && child.try_wait().unwrap().is_none() {
        seen = !sleeping(seconds).is_empty();
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    (child.wait_with_output().unwrap(), seen)
}

/// Processes whose command line is exactly `sleep SECONDS`, on this host
/// (a container's processes included).
fn sleeping(seconds: u32) -> Vec<String> {
    let wanted = format!("sleep\0{seconds}\0");
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(Result::ok)
        .filter(|entry| {
            std::fs::read(entry.path().join("cmdline")).is_ok_and(|c| c == wanted.as_bytes())
        })
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect()
}

/// Builds `package` with a test that hangs in `sleep SECONDS` past a 20 s
/// timeout, with `engine` arguments: the test really ran, was cut off and
/// failed its target.
fn build_hanging(package: &str, seconds: u32, engine: &[&str]) -> String {
    let test = hanging_test(package, seconds);
    let (output, seen) = run_seeing_sleep(
        test.command(&["build"])
            .args(engine)
            .args([
                "--test",
                "-r",
                "base",
                "-t",
                "20",
                "--report",
                "report.json",
            ])
            // buildah's default isolation: the OCI runtime.
            .env_remove("BUILDAH_ISOLATION"),
        seconds,
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(seen, "the test never ran: {stderr}");
    let image = format!("{package}:base-python3.11-bookworm");
    assert_test_timed_out(&test, &image, &stderr);
    assert_eq!(sleeping(seconds), Vec::<String>::new(), "still running");
    image
}

/// A test past its timeout is cut off, and its container does not outlive
/// the run.
#[test]
#[ignore = "needs a Docker daemon with debian:bookworm-slim; .ci/run sets it up"]
fn docker_a_test_past_its_timeout_leaves_no_container_behind() {
    let package = "bdtest-hang";
    cleanup(package);
    let image = build_hanging(package, 601, &["--network", "host"]);
    let containers = docker(&["ps", "-a", "-q", "--filter", &format!("ancestor={image}")]);
    assert!(containers.is_empty(), "left behind: {containers}");
    cleanup(package);
}

/// The same with buildah, in its default (OCI runtime) isolation: the test's
/// process must not outlive buildah either.
#[test]
#[ignore = "needs buildah with debian:bookworm-slim in its vfs store; .ci/run sets it up"]
fn docker_buildah_a_test_past_its_timeout_leaves_nothing_running() {
    let package = "bdtest-buildah-hang";
    let image = build_hanging(
        package,
        602,
        &["--engine", "buildah", "--storage-driver", "vfs"],
    );
    let containers = buildah(&[
        "containers",
        "--format",
        "{{.ContainerName}} {{.ImageName}}",
    ]);
    let containers = String::from_utf8_lossy(&containers.stdout);
    assert!(!containers.contains(package), "left behind: {containers}");
    let _ = buildah(&["rmi", "-f", &image]);
}

/// A buildah build past its timeout is stopped: nothing of it runs on, and
/// its tag is never set.
#[test]
#[ignore = "needs buildah with debian:bookworm-slim in its vfs store; .ci/run sets it up"]
fn docker_buildah_a_build_past_its_timeout_is_stopped() {
    let package = "bdtest-buildah-slow";
    let test = hanging_test(package, 603).file(
        "templates/debian/base.Dockerfile.j2",
        "FROM {{ metadata.base_image }}\nRUN sleep 603\n",
    );
    let (output, seen) = run_seeing_sleep(
        test.command(&["build", "--engine", "buildah", "--storage-driver", "vfs"])
            .args(["-r", "base", "-t", "20", "--report", "report.json"])
            .env("BUILDAH_ISOLATION", "chroot"),
        603,
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(seen, "the build never ran its RUN step: {stderr}");
    let image = format!("{package}:base-python3.11-bookworm");
    assert_eq!(
        statuses(&report(&test), "failed"),
        [image.as_str()],
        "{stderr}"
    );
    assert_eq!(sleeping(603), Vec::<String>::new(), "still running");
    let tagged = buildah(&["inspect", "--type", "image", &image]);
    assert!(!tagged.status.success(), "a build cut off sets no tag");
}

fn report_of(test: &Test) -> Vec<(String, String)> {
    report(test)
}

#[test]
#[ignore = "needs a Docker daemon with debian:bookworm-slim; .ci/run sets it up"]
fn docker_a_failing_run_fails_its_target_and_skips_its_dependents() {
    let package = "bdtest-failure";
    cleanup(package);
    let test = fixture(package)
        .file(
            "templates/debian/base.Dockerfile.j2",
            "FROM {{ metadata.base_image }}\nARG PYTHON_VERSION\nRUN test \"$PYTHON_VERSION\" = 3.11 || (echo \"no python $PYTHON_VERSION here\" && exit 3)\n",
        )
        .file("templates/debian/runtime.Dockerfile.j2", "ARG PYTHON_VERSION\nFROM {{ metadata.package }}:{{ build_tag }}\nCOPY tools/hello.py /hello.py\n")
        .args(&BUILD);
    let output = test.failure(1);
    let report = report(&test);
    assert_eq!(
        statuses(&report, "failed"),
        [format!("{package}:base-python3.13-bookworm")]
    );
    assert_eq!(
        statuses(&report, "skipped"),
        [
            format!("{package}:1.3.0-python3.13-bookworm-runtime"),
            format!("{package}:devel-python3.13-bookworm")
        ]
    );
    assert_eq!(statuses(&report, "built").len(), 3);
    assert!(
        output.stderr.contains("no python 3.13 here"),
        "the log tail is shown: {}",
        output.stderr
    );
    assert!(output.stderr.contains("full log: "), "{}", output.stderr);
    let missing = Command::new("docker")
        .args([
            "image",
            "inspect",
            &format!("{package}:base-python3.13-bookworm"),
        ])
        .output()
        .unwrap();
    assert!(!missing.status.success(), "a failed build leaves no tag");
    cleanup(package);
}

#[test]
#[ignore = "needs buildah with debian:bookworm-slim in its vfs store; .ci/run sets it up"]
fn docker_buildah_engine_builds_the_same_fixture() {
    let package = "bdtest-buildah";
    let test = fixture(package).args(&[
        "build",
        "--engine",
        "buildah",
        "--network",
        "host",
        "-j",
        "2",
        "--report",
        "report.json",
    ]);
    let output = test
        .command(&[
            "build",
            "--engine",
            "buildah",
            "--network",
            "host",
            "-j",
            "2",
            "--report",
            "report.json",
        ])
        .env("STORAGE_DRIVER", "vfs")
        .env("BUILDAH_ISOLATION", "chroot")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("6 built with buildah"), "{stdout}");
    let again = test
        .command(&[
            "build",
            "--engine",
            "buildah",
            "--storage-driver",
            "vfs",
            "--report",
            "report.json",
        ])
        .env("STORAGE_DRIVER", "vfs")
        .env("BUILDAH_ISOLATION", "chroot")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert!(
        stdout.contains("6 up to date (local) with buildah"),
        "{stdout}"
    );
    let run = buildah(&[
        "inspect",
        "--type",
        "image",
        &format!("{package}:devel-python3.13-bookworm"),
    ]);
    let inspect = String::from_utf8_lossy(&run.stdout);
    assert!(inspect.contains("org.bentoml.docker.inputs"), "{inspect}");
    for image in report(&test).iter().map(|(n, _)| n.clone()) {
        let _ = buildah(&["rmi", "-f", &image]);
    }
}

#[test]
#[ignore = "needs a Docker daemon with debian:bookworm-slim; .ci/run sets it up"]
fn docker_ctrl_c_cancels_running_builds_and_tags_nothing() {
    cancels_running_builds("bdtest-interrupt", "-INT");
}

/// SIGTERM (a CI job cancelled) stops a run as Ctrl-C does.
#[test]
#[ignore = "needs a Docker daemon with debian:bookworm-slim; .ci/run sets it up"]
fn docker_sigterm_cancels_running_builds_and_tags_nothing() {
    cancels_running_builds("bdtest-terminate", "-TERM");
}

/// SIGHUP (the terminal or the session gone) too.
#[test]
#[ignore = "needs a Docker daemon with debian:bookworm-slim; .ci/run sets it up"]
fn docker_sighup_cancels_running_builds_and_tags_nothing() {
    cancels_running_builds("bdtest-hangup", "-HUP");
}

/// `signal` sent while two builds run cancels them and tags nothing.
fn cancels_running_builds(package: &str, signal: &str) {
    cleanup(package);
    let test = fixture(package).file(
        "templates/debian/base.Dockerfile.j2",
        "FROM {{ metadata.base_image }}\nARG PYTHON_VERSION\nRUN sleep 60\n",
    );
    let child = test.spawn(&["build", "-j", "2", "--report", "report.json"]);
    // Wait until both base builds run.
    let log_dir = test.path().join(".bentoml-docker/logs");
    let started = std::time::Instant::now();
    while std::fs::read_dir(&log_dir).map_or(0, Iterator::count) < 2 {
        assert!(started.elapsed().as_secs() < 60, "the builds did not start");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    std::thread::sleep(std::time::Duration::from_secs(3));
    let interrupted = std::time::Instant::now();
    Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        interrupted.elapsed().as_secs() < 30,
        "the interruption did not stop the builds"
    );
    assert_eq!(output.status.code(), Some(130));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("4 skipped, 2 cancelled") && stdout.contains("(interrupted)"),
        "{stdout}"
    );
    let images = docker(&["images", "--format", "{{.Repository}}:{{.Tag}}", package]);
    assert_eq!(images, "", "no image is tagged");
    // A cancelled build's log is in place, not left as a partial file.
    let logs: Vec<String> = std::fs::read_dir(&log_dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        logs.len() == 2 && logs.iter().all(|l| l.ends_with(".log")),
        "{logs:?}"
    );
    cleanup(package);
}

/// The build fixture with templates that need no network: quick to build.
fn offline(package: &str) -> Test {
    let child =
        "ARG PYTHON_VERSION\nFROM {{ metadata.package }}:{{ build_tag }}\nRUN echo child > /kind\n";
    fixture(package)
        .file(
            "templates/debian/base.Dockerfile.j2",
            "FROM {{ metadata.base_image }}\nARG PYTHON_VERSION\nENV PYTHON_VERSION=${PYTHON_VERSION}\nRUN echo \"$PYTHON_VERSION\" > /python-version\n",
        )
        .file("templates/debian/runtime.Dockerfile.j2", child)
        .file("templates/debian/devel.Dockerfile.j2", child)
}

/// Each label used to be a `LABEL` step of its own on the classic builder
/// (a container committed per label: seconds each with vfs), and the
/// `created` label changed on every build, so those steps never came from
/// the cache. Now: one step, with what the builder would expand escaped,
/// and with `SOURCE_DATE_EPOCH` a rebuild is the same image.
#[test]
#[ignore = "needs a Docker daemon with debian:bookworm-slim; .ci/run sets it up"]
fn docker_labels_cost_one_step_and_follow_source_date_epoch() {
    let package = "bdtest-labels";
    cleanup(package);
    let test = offline(package)
        .file(".git/HEAD", "ref: refs/heads/main\n")
        .file(
            ".git/config",
            "[remote \"origin\"]\n\turl = \"https://example.com/a$HOME\\\"b\\\\c.git\"\n",
        )
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .args(&["build", "-j", "2", "-pv", "3.11"]);
    let output = test.success();
    assert!(output.stdout.contains("3 built"), "{}", output.stdout);
    let base = format!("{package}:base-python3.11-bookworm");
    let labels = labels_of(&base);
    assert_eq!(
        labels["org.opencontainers.image.created"],
        "2023-11-14T22:13:20Z"
    );
    assert_eq!(
        labels["org.opencontainers.image.source"],
        "https://example.com/a$HOME\"b\\c.git"
    );
    assert_eq!(labels["org.opencontainers.image.title"], base.as_str());
    assert_eq!(labels["org.opencontainers.image.version"], "1.3.0");
    assert_eq!(
        labels["org.opencontainers.image.base.name"],
        "debian:bookworm-slim"
    );
    assert!(
        labels["org.bentoml.docker.inputs"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    let history = docker(&["history", "--no-trunc", "--format", "{{.CreatedBy}}", &base]);
    let steps: Vec<&str> = history.lines().filter(|l| l.contains("LABEL")).collect();
    assert_eq!(steps.len(), 1, "{history}");
    let id = docker(&["image", "inspect", "--format", "{{.Id}}", &base]);

    // Rebuilt from scratch with the same inputs and time: every step, the
    // labels' included, comes from the cache, and the image is the same.
    let test = test.args(&["build", "--overwrite", "-pv", "3.11"]);
    let output = test.success();
    assert!(output.stdout.contains("3 built"), "{}", output.stdout);
    assert_eq!(
        docker(&["image", "inspect", "--format", "{{.Id}}", &base]),
        id
    );

    // A malformed SOURCE_DATE_EPOCH is refused before anything is built.
    let output = test.env("SOURCE_DATE_EPOCH", "yesterday").failure(2);
    assert!(
        output
            .stderr
            .contains("`SOURCE_DATE_EPOCH=yesterday` is not a number"),
        "{}",
        output.stderr
    );
    cleanup(package);
}

/// buildah sets labels in the image config (no step) and, with
/// `SOURCE_DATE_EPOCH`, the image's creation time too.
#[test]
#[ignore = "needs buildah with debian:bookworm-slim in its vfs store; .ci/run sets it up"]
fn docker_buildah_builds_at_source_date_epoch() {
    let package = "bdtest-buildah-epoch";
    for kind in [
        "base-python3.11-bookworm",
        "1.3.0-python3.11-bookworm-runtime",
        "devel-python3.11-bookworm",
    ] {
        let _ = buildah(&["rmi", "-f", &format!("{package}:{kind}")]);
    }
    let test = offline(package)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .env("STORAGE_DRIVER", "vfs")
        .env("BUILDAH_ISOLATION", "chroot")
        .args(&[
            "build",
            "--engine",
            "buildah",
            "-pv",
            "3.11",
            "--report",
            "report.json",
        ]);
    let output = test.success();
    assert!(
        output.stdout.contains("3 built with buildah"),
        "{}",
        output.stdout
    );
    let base = format!("{package}:base-python3.11-bookworm");
    let run = buildah(&["inspect", "--type", "image", &base]);
    let inspect: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    let config = &inspect["OCIv1"];
    assert_eq!(config["created"], "2023-11-14T22:13:20Z", "{config}");
    assert_eq!(
        config["config"]["Labels"]["org.opencontainers.image.created"],
        "2023-11-14T22:13:20Z"
    );
    assert!(
        config["config"]["Labels"]["org.bentoml.docker.inputs"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    for image in report(&test).iter().map(|(n, _)| n.clone()) {
        let _ = buildah(&["rmi", "-f", &image]);
    }
}

/// A Dockerfile whose last line is a continuation would take the labels'
/// line as part of its last instruction: the builder's labels then, and
/// every label still arrives.
#[test]
#[ignore = "needs a Docker daemon with debian:bookworm-slim; .ci/run sets it up"]
fn docker_a_dockerfile_ending_in_a_continuation_still_gets_every_label() {
    let package = "bdtest-continued";
    cleanup(package);
    let test = offline(package)
        .file(
            "templates/debian/base.Dockerfile.j2",
            "FROM {{ metadata.base_image }}\nARG PYTHON_VERSION\nRUN echo \"$PYTHON_VERSION\" > /python-version \\\n",
        )
        .args(&[
            "build",
            "--target",
            &format!("{package}:base-python3.11-bookworm"),
        ]);
    let output = test.success();
    assert!(output.stdout.contains("1 built"), "{}", output.stdout);
    let base = format!("{package}:base-python3.11-bookworm");
    let labels = labels_of(&base);
    assert_eq!(labels["org.opencontainers.image.title"], base.as_str());
    assert!(
        labels["org.bentoml.docker.inputs"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    assert_eq!(
        docker(&[
            "run",
            "--rm",
            "--network",
            "none",
            &base,
            "cat",
            "/python-version"
        ]),
        "3.11"
    );
    cleanup(package);
}

/// `export bake` writes the plan beside `generated/` as a bake file: one
/// target per plan target, each dependent wired to its base's target
/// through `contexts` (its FROM reference, exactly), labelled with the
/// inputs hash `build` decides; `-o -` puts the file alone on standard
/// output.
#[test]
#[ignore = "needs a Docker daemon with debian:bookworm-slim; .ci/run sets it up"]
fn docker_export_bake_writes_every_target_with_the_inputs_hash_build_decides() {
    let test = fixture("exportbake");
    let run = |args: &[&str]| {
        let output = test.command(args).output().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    let said = run(&["export", "bake"]);
    assert!(said.contains("wrote 6 bake targets"), "{said}");
    let bake: serde_json::Value = serde_json::from_str(&test.read("docker-bake.json")).unwrap();
    let targets = bake["target"].as_object().unwrap();
    assert_eq!(targets.len(), 6);
    run(&["build", "--dry-run", "--report", "dry.json"]);
    let dry: serde_json::Value = serde_json::from_str(&test.read("dry.json")).unwrap();
    for outcome in dry["targets"].as_array().unwrap() {
        let name = outcome["target"].as_str().unwrap();
        let target = targets
            .values()
            .find(|t| t["labels"]["org.opencontainers.image.title"] == name)
            .unwrap_or_else(|| panic!("{name} is not in the bake file"));
        assert_eq!(
            target["labels"]["org.bentoml.docker.inputs"], outcome["inputs"],
            "{name}"
        );
        assert_eq!(target["tags"][0], name);
        let from = &target["labels"]["org.opencontainers.image.base.name"];
        let base = targets
            .iter()
            .find(|(_, t)| t["labels"]["org.opencontainers.image.title"] == *from);
        match base {
            Some((base_name, _)) => assert_eq!(
                target["contexts"][from.as_str().unwrap()],
                format!("target:{base_name}"),
                "{name}"
            ),
            None => assert!(target.get("contexts").is_none(), "{name}"),
        }
    }
    let printed = run(&["export", "bake", "-o", "-"]);
    let printed: serde_json::Value = serde_json::from_str(&printed).unwrap();
    assert_eq!(printed["target"].as_object().unwrap().len(), 6);
}
