//! `build --skip-pushed` against a real registry (`docker-registry` with
//! htpasswd on 127.0.0.1, as in `registry`): a fresh runner, which holds
//! no image of the plan, builds nothing the registry holds with the same
//! inputs, and pulls only the bases of what it must build.

use std::process::Command;

use crate::registry::{USER, cleanup, fixture, registry, run};
use crate::test::Test;

/// Each target of a build report with its status, in report order.
fn statuses(test: &Test) -> Vec<(String, String)> {
    let report: serde_json::Value = serde_json::from_str(&test.read("build.json")).unwrap();
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

/// The Docker daemon's tagged images whose name holds `package`.
fn local_images(package: &str) -> Vec<String> {
    let output = Command::new("docker")
        .args(["images", "--format", "{{.Repository}}:{{.Tag}}"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|l| l.contains(package) && !l.ends_with(":<none>"))
        .map(String::from)
        .collect()
}

/// The fixture's devel template, changed.
const EDITED_DEVEL: &str = "ARG PYTHON_VERSION\nFROM {{ metadata.package }}:{{ build_tag }}\nRUN echo edited > /devel.txt\n";

#[test]
#[ignore = "needs a Docker daemon and docker-registry; .ci/run sets them up"]
fn registry_skip_pushed_on_a_fresh_runner_builds_nothing_then_only_the_edited_devel_images() {
    let package = "bdtest-skip";
    let password = "skip-Pushed-pa55";
    cleanup(package);
    let server = registry(password);
    let host = format!("127.0.0.1:{}", server.port);
    let test = fixture(package, &[(host.clone(), "REG")]);
    let env = [("REG_USER", USER), ("REG_PASSWORD", password)];
    let (code, stdout, stderr) = run(&test, &["build"], &env);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let (code, stdout, stderr) = run(&test, &["push"], &env);
    assert_eq!(code, 0, "{stdout}{stderr}");
    // A fresh runner: no image of the fixture anywhere in the daemon.
    cleanup(package);
    assert_eq!(local_images(package), Vec::<String>::new());
    let build = ["build", "--skip-pushed", "--report", "build.json"];
    let (code, stdout, stderr) = run(&test, &build, &env);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("3 up to date (registry) with docker"),
        "{stdout}"
    );
    let found = statuses(&test);
    assert_eq!(found.len(), 3);
    assert!(
        found.iter().all(|(_, s)| s == "up-to-date-in-registry"),
        "{found:?}"
    );
    assert_eq!(
        local_images(package),
        Vec::<String>::new(),
        "nothing pulled"
    );
    // One devel template edited: exactly the devel images rebuild, FROM
    // their bases pulled from the registry, not rebuilt.
    let test = test.file("templates/debian/devel.Dockerfile.j2", EDITED_DEVEL);
    let (code, stdout, stderr) = run(&test, &build, &env);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let devel = format!("{package}:devel-python3.11-bookworm");
    let base = format!("{package}:base-python3.11-bookworm");
    for (target, status) in statuses(&test) {
        let expected = if target == devel {
            "built"
        } else {
            "up-to-date-in-registry"
        };
        assert_eq!(status, expected, "{target}: {stdout}");
    }
    let mut images = local_images(package);
    images.sort();
    let mut expected = vec![base.clone(), devel.clone(), format!("{host}/bdtest/{base}")];
    expected.sort();
    assert_eq!(images, expected, "the base pulled, the runtime not");
    // That runner is now up to date here for the devel image.
    let (code, stdout, stderr) = run(&test, &build, &env);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("2 up to date (local), 1 up to date (registry)"),
        "{stdout}"
    );
    let everything = format!("{stdout}{stderr}{}", test.read("build.json"));
    assert!(!everything.contains(password));
    cleanup(package);
}

