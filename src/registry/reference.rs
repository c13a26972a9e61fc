//! Image references as registries and daemons write them: `repository:tag`,
//! `repository@digest`, a bare name that means `:latest`, and Docker Hub's
//! short names. One place, so that a push, a pull and `status` agree on
//! what names the same image.

/// `repository:tag`.
#[must_use]
pub fn tagged(repository: &str, tag: &str) -> String {
    format!("{repository}:{tag}")
}

/// `reference` with `:latest` when it names neither a tag nor a digest
/// (pulling a bare name would fetch every tag).
#[must_use]
pub fn with_tag(reference: &str) -> String {
    let name = reference.rsplit('/').next().unwrap_or(reference);
    if name.contains(':') || name.contains('@') {
        reference.to_string()
    } else {
        format!("{reference}:latest")
    }
}

/// The registry part of a repository path as the manifest writes it
/// (`registry.example` of `registry.example/org/app`).
#[must_use]
pub fn host(repository: &str) -> &str {
    repository.split('/').next().unwrap_or_default()
}

/// Whether `host` is on this machine: spoken to over plain HTTP, as Docker
/// treats such a registry.
#[must_use]
pub fn is_loopback(host: &str) -> bool {
    let name = host.rsplit_once(':').map_or(host, |(h, _)| h);
    name == "localhost" || name.starts_with("127.") || name == "[::1]"
}

/// `reference` as repository and tag (`latest` when it names none).
#[must_use]
pub fn split_tag(reference: &str) -> (&str, &str) {
    let name_start = reference.rfind('/').map_or(0, |i| i + 1);
    match reference[name_start..].rfind(':') {
        Some(i) => (
            &reference[..name_start + i],
            &reference[name_start + i + 1..],
        ),
        None => (reference, "latest"),
    }
}

/// Whether a local `repository@digest` (as the daemon records it, with
/// Docker Hub names shortened) is `repository` at `digest`.
#[must_use]
pub fn same_image(recorded: &str, repository: &str, digest: &str) -> bool {
    let short = |name: &str| {
        let name = name.strip_prefix("docker.io/").unwrap_or(name);
        name.strip_prefix("library/").unwrap_or(name).to_string()
    };
    recorded
        .split_once('@')
        .is_some_and(|(name, d)| d == digest && short(name) == short(repository))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_registry_host_and_whether_it_is_this_machine() {
        assert_eq!(host("127.0.0.1:5000/org/app"), "127.0.0.1:5000");
        assert!(
            is_loopback("127.0.0.1:5000") && is_loopback("localhost") && is_loopback("[::1]:5000")
        );
        assert!(!is_loopback("registry.example") && !is_loopback("10.0.0.1:5000"));
    }

    #[test]
    fn docker_hub_names_recorded_short_are_the_same_image() {
        assert!(same_image(
            "bentoml/bento-server@sha256:1",
            "docker.io/bentoml/bento-server",
            "sha256:1"
        ));
        assert!(same_image(
            "debian@sha256:1",
            "docker.io/library/debian",
            "sha256:1"
        ));
        assert!(same_image(
            "127.0.0.1:5000/a/b@sha256:1",
            "127.0.0.1:5000/a/b",
            "sha256:1"
        ));
        assert!(!same_image(
            "127.0.0.1:5000/a/b@sha256:2",
            "127.0.0.1:5000/a/b",
            "sha256:1"
        ));
    }

    #[test]
    fn a_bare_name_is_pulled_as_latest_and_a_port_is_not_a_tag() {
        assert_eq!(with_tag("debian"), "debian:latest");
        assert_eq!(with_tag("debian:bookworm-slim"), "debian:bookworm-slim");
        assert_eq!(with_tag("127.0.0.1:5000/a/b"), "127.0.0.1:5000/a/b:latest");
        assert_eq!(with_tag("r.example/a@sha256:1"), "r.example/a@sha256:1");
        assert_eq!(tagged("r.example/a", "1"), "r.example/a:1");
        assert_eq!(split_tag("app:base-py3"), ("app", "base-py3"));
        assert_eq!(
            split_tag("127.0.0.1:5000/a/b:1"),
            ("127.0.0.1:5000/a/b", "1")
        );
        assert_eq!(
            split_tag("127.0.0.1:5000/a/b"),
            ("127.0.0.1:5000/a/b", "latest")
        );
    }
}
