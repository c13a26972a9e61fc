//! [`Distribution::contents`] against a registry served from a thread on
//! 127.0.0.1: what it asks (the `Accept` header) and how it reads each
//! answer, without a real registry.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::Distribution;
use crate::registry::index::{ACCEPTED, Contents};
use crate::registry::{Enabled, Platform, Registry, classify};

/// A registry that answers `GET PATH` with `(status, body)` from
/// `answers` (404 for anything else), and keeps each request's headers.
struct Served {
    port: u16,
    requests: Arc<Mutex<Vec<String>>>,
}

fn serve(answers: HashMap<String, (u16, Vec<u8>)>) -> Served {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let requests = Arc::new(Mutex::new(Vec::new()));
    let kept = Arc::clone(&requests);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut request = Vec::new();
            let mut byte = [0u8; 1];
            while !request.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
                request.push(byte[0]);
            }
            let request = String::from_utf8_lossy(&request).into_owned();
            let path = request.split(' ').nth(1).unwrap_or_default().to_string();
            kept.lock().unwrap().push(request);
            let (status, body) = answers.get(&path).cloned().unwrap_or((
                404,
                br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#
                    .to_vec(),
            ));
            let head = format!(
                "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        }
    });
    Served { port, requests }
}

fn client(port: u16) -> (Distribution, String) {
    let repository = format!("127.0.0.1:{port}/org/app");
    let registry = Enabled {
        host: format!("127.0.0.1:{port}"),
        repositories: vec![("app".into(), repository.clone())],
        credentials: None,
        variables: Vec::new(),
    };
    (
        Distribution::new(&[registry], Duration::from_secs(5)),
        repository,
    )
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    use std::fmt::Write;
    let mut digest = String::from("sha256:");
    for byte in sha2::Sha256::digest(bytes) {
        write!(digest, "{byte:02x}").unwrap();
    }
    digest
}

const INDEX: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
  {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:aa","size":1,"platform":{"architecture":"amd64","os":"linux"}},
  {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:bb","size":1,"platform":{"architecture":"arm64","os":"linux","variant":"v8"}}]}"#;

/// The bug this guards against: a request that names only the image
/// manifest types is answered, for an index, with one platform's image
/// (or a 404), and the index is never seen.
#[tokio::test]
async fn the_manifest_is_asked_for_in_all_four_types_and_an_index_read_as_one() {
    let served = serve(HashMap::from([(
        "/v2/org/app/manifests/1".to_string(),
        (200, INDEX.as_bytes().to_vec()),
    )]));
    let (client, repository) = client(served.port);
    let contents = client.contents(&repository, "1", None).await.unwrap();
    let Some(Contents::Index(index)) = contents else {
        panic!("an index: {contents:?}")
    };
    assert_eq!(index.digest, sha256(INDEX.as_bytes()));
    let platforms: Vec<String> = index
        .platforms
        .iter()
        .map(|c| format!("{} {}", c.platform, c.digest))
        .collect();
    assert_eq!(
        platforms,
        ["linux/amd64 sha256:aa", "linux/arm64/v8 sha256:bb"]
    );
    let requests = served.requests.lock().unwrap();
    let asked = requests
        .iter()
        .find(|r| r.contains("/manifests/1"))
        .unwrap()
        .to_ascii_lowercase();
    let accept = asked
        .lines()
        .find(|l| l.starts_with("accept:"))
        .unwrap_or_default();
    for media_type in ACCEPTED {
        assert!(accept.contains(media_type), "{media_type} in {accept}");
    }
}

#[tokio::test]
async fn a_single_image_gives_the_platform_of_its_config_and_a_missing_tag_none() {
    let config = br#"{"architecture":"arm64","os":"linux","variant":"v8","rootfs":{}}"#;
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"{}","size":{}}},"layers":[]}}"#,
        sha256(config),
        config.len()
    );
    let served = serve(HashMap::from([
        (
            "/v2/org/app/manifests/1".to_string(),
            (200, manifest.clone().into_bytes()),
        ),
        (
            format!("/v2/org/app/blobs/{}", sha256(config)),
            (200, config.to_vec()),
        ),
    ]));
    let (client, repository) = client(served.port);
    let Some(Contents::Single(single)) = client.contents(&repository, "1", None).await.unwrap()
    else {
        panic!("a single image")
    };
    assert_eq!(single.digest, sha256(manifest.as_bytes()));
    assert_eq!(
        single.platform,
        Some("linux/arm64".parse::<Platform>().unwrap())
    );
    assert_eq!(client.contents(&repository, "2", None).await.unwrap(), None);
}

/// A manifest whose config the registry lacks is a broken image: said
/// so, never taken for a tag that is not there.
#[tokio::test]
async fn a_missing_config_is_a_broken_image_not_a_missing_tag() {
    let manifest = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:1111111111111111111111111111111111111111111111111111111111111111","size":2},"layers":[]}"#;
    let served = serve(HashMap::from([(
        "/v2/org/app/manifests/1".to_string(),
        (200, manifest.as_bytes().to_vec()),
    )]));
    let (client, repository) = client(served.port);
    let failure = client.contents(&repository, "1", None).await.unwrap_err();
    assert!(!classify::not_found(&failure), "{failure:?}");
    assert!(!failure.transient(), "{failure:?}");
    assert!(
        format!("{failure:?}").contains("lacks the config"),
        "{failure:?}"
    );
}

#[tokio::test]
async fn a_manifest_of_another_kind_is_an_error_in_words() {
    let served = serve(HashMap::from([(
        "/v2/org/app/manifests/1".to_string(),
        (
            200,
            br#"{"schemaVersion":2,"mediaType":"application/vnd.cncf.helm.chart"}"#.to_vec(),
        ),
    )]));
    let (client, repository) = client(served.port);
    let failure = client.contents(&repository, "1", None).await.unwrap_err();
    let said = format!("{failure:?}");
    assert!(
        said.contains("the manifest of `127.0.0.1:") && said.contains("neither an image index"),
        "{said}"
    );
}
