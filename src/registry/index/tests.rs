use super::*;

fn platform(text: &str) -> Platform {
    text.parse().unwrap()
}

fn child(platform_: &str, digest: &str) -> Child {
    Child {
        platform: platform(platform_),
        digest: digest.to_string(),
    }
}

fn index(children: &[(&str, &str)]) -> Index {
    Index {
        digest: "sha256:index".into(),
        media_type: OCI_INDEX.into(),
        platforms: children.iter().map(|(p, d)| child(p, d)).collect(),
        attestations: Vec::new(),
        unplaced: Vec::new(),
    }
}

fn attestation(digest: &str, describes: &str) -> Attestation {
    Attestation {
        digest: digest.into(),
        describes: Some(describes.into()),
    }
}

const TWO: [(&str, &str); 2] = [("linux/amd64", "sha256:a"), ("linux/arm64/v8", "sha256:b")];

fn declared(platforms: &[&str]) -> Vec<Platform> {
    platforms.iter().map(|p| platform(p)).collect()
}

fn problems(declared: &[Platform], built: &[Child], attest: bool, held: &Contents) -> Vec<String> {
    let expected = Expected {
        platforms: declared,
        built,
        attestations: attest,
    };
    verify(&expected, held)
        .iter()
        .map(ToString::to_string)
        .collect()
}

/// The index BuildKit pushes by default: two platforms and, listed with
/// them, an attestation manifest each.
const BUILDKIT_INDEX: &str = r#"{
  "schemaVersion": 2,
  "mediaType": "application/vnd.oci.image.index.v1+json",
  "manifests": [
    {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:a", "size": 1,
     "platform": {"architecture": "amd64", "os": "linux"}},
    {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:b", "size": 1,
     "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}},
    {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:att-a", "size": 1,
     "annotations": {"vnd.docker.reference.digest": "sha256:a", "vnd.docker.reference.type": "attestation-manifest"},
     "platform": {"architecture": "unknown", "os": "unknown"}},
    {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:att-b", "size": 1,
     "annotations": {"vnd.docker.reference.digest": "sha256:b", "vnd.docker.reference.type": "attestation-manifest"},
     "platform": {"architecture": "unknown", "os": "unknown"}}
  ]
}"#;

#[test]
fn an_index_gives_its_platforms_and_its_attestations_apart() {
    let Manifest::Index(read) = read_manifest(BUILDKIT_INDEX.as_bytes(), "sha256:i").unwrap()
    else {
        panic!("an index")
    };
    let mut expected = index(&TWO);
    expected.digest = "sha256:i".into();
    expected.attestations = vec![
        attestation("sha256:att-a", "sha256:a"),
        attestation("sha256:att-b", "sha256:b"),
    ];
    assert_eq!(read, expected);
    assert_eq!(
        read.platforms[1].platform.variant.as_deref(),
        Some("v8"),
        "the variant is kept as written"
    );
    assert_eq!(read.digest_of(&platform("linux/arm64")), Some("sha256:b"));
    assert_eq!(read.digest_of(&platform("linux/s390x")), None);
}

#[test]
fn a_docker_manifest_list_is_an_index_and_a_child_without_platform_is_unplaced() {
    let list = r#"{"schemaVersion": 2,
      "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
      "manifests": [
        {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "digest": "sha256:a", "size": 1,
         "platform": {"architecture": "amd64", "os": "linux", "variant": ""}},
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:c", "size": 1}
      ]}"#;
    let Manifest::Index(read) = read_manifest(list.as_bytes(), "sha256:l").unwrap() else {
        panic!("an index")
    };
    assert_eq!(read.media_type, DOCKER_LIST);
    assert_eq!(read.platforms, vec![child("linux/amd64", "sha256:a")]);
    assert_eq!(
        read.platforms[0].platform.variant, None,
        "an empty variant is none"
    );
    assert_eq!(read.unplaced, vec!["sha256:c".to_string()]);
}

