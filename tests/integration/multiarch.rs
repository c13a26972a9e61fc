//! The machine builds and runs linux/arm64 images beside linux/amd64 ones,
//! with no registry: `.ci/setup-multiarch` (run by `.ci/test`) registers
//! qemu with binfmt_misc and makes `debian:bookworm-slim` an image of both
//! platforms in the BuildKit daemon of `.ci/setup-buildkit` and a manifest
//! list of both in buildah's vfs store, and writes what it made to an
//! environment file, read here. These tests prove that set-up, with as
//! little emulated work as proves it (one `uname -m` per image).

use std::path::Path;
use std::process::{Command, Output};

use crate::bake::{Buildkit, Images, image_name, setup_env};
use crate::test::Test;

/// Where `.ci/setup-multiarch` writes the environment; `MULTIARCH_ENV_FILE`
/// names another.
const ENV_FILE: &str = "/var/lib/bentoml-docker-ci/multiarch/env";

/// What `.ci/setup-multiarch` made: the platforms (`os/arch`) and the base
/// image that has them all.
struct Multiarch {
    platforms: Vec<String>,
    image: String,
}

impl Multiarch {
    fn from_setup() -> Self {
        let var = setup_env("MULTIARCH_ENV_FILE", ENV_FILE, ".ci/setup-multiarch");
        Self {
            platforms: var("MULTIARCH_PLATFORMS")
                .split(',')
                .map(String::from)
                .collect(),
            image: var("MULTIARCH_IMAGE"),
        }
    }
}

/// What `uname -m` says on each platform the set-up makes.
fn machine(platform: &str) -> &'static str {
    match platform {
        "linux/amd64" => "x86_64",
        "linux/arm64" => "aarch64",
        _ => panic!("no machine name known for {platform}"),
    }
}

#[track_caller]
fn succeeded(what: &str, output: &Output) -> String {
    assert!(
        output.status.success(),
        "{what}:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

#[test]
#[ignore = "needs BuildKit and qemu; .ci/test sets them up"]
fn multiarch_bake_builds_a_base_and_its_dependent_for_amd64_and_arm64() {
    let setup = Multiarch::from_setup();
    let buildkit = Buildkit::from_setup();
    let base = image_name("multiarch", "base");
    let app = image_name("multiarch", "app");
    let _images = Images {
        buildkit: &buildkit,
        names: vec![base.clone(), app.clone()],
    };
    let bakefile = serde_json::json!({
        "group": {"default": {"targets": ["base", "app"]}},
        "target": {
            "base": {
                "context": ".",
                "dockerfile": "base.Dockerfile",
                "tags": [base],
                "platforms": setup.platforms,
            },
            "app": {
                "context": ".",
                "dockerfile": "app.Dockerfile",
                "tags": [app],
                "contexts": {(base.as_str()): "target:base"},
                "platforms": setup.platforms,
            },
        },
    });
    let repo = Test::new()
        .file(
            "base.Dockerfile",
            &format!("FROM {}\nRUN uname -m > /base-arch\n", setup.image),
        )
        .file(
            "app.Dockerfile",
            &format!("FROM {base}\nRUN uname -m > /app-arch\n"),
        )
        .file("docker-bake.json", &bakefile.to_string());

    let build = buildkit.bake(repo.path(), "docker-bake.json", &[]);
    succeeded("bake", &build);
    // Each platform of the dependent runs as that platform, FROM the base's
    // image of the same platform.
    for platform in &setup.platforms {
        let said = buildkit.docker(&[
            "run",
            "--rm",
            "--platform",
            platform,
            "--network",
            "none",
            &app,
            "sh",
            "-c",
            "uname -m; cat /base-arch /app-arch",
        ]);
        let machine = machine(platform);
        assert_eq!(
            said,
            format!("{machine}\n{machine}\n{machine}\n"),
            "{platform}"
        );
    }
}

/// buildah on the vfs store `.ci/setup-multiarch` prepared.
fn buildah(args: &[&str]) -> Output {
    Command::new("buildah")
        .args(["--storage-driver", "vfs"])
        .args(args)
        .output()
        .expect("buildah")
}

/// Removes a manifest list, and every image and container carrying
/// `label`, when dropped, the test passed or not.
struct Built<'a> {
    list: &'a str,
    label: &'a str,
    containers: Vec<String>,
}

impl Built<'_> {
    /// The IDs of the images built with the label.
    fn images(&self) -> Vec<String> {
        let filter = format!("label={}", self.label);
        let listed = buildah(&[
            "images",
            "--no-trunc",
            "--filter",
            &filter,
            "--format",
            "{{.ID}}",
        ]);
        String::from_utf8_lossy(&listed.stdout)
            .lines()
            .map(String::from)
            .collect()
    }

    /// What `path` holds in image `id`, read from its mounted file system
    /// (nothing of it runs).
    fn read(&mut self, id: &str, path: &str) -> String {
        let container = succeeded("buildah from", &buildah(&["from", "--pull-never", id]));
        let container = container.trim().to_string();
        self.containers.push(container.clone());
        let root = succeeded("buildah mount", &buildah(&["mount", &container]));
        std::fs::read_to_string(Path::new(root.trim()).join(path.trim_start_matches('/'))).unwrap()
    }
}

