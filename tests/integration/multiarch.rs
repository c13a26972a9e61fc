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
