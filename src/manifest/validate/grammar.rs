//! What names, versions, tags and repository paths may look like: the
//! OCI reference grammar for what goes into an image reference, and the
//! shapes of environment variable names and Python versions.

/// An environment variable name as the manifest writes them: `[A-Z_][A-Z0-9_]*`.
pub(super) fn is_envar_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_uppercase() || b == b'_')
        && bytes.all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// `3.11` or `3.11.4`.
pub(crate) fn is_python_version(version: &str) -> bool {
    let parts: Vec<&str> = version.split('.').collect();
    (2..=3).contains(&parts.len())
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// A Docker repository name component: lower-case alphanumerics separated
/// by single `.`, `_` or `-`.
pub(super) fn is_repository_name(name: &str) -> bool {
    !name.is_empty()
        && name.split(['.', '_', '-']).all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

/// Checks text that becomes part of a Docker tag.
pub(crate) fn check_tag_part(text: &str) -> Result<(), String> {
    if text.is_empty() {
        return Err("is empty".into());
    }
    if let Some(c) = text
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!(
            "contains `{c}`, which a Docker tag cannot hold (letters, digits, `.`, `_`, `-`)"
        ));
    }
    Ok(())
}

/// Checks a whole tag against the OCI reference grammar:
/// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub(crate) fn check_tag(tag: &str) -> Result<(), String> {
    check_tag_part(tag)?;
    if tag.starts_with(['.', '-']) {
        return Err(format!(
            "starts with `{}`; a Docker tag starts with a letter, digit or `_`",
            &tag[..1]
        ));
    }
    if tag.len() > MAX_TAG {
        return Err(format!(
            "is {} characters long; a Docker tag holds at most {MAX_TAG}",
            tag.len()
        ));
    }
    Ok(())
}

/// The longest tag Docker accepts.
pub(super) const MAX_TAG: usize = 128;

pub(super) fn check_repository_path(path: &str) -> Result<(), String> {
    let (host, rest) = path.split_once('/').ok_or("it has no `/`")?;
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err("the registry host is empty".into());
    }
    for part in rest.split('/') {
        if part.contains(':') || part.contains('@') {
            return Err("a tag or digest does not belong here".into());
        }
        if !is_repository_name(part) {
            return Err(format!(
                "`{part}` is not lower-case letters, digits, `.`, `_`, `-`"
            ));
        }
    }
    Ok(())
}

/// Checks a full image reference, `host/path[:tag]`: the repository path
/// as [`check_repository_path`] and the tag, when there is one, as
/// [`check_tag`].
pub(crate) fn check_reference(reference: &str) -> Result<(), String> {
    let last = reference.rfind('/').map_or(0, |slash| slash + 1);
    match reference[last..].rfind(':') {
        Some(colon) => {
            let (path, tag) = reference.split_at(last + colon);
            check_repository_path(path)?;
            check_tag(&tag[1..]).map_err(|why| format!("the tag {why}"))
        }
        None => check_repository_path(reference),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_versions() {
        assert!(is_envar_name("PYTHONDONTWRITEBYTECODE"));
        assert!(!is_envar_name("lang"));
        assert!(!is_envar_name("1A"));
        assert!(is_python_version("3.10") && is_python_version("3.8.12"));
        assert!(!is_python_version("3") && !is_python_version("3.x"));
        assert!(is_repository_name("model-server") && !is_repository_name("Model"));
        assert!(check_tag_part("1.0.0a5").is_ok() && check_tag_part("1.0+x").is_err());
        assert!(check_tag("_a.b-c").is_ok() && check_tag(&"x".repeat(128)).is_ok());
        for bad in ["x".repeat(129), ".a".into(), "-a".into(), "a:b".into()] {
            assert!(check_tag(&bad).is_err(), "{bad}");
        }
        assert!(check_repository_path("docker.io/org/model-server").is_ok());
        assert!(check_repository_path("localhost:5000/model-server").is_ok());
        assert!(check_repository_path("docker.io/org/model-server:1").is_err());
    }

    #[test]
    fn a_reference_is_a_repository_path_and_an_optional_tag() {
        assert!(check_reference("localhost:5000/cache/app:a_b-c").is_ok());
        assert!(check_reference("localhost:5000/cache/app").is_ok());
        assert!(check_reference("registry.example/cache/a_b").is_ok());
        for bad in [
            "cache:tag",
            "registry.example/Cache:tag",
            "registry.example/cache:-tag",
            "registry.example/cache@sha256:1",
            "registry.example/cache:{name}",
        ] {
            assert!(check_reference(bad).is_err(), "{bad}");
        }
    }
}
