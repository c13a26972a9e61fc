//! Image indexes read back from a real registry: two images made with
//! buildah from scratch (one `linux/amd64`, one `linux/arm64/v8`: config
//! only, no emulation, no pull), pushed as one index to `docker-registry`
//! with htpasswd authentication, then read through
//! `Registry::contents` and compared with what `skopeo inspect --raw`
//! says the registry holds.

use std::process::Command;
use std::time::Duration;

use base64::Engine as _;
use bentoml_docker::registry::index::{Contents, Expected, Problem, verify};
use bentoml_docker::registry::{Credentials, Distribution, Enabled, Platform, Registry};
use sha2::Digest as _;

use crate::registry::{USER, registry};

/// buildah on the vfs store the tests use.
fn buildah(args: &[&str]) -> String {
    let output = Command::new("buildah")
        .args(["--storage-driver", "vfs"])
        .args(args)
        .output()
        .expect("buildah");
    assert!(
        output.status.success(),
        "buildah {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// The local images and manifest list a test makes, removed when it ends
/// however it ends.
struct Made {
    images: Vec<String>,
    list: String,
}

impl Drop for Made {
    fn drop(&mut self) {
        let vfs = ["--storage-driver", "vfs"];
        if !self.list.is_empty() {
            let _ = Command::new("buildah")
                .args(vfs)
                .args(["manifest", "rm", &self.list])
                .output();
        }
        for image in &self.images {
            let _ = Command::new("buildah")
                .args(vfs)
                .args(["rmi", "-f", image])
                .output();
        }
    }
}

/// An image named `name` for `platform` (`os/arch[/variant]`), from
/// scratch with one small file: its config says the platform, nothing
/// runs.
fn image_for(name: &str, platform: &str, dir: &std::path::Path) {
    let parts: Vec<&str> = platform.split('/').collect();
    let container = buildah(&["from", "scratch"]);
    let mut config = vec!["config", "--os", parts[0], "--arch", parts[1]];
    if let Some(variant) = parts.get(2) {
        config.extend(["--variant", variant]);
    }
    config.push(&container);
    buildah(&config);
    let file = dir.join("platform");
    std::fs::write(&file, platform).unwrap();
    buildah(&["copy", &container, file.to_str().unwrap(), "/platform"]);
    buildah(&["commit", "-q", &container, name]);
    buildah(&["rm", &container]);
}

/// A containers auth file for `host`, so that the password is on no
/// command line of buildah or skopeo.
fn auth_file(dir: &std::path::Path, host: &str, password: &str) -> String {
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{password}"));
    let path = dir.join("auth.json");
    std::fs::write(
        &path,
        format!(r#"{{"auths":{{"{host}":{{"auth":"{auth}"}}}}}}"#),
    )
    .unwrap();
    path.display().to_string()
}

/// What `skopeo inspect --raw` reads of `reference`: the manifest's bytes.
fn raw(reference: &str, auth: &str) -> Vec<u8> {
    let output = Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false", "--authfile", auth])
        .arg(format!("docker://{reference}"))
        .output()
        .expect("skopeo");
    assert!(
        output.status.success(),
        "skopeo inspect {reference}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

fn sha256(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut digest = String::from("sha256:");
    for byte in sha2::Sha256::digest(bytes) {
        write!(digest, "{byte:02x}").unwrap();
    }
    digest
}

/// The contents of `repository:tag` through the tool's own client, with
/// the registry's credentials.
fn contents(host: &str, repository: &str, tag: &str, password: &str) -> Option<Contents> {
    let credentials = Credentials {
        username: USER.into(),
        password: password.into(),
    };
    let registry = Enabled {
        host: host.into(),
        repositories: vec![("app".into(), repository.into())],
        credentials: Some(credentials.clone()),
        variables: vec!["IDX_USER".into(), "IDX_PASSWORD".into()],
    };
    let client = Distribution::new(&[registry], Duration::from_secs(30));
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(client.contents(repository, tag, Some(&credentials)))
        .unwrap()
}

fn platform(text: &str) -> Platform {
    text.parse().unwrap()
}

#[test]
#[ignore = "needs buildah, skopeo and docker-registry; .ci/run sets them up"]
fn registry_an_index_pushed_by_buildah_reads_back_with_both_platforms_and_their_digests() {
    let password = "index-Pa55-w0rd";
    let server = registry(password);
    let host = format!("127.0.0.1:{}", server.port);
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let auth = auth_file(dir.path(), &host, password);
    let id = std::process::id();
    let made = Made {
        images: vec![
            format!("localhost/bdtest-index-amd64-{id}"),
            format!("localhost/bdtest-index-arm64-{id}"),
        ],
        list: format!("localhost/bdtest-index-list-{id}"),
    };
    image_for(&made.images[0], "linux/amd64", dir.path());
    image_for(&made.images[1], "linux/arm64/v8", dir.path());
    buildah(&["manifest", "create", &made.list]);
    for image in &made.images {
        buildah(&[
            "manifest",
            "add",
            &made.list,
            &format!("containers-storage:{image}"),
        ]);
    }
    let repository = format!("{host}/bdtest/index");
    let multi = format!("{repository}:multi");
    buildah(&[
        "manifest",
        "push",
        "--all",
        "--tls-verify=false",
        "--authfile",
        &auth,
        &made.list,
        &format!("docker://{multi}"),
    ]);

    let Some(Contents::Index(index)) = contents(&host, &repository, "multi", password) else {
        panic!("`{multi}` is an index")
    };
    let held = raw(&multi, &auth);
    assert_eq!(index.digest, sha256(&held), "the index's digest");
    let skopeo: serde_json::Value = serde_json::from_slice(&held).unwrap();
    let listed: Vec<(String, String)> = skopeo["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let p = &m["platform"];
            let mut platform = format!(
                "{}/{}",
                p["os"].as_str().unwrap(),
                p["architecture"].as_str().unwrap()
            );
            if let Some(variant) = p["variant"].as_str() {
                platform = format!("{platform}/{variant}");
            }
            (platform, m["digest"].as_str().unwrap().to_string())
        })
        .collect();
    let read: Vec<(String, String)> = index
        .platforms
        .iter()
        .map(|c| (c.platform.to_string(), c.digest.clone()))
        .collect();
    assert_eq!(
        read, listed,
        "platforms and child digests as skopeo reads them"
    );
    assert!(
        index.attestations.is_empty() && index.unplaced.is_empty(),
        "{index:?}"
    );

    let declared = [platform("linux/amd64"), platform("linux/arm64")];
    let held = Contents::Index(index.clone());
    let expected = Expected {
        platforms: &declared,
        built: &index.platforms,
        attestations: false,
    };
    assert_eq!(verify(&expected, &held), Vec::<Problem>::new());
    let three = [
        platform("linux/amd64"),
        platform("linux/arm64"),
        platform("linux/s390x"),
    ];
    let expected = Expected {
        platforms: &three,
        built: &[],
        attestations: false,
    };
    let said: Vec<String> = verify(&expected, &held)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        said,
        ["`linux/s390x` is missing from the index (it lists `linux/amd64` and `linux/arm64/v8`)"]
    );
}

#[test]
#[ignore = "needs buildah, skopeo and docker-registry; .ci/run sets them up"]
fn registry_a_single_platform_tag_reads_as_one_image_not_an_index() {
    let password = "single-Pa55-w0rd";
    let server = registry(password);
    let host = format!("127.0.0.1:{}", server.port);
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let auth = auth_file(dir.path(), &host, password);
    let made = Made {
        images: vec![format!(
            "localhost/bdtest-index-single-{}",
            std::process::id()
        )],
        list: String::new(),
    };
    image_for(&made.images[0], "linux/arm64/v8", dir.path());
    let repository = format!("{host}/bdtest/index");
    let single = format!("{repository}:single");
    buildah(&[
        "push",
        "--tls-verify=false",
        "--authfile",
        &auth,
        &made.images[0],
        &format!("docker://{single}"),
    ]);

    let Some(Contents::Single(image)) = contents(&host, &repository, "single", password) else {
        panic!("`{single}` is one image")
    };
    assert_eq!(image.digest, sha256(&raw(&single, &auth)));
    assert_eq!(image.platform, Some(platform("linux/arm64")));
    let declared = [platform("linux/amd64"), platform("linux/arm64")];
    let expected = Expected {
        platforms: &declared,
        built: &[],
        attestations: false,
    };
    let said: Vec<String> = verify(&expected, &Contents::Single(image.clone()))
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        said,
        [format!(
            "the tag holds one image (`linux/arm64/v8`, `{}`), not an index of `linux/amd64` and `linux/arm64`",
            image.digest
        )]
    );
    assert_eq!(contents(&host, &repository, "absent", password), None);
}