/// buildah, which takes credentials only from a file: the base is pulled
/// with a private auth file of the pull's own, over plain HTTP from a
/// loopback registry, and named as the devel image's FROM names it.
#[test]
#[ignore = "needs a Docker daemon, buildah and docker-registry; .ci/run sets them up"]
fn registry_skip_pushed_with_buildah_pulls_the_base_of_the_edited_devel_image() {
    let package = "bdtest-bahskip";
    let password = "skip-Buildah-pa55";
    cleanup(package);
    let server = registry(password);
    let host = format!("127.0.0.1:{}", server.port);
    let test = fixture(package, &[(host.clone(), "REG")]);
    let env = [
        ("REG_USER", USER),
        ("REG_PASSWORD", password),
        ("STORAGE_DRIVER", "vfs"),
        ("BUILDAH_ISOLATION", "chroot"),
    ];
    let (code, stdout, stderr) = run(&test, &["build"], &env);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let (code, stdout, stderr) = run(&test, &["push"], &env);
    assert_eq!(code, 0, "{stdout}{stderr}");
    cleanup(package);
    let build = [
        "build",
        "--engine",
        "buildah",
        "--skip-pushed",
        "--report",
        "build.json",
    ];
    let (code, stdout, stderr) = run(&test, &build, &env);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("3 up to date (registry) with buildah"),
        "{stdout}"
    );
    let test = test.file("templates/debian/devel.Dockerfile.j2", EDITED_DEVEL);
    let (code, stdout, stderr) = run(&test, &build, &env);
    let buildah = |args: &[&str]| {
        Command::new("buildah")
            .args(["--storage-driver", "vfs"])
            .args(args)
            .output()
            .unwrap()
    };
    let base = format!("{package}:base-python3.11-bookworm");
    let devel = format!("{package}:devel-python3.11-bookworm");
    let found = statuses(&test);
    for image in [&base, &devel, &format!("{host}/bdtest/{base}")] {
        let _ = buildah(&["rmi", "-f", image]);
    }
    assert_eq!(code, 0, "{stdout}{stderr}");
    for (target, status) in found {
        let expected = if target == devel {
            "built"
        } else {
            "up-to-date-in-registry"
        };
        assert_eq!(status, expected, "{target}: {stdout}");
    }
    assert!(!format!("{stdout}{stderr}").contains(password));
    cleanup(package);
}

/// Each row of a `status` report as (target, state, reason).
fn status_rows(test: &Test) -> Vec<(String, String, String)> {
    let report: serde_json::Value = serde_json::from_str(&test.read("status.json")).unwrap();
    report
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["target"].as_str().unwrap().to_string(),
                r["state"].as_str().unwrap().to_string(),
                r["reason"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// `status` on what a real registry holds: an edited template makes its
/// image stale as "inputs changed"; a base rebuilt and pushed alone (the
/// same inputs, a new image) makes its dependents stale as "its base image
/// moved", the base itself current.
#[test]
#[ignore = "needs a Docker daemon and docker-registry; .ci/run sets them up"]
fn registry_status_says_a_tag_is_stale_because_inputs_changed_or_its_base_image_moved() {
    let package = "bdtest-why";
    let password = "status-Why-pa55";
    cleanup(package);
    let server = registry(password);
    let test = fixture(package, &[(format!("127.0.0.1:{}", server.port), "REG")]);
    let env = [("REG_USER", USER), ("REG_PASSWORD", password)];
    for step in [&["build"][..], &["push"]] {
        let (code, stdout, stderr) = run(&test, step, &env);
        assert_eq!(code, 0, "{step:?}: {stdout}{stderr}");
    }
    let base = format!("{package}:base-python3.11-bookworm");
    let devel = format!("{package}:devel-python3.11-bookworm");
    let runtime = format!("{package}:1.3.0-python3.11-bookworm-runtime");
    let status = ["status", "--report", "status.json"];
    let row = |target: &str, state: &str, reason: &str| {
        (target.to_string(), state.to_string(), reason.to_string())
    };
    let test = test.file("templates/debian/devel.Dockerfile.j2", EDITED_DEVEL);
    let (code, stdout, stderr) = run(&test, &["build"], &env);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let (code, stdout, stderr) = run(&test, &status, &env);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.contains("inputs changed"), "{stdout}");
    assert_eq!(
        status_rows(&test),
        [
            row(&base, "current", ""),
            row(&runtime, "current", ""),
            row(&devel, "stale", "inputs changed"),
        ]
    );
    // The base rebuilt alone (a new image: its `created` label is new)
    // and pushed.
    let (code, stdout, stderr) = run(&test, &["push", "--target", &devel], &env);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let (code, stdout, stderr) = run(&test, &["build", "--target", &base, "--overwrite"], &env);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let (code, stdout, stderr) = run(&test, &["push", "--target", &base], &env);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let (code, stdout, stderr) = run(&test, &status, &env);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert_eq!(
        status_rows(&test),
        [
            row(&base, "current", ""),
            row(&runtime, "stale", "its base image moved"),
            row(&devel, "stale", "its base image moved"),
        ],
        "{stdout}"
    );
    assert!(!format!("{stdout}{stderr}").contains(password));
    cleanup(package);
}