impl Drop for Built<'_> {
    fn drop(&mut self) {
        for container in &self.containers {
            let _ = buildah(&["rm", container]);
        }
        let _ = buildah(&["manifest", "rm", self.list]);
        for id in self.images() {
            let _ = buildah(&["rmi", "-f", &id]);
        }
    }
}

#[test]
#[ignore = "needs buildah and qemu; .ci/test sets them up"]
fn multiarch_buildah_builds_one_manifest_list_of_amd64_and_arm64() {
    let setup = Multiarch::from_setup();
    let name = format!("bentoml-docker-test-multiarch-{}", std::process::id());
    let list = format!("localhost/{name}:list");
    let label = format!("bentoml-docker-test={name}");
    let mut built = Built {
        list: &list,
        label: &label,
        containers: Vec::new(),
    };
    let repo = Test::new().file(
        "Dockerfile",
        &format!("FROM {}\nRUN uname -m > /arch\n", setup.image),
    );
    let platforms = setup.platforms.join(",");
    let build = buildah(&[
        "build",
        "--isolation",
        "chroot",
        "--network",
        "host",
        "--platform",
        &platforms,
        "--manifest",
        &list,
        "--label",
        &label,
        repo.path().to_str().unwrap(),
    ]);
    succeeded("buildah build", &build);

    let inspected = succeeded(
        "buildah manifest inspect",
        &buildah(&["manifest", "inspect", &list]),
    );
    let index: serde_json::Value = serde_json::from_str(&inspected).unwrap();
    let mut listed: Vec<String> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let platform = &m["platform"];
            format!(
                "{}/{}",
                platform["os"].as_str().unwrap(),
                platform["architecture"].as_str().unwrap()
            )
        })
        .collect();
    listed.sort();
    let mut expected = setup.platforms.clone();
    expected.sort();
    assert_eq!(listed, expected, "{inspected}");

    // Each platform's image ran its RUN step as that platform.
    let images = built.images();
    assert_eq!(images.len(), setup.platforms.len(), "{images:?}");
    for id in &images {
        let arch = succeeded(
            "buildah inspect",
            &buildah(&[
                "inspect",
                "--type",
                "image",
                "--format",
                "{{.OCIv1.OS}}/{{.OCIv1.Architecture}}",
                id,
            ]),
        );
        let ran = built.read(id, "/arch");
        assert_eq!(ran, format!("{}\n", machine(arch.trim())), "{id}: {arch}");
    }
}

/// The build fixture for both platforms, one base and one dependent (the
/// runtime image; its RUN-less Dockerfile keeps the emulated work to the
/// base's one RUN), pushed to `host`; the runtime image tests `uname -m`
/// (on every platform), in place of the fixture's tests, which need Python.
fn two_platform_fixture(package: &str, host: &str) -> Test {
    let test = crate::registry::fixture(package, &[(host.to_string(), "REG")]);
    let manifest = test.read("manifest.yml");
    let start = manifest.find("tests:\n").expect("the fixture has tests");
    let end = start
        + manifest[start..]
            .find("\n\n")
            .expect("a blank line after them");
    let manifest = format!(
        "{}tests:\n  runtime:\n    - uname -m{}",
        &manifest[..start],
        &manifest[end..]
    )
    .replacen(
        "release_spec: &spec\n",
        "release_spec: &spec\n  platforms: [linux/amd64, linux/arm64]\n",
        1,
    );
    test.manifest(&manifest)
}

/// What `build --test` logged for `uname -m` on each platform of `target`.
fn machines_tested(test: &Test, target: &str) -> Vec<(String, String)> {
    let dir = test.path().join(".bentoml-docker/logs");
    let log = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.contains("runtime") && name.ends_with(".test.log")
        })
        .unwrap_or_else(|| panic!("no test log of {target} in {}", dir.display()));
    let text = std::fs::read_to_string(log).unwrap();
    let mut found = Vec::new();
    let mut platform = None;
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some(p) = line.strip_prefix("# on ") {
            platform = Some(p.to_string());
        } else if line == "$ uname -m" {
            found.push((
                platform.clone().unwrap_or_default(),
                lines.next().unwrap_or_default().to_string(),
            ));
        }
    }
    found
}