#[test]
fn an_image_manifest_is_single_and_its_platform_is_read_from_its_config() {
    for media_type in [OCI_MANIFEST, DOCKER_MANIFEST] {
        let body = format!(
            r#"{{"schemaVersion":2,"mediaType":"{media_type}","config":{{"mediaType":"x","digest":"sha256:cfg","size":2}},"layers":[]}}"#
        );
        let Manifest::Single {
            media_type: read,
            config,
        } = read_manifest(body.as_bytes(), "sha256:m").unwrap()
        else {
            panic!("a single image")
        };
        assert_eq!((read.as_str(), config.as_str()), (media_type, "sha256:cfg"));
    }
    // The OCI spec lets `mediaType` out: the fields say which it is.
    let bare = r#"{"schemaVersion":2,"config":{"digest":"sha256:cfg"},"layers":[]}"#;
    assert!(matches!(
        read_manifest(bare.as_bytes(), "sha256:m").unwrap(),
        Manifest::Single { media_type, .. } if media_type == OCI_MANIFEST
    ));
    let bare = r#"{"schemaVersion":2,"manifests":[]}"#;
    assert!(matches!(
        read_manifest(bare.as_bytes(), "sha256:m").unwrap(),
        Manifest::Index(Index { media_type, .. }) if media_type == OCI_INDEX
    ));
    let config = br#"{"architecture":"arm","os":"linux","variant":"v7","config":{}}"#;
    assert_eq!(
        platform_of_config(config).unwrap(),
        Some(platform("linux/arm/v7"))
    );
    assert_eq!(platform_of_config(b"{}").unwrap(), None);
    assert!(platform_of_config(b"[]").is_err());
}

#[test]
fn what_is_neither_an_index_nor_an_image_manifest_is_said_so() {
    let cases = [
        ("not json", "it is not a manifest"),
        (
            r#"{"schemaVersion":1,"name":"a","fsLayers":[]}"#,
            "schema 1",
        ),
        (
            r#"{"schemaVersion":2,"mediaType":"application/vnd.cncf.helm.chart"}"#,
            "`application/vnd.cncf.helm.chart`, neither an image index nor an image manifest",
        ),
        (
            r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json"}"#,
            "lacks its `manifests`",
        ),
        (r#"{"schemaVersion":2}"#, "neither `manifests` nor `config`"),
    ];
    for (body, said) in cases {
        let error = read_manifest(body.as_bytes(), "sha256:x").unwrap_err();
        assert!(error.contains(said), "{body}: {error}");
    }
}

#[test]
fn the_accept_header_names_all_four_manifest_types() {
    for media_type in [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ] {
        assert!(ACCEPTED.contains(&media_type), "{media_type}");
    }
}

#[test]
fn an_index_of_what_was_declared_and_built_has_nothing_wrong() {
    let declared = declared(&["linux/amd64", "linux/arm64"]);
    let built = [
        child("linux/amd64", "sha256:a"),
        child("linux/arm64", "sha256:b"),
    ];
    let held = Contents::Index(index(&TWO));
    assert!(problems(&declared, &built, false, &held).is_empty());
    assert!(
        problems(&declared, &[], false, &held).is_empty(),
        "digests unknown"
    );
}

#[test]
fn a_single_image_is_not_an_index() {
    let held = Contents::Single(Single {
        digest: "sha256:m".into(),
        media_type: OCI_MANIFEST.into(),
        platform: Some(platform("linux/amd64")),
    });
    let said = problems(
        &declared(&["linux/amd64", "linux/arm64"]),
        &[],
        false,
        &held,
    );
    assert_eq!(
        said,
        [
            "the tag holds one image (`linux/amd64`, `sha256:m`), not an index of `linux/amd64` and `linux/arm64`"
        ]
    );
    // With no platform declared, the builder's own single image is right.
    assert!(problems(&[], &[], false, &held).is_empty());
}

#[test]
fn a_declared_platform_missing_from_the_index_is_named() {
    let declared = declared(&["linux/amd64", "linux/arm64", "linux/arm/v7"]);
    let held = Contents::Index(index(&TWO[..1]));
    assert_eq!(
        problems(&declared, &[], false, &held),
        [
            "`linux/arm64` is missing from the index (it lists `linux/amd64`)",
            "`linux/arm/v7` is missing from the index (it lists `linux/amd64`)",
        ]
    );
}

#[test]
fn a_platform_not_declared_is_extra_and_one_listed_twice_is_said() {
    let declared = declared(&["linux/amd64", "linux/arm64"]);
    let held = Contents::Index(index(&[
        ("linux/amd64", "sha256:a"),
        ("linux/arm64", "sha256:b"),
        ("linux/aarch64", "sha256:b2"),
        ("linux/s390x", "sha256:s"),
    ]));
    assert_eq!(
        problems(&declared, &[], false, &held),
        [
            "the index lists `linux/arm64` 2 times (`sha256:b`, `sha256:b2`): a machine gets whichever its client picks",
            "the index lists `linux/s390x` (`sha256:s`), which the target does not declare",
        ]
    );
    let mut unplaced = index(&TWO);
    unplaced.unplaced.push("sha256:u".into());
    assert_eq!(
        problems(&declared, &[], false, &Contents::Index(unplaced)),
        ["the index lists `sha256:u` with no platform: no machine would pull it"]
    );
}

#[test]
fn a_child_that_is_not_the_one_built_names_both_digests() {
    let declared = declared(&["linux/amd64", "linux/arm64"]);
    let built = [
        child("linux/amd64", "sha256:a"),
        child("linux/arm64/v8", "sha256:new"),
    ];
    let said = problems(&declared, &built, false, &Contents::Index(index(&TWO)));
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(
        said[0].starts_with(
            "`linux/arm64` in the index is `sha256:b`, not the `sha256:new` built for it"
        ),
        "{said:?}"
    );
}

#[test]
fn attestations_are_wrong_unless_asked_for_and_then_each_platform_has_one() {
    let declared = declared(&["linux/amd64", "linux/arm64"]);
    let mut attested = index(&TWO);
    attested.attestations = vec![
        attestation("sha256:att-a", "sha256:a"),
        attestation("sha256:att-b", "sha256:b"),
    ];
    assert_eq!(
        problems(&declared, &[], false, &Contents::Index(attested.clone())),
        [
            "the index holds 2 attestation manifests, but the target does not ask for attestations (`attest`): the builder added them by default"
        ]
    );
    assert!(problems(&declared, &[], true, &Contents::Index(attested.clone())).is_empty());
    attested.attestations.pop();
    assert_eq!(
        problems(&declared, &[], true, &Contents::Index(attested)),
        [
            "`linux/arm64` has no attestation manifest in the index, but the target asks for one (`attest`)"
        ]
    );
}

#[tokio::test]
async fn the_fake_registry_answers_an_index_it_holds_and_a_plain_tag_as_one_image() {
    use crate::registry::Registry;
    use crate::registry::fake::Fake;
    let fake = Fake::holding("r.example/app", &[("plain", "sha256:p")]);
    fake.hold_index("r.example/app", "multi", index(&TWO));
    let Some(Contents::Index(held)) = fake.contents("r.example/app", "multi", None).await.unwrap()
    else {
        panic!("the index held")
    };
    assert_eq!(held, index(&TWO));
    assert_eq!(
        fake.digest("r.example/app", "multi", None).await.unwrap(),
        Some("sha256:index".to_string()),
        "the tag's digest is the index's"
    );
    let plain = fake.contents("r.example/app", "plain", None).await.unwrap();
    assert!(
        matches!(&plain, Some(Contents::Single(s)) if s.digest == "sha256:p" && s.platform.is_none()),
        "{plain:?}"
    );
    assert_eq!(
        fake.contents("r.example/app", "none", None).await.unwrap(),
        None
    );
    assert_eq!(fake.asked()[0], "contents r.example/app:multi");
}