/// Builds, tests and pushes the two-platform fixture with `engine`, then
/// reruns it: every tag an index of both platforms, verified; `uname -m`
/// says `aarch64` on arm64; the rerun builds nothing.
fn two_platforms_pushed_with(engine: &str, package: &str, env: &[(&str, &str)]) {
    let password = "Multi-arch-pa55";
    let server = crate::registry::registry(password);
    let host = format!("127.0.0.1:{}", server.port);
    let mut test = two_platform_fixture(package, &host);
    for (name, value) in env {
        test = test.env(name, value);
    }
    let runtime = format!("{package}:1.3.0-python3.11-bookworm-runtime");
    let build = [
        "build",
        "--engine",
        engine,
        "--target",
        &runtime,
        "--test",
        "--push",
        "--report",
        "report.json",
    ];
    let creds = [
        ("REG_USER", crate::registry::USER),
        ("REG_PASSWORD", password),
    ];
    let (code, stdout, stderr) = crate::registry::run(&test, &build, &creds);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let report: serde_json::Value = serde_json::from_str(&test.read("report.json")).unwrap();
    let built: Vec<&str> = report["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["status"].as_str().unwrap())
        .collect();
    assert_eq!(built, ["built", "built"], "{report}");
    let pushes = report["push"]["targets"].as_array().unwrap();
    assert_eq!(pushes.len(), 1, "{report}");
    let push = &pushes[0];
    assert_eq!(push["status"], "pushed", "{push}");
    // In the order the builder finished them.
    let mut platforms: Vec<&str> = push["platforms"]
        .as_array()
        .unwrap_or_else(|| panic!("no platforms in {push}"))
        .iter()
        .map(|p| p["platform"].as_str().unwrap())
        .collect();
    platforms.sort_unstable();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64"], "{push}");
    let tag = runtime.rsplit_once(':').unwrap().1;
    assert_eq!(
        push["digest"].as_str().unwrap(),
        crate::registry::digest(server.port, password, &format!("bdtest/{package}"), tag)
    );
    assert_eq!(
        machines_tested(&test, &runtime),
        [
            ("linux/amd64".to_string(), "x86_64".to_string()),
            ("linux/arm64".to_string(), "aarch64".to_string())
        ]
    );
    let (code, stdout, stderr) = crate::registry::run(&test, &build, &creds);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let report: serde_json::Value = serde_json::from_str(&test.read("report.json")).unwrap();
    for target in report["targets"].as_array().unwrap() {
        assert_eq!(
            target["status"], "up-to-date",
            "a rerun builds nothing: {target}"
        );
    }
    assert_eq!(report["push"]["targets"][0]["status"], "pushed");
}

#[test]
#[ignore = "needs BuildKit, qemu and docker-registry; .ci/test sets them up"]
fn multiarch_bake_pushes_an_index_of_both_platforms_tested_on_each() {
    let buildkit = Buildkit::from_setup();
    let package = format!("bdtest-mabake-{}", std::process::id());
    let vars = buildkit.vars();
    let env: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let images = Images {
        buildkit: &buildkit,
        names: vec![
            format!("{package}:base-python3.11-bookworm"),
            format!("{package}:1.3.0-python3.11-bookworm-runtime"),
        ],
    };
    two_platforms_pushed_with("bake", &package, &env);
    drop(images);
}

#[test]
#[ignore = "needs buildah, qemu and docker-registry; .ci/test sets them up"]
fn multiarch_buildah_pushes_an_index_of_both_platforms_tested_on_each() {
    let package = format!("bdtest-mabuildah-{}", std::process::id());
    let env = [("STORAGE_DRIVER", "vfs"), ("BUILDAH_ISOLATION", "chroot")];
    two_platforms_pushed_with("buildah", &package, &env);
    for tag in [
        "base-python3.11-bookworm",
        "1.3.0-python3.11-bookworm-runtime",
    ] {
        let _ = buildah(&["manifest", "rm", &format!("{package}:{tag}")]);
    }
}

/// The Docker daemon's classic builder makes one platform per image: a
/// target of several is refused before anything is built, naming the
/// engines that build them.
#[test]
fn the_docker_engine_refuses_a_target_of_several_platforms_before_building() {
    let manifest =
        std::fs::read_to_string(crate::test::fixtures().join("bench-build/manifest.yml")).unwrap();
    let manifest = manifest.replacen(
        "release_spec: &spec\n",
        "release_spec: &spec\n  platforms: [linux/amd64, linux/arm64]\n",
        1,
    );
    let test = Test::fixture("bench-build")
        .manifest(&manifest)
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .args(&["build"]);
    let output = test.failure(2);
    for needed in [
        "linux/amd64, linux/arm64",
        "--engine bake",
        "--engine buildah",
    ] {
        assert!(output.stderr.contains(needed), "{}", output.stderr);
    }
}
