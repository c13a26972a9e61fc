//! The Docker configuration a pushing bake reads its credentials from:
//! buildx takes them only from a Docker config, so the run writes one of
//! its own in a private directory (0700, the file 0600) inside bake's
//! temporary directory, removed when the build ends however it ends.
//!
//! It starts from the user's `config.json` (`DOCKER_CONFIG`, else
//! `~/.docker`), so registries the tool does not push to keep their
//! credentials (a base image from a private registry), and links the
//! user's `cli-plugins`, `buildx` (builders) and `contexts`, so the same
//! builders and plugins work. For each registry pushed to, its
//! credentials go in `auths`, and a credential helper the user set for it
//! is dropped; a global `credsStore` is dropped too (it would answer for
//! every registry, ours included).

use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use base64::Engine as _;

use crate::registry::Credentials;

/// What is linked from the user's configuration directory.
const LINKED: [&str; 3] = ["cli-plugins", "buildx", "contexts"];

/// The user's Docker configuration directory.
fn user_directory() -> Option<PathBuf> {
    match std::env::var_os("DOCKER_CONFIG") {
        Some(dir) if !dir.is_empty() => Some(PathBuf::from(dir)),
        _ => std::env::var_os("HOME").map(|home| Path::new(&home).join(".docker")),
    }
}

/// Writes the configuration into `dir` (created, 0700) from the user's;
/// returns `dir`.
pub(super) fn private(
    dir: &Path,
    credentials: &[(String, Credentials)],
) -> std::io::Result<PathBuf> {
    write(dir, user_directory().as_deref(), credentials)
}

fn write(
    dir: &Path,
    user: Option<&Path>,
    credentials: &[(String, Credentials)],
) -> std::io::Result<PathBuf> {
    std::fs::DirBuilder::new().mode(0o700).create(dir)?;
    let mut config = user
        .and_then(|u| std::fs::read_to_string(u.join("config.json")).ok())
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .filter(serde_json::Value::is_object)
        .unwrap_or_else(|| serde_json::json!({}));
    let object = config.as_object_mut().expect("an object");
    object.remove("credsStore");
    for (host, credentials) in credentials {
        let key = auth_key(host);
        if let Some(helpers) = object
            .get_mut("credHelpers")
            .and_then(serde_json::Value::as_object_mut)
        {
            helpers.remove(&key);
            helpers.remove(host);
        }
        let auths = object
            .entry("auths")
            .or_insert_with(|| serde_json::json!({}));
        if !auths.is_object() {
            *auths = serde_json::json!({});
        }
        let pair = format!("{}:{}", credentials.username, credentials.password);
        let auth = base64::engine::general_purpose::STANDARD.encode(pair);
        auths[&key] = serde_json::json!({ "auth": auth });
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(dir.join("config.json"))?;
    file.write_all(config.to_string().as_bytes())?;
    if let Some(user) = user {
        for name in LINKED {
            let source = user.join(name);
            if source.exists() {
                std::os::unix::fs::symlink(&source, dir.join(name))?;
            }
        }
    }
    Ok(dir.to_path_buf())
}

/// The key the docker CLI looks a registry's credentials up by.
fn auth_key(host: &str) -> String {
    match host {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => {
            "https://index.docker.io/v1/".into()
        }
        host => host.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn credentials(host: &str) -> (String, Credentials) {
        (
            host.to_string(),
            Credentials {
                username: "ci".into(),
                password: "s3cret-for-the-test".into(),
            },
        )
    }

    #[test]
    fn the_private_config_is_the_users_with_our_credentials_only_for_our_registries() {
        let user = tempfile::tempdir().unwrap();
        std::fs::write(
            user.path().join("config.json"),
            r#"{"credsStore": "desktop",
                "credHelpers": {"127.0.0.1:5000": "pass", "ghcr.io": "gh"},
                "auths": {"registry.example": {"auth": "b3RoZXI6b3RoZXI="}},
                "currentContext": "remote"}"#,
        )
        .unwrap();
        std::fs::create_dir(user.path().join("cli-plugins")).unwrap();
        std::fs::create_dir(user.path().join("buildx")).unwrap();
        let run = tempfile::tempdir().unwrap();
        let dir = write(
            &run.path().join("config"),
            Some(user.path()),
            &[credentials("127.0.0.1:5000"), credentials("docker.io")],
        )
        .unwrap();

        let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("config.json")), 0o600);
        let config: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap())
                .unwrap();
        let auth = |key: &str| config["auths"][key]["auth"].as_str().unwrap().to_string();
        let ours = base64::engine::general_purpose::STANDARD.encode("ci:s3cret-for-the-test");
        assert_eq!(auth("127.0.0.1:5000"), ours);
        assert_eq!(auth("https://index.docker.io/v1/"), ours);
        assert_eq!(auth("registry.example"), "b3RoZXI6b3RoZXI=");
        assert!(config.get("credsStore").is_none());
        assert_eq!(config["credHelpers"], serde_json::json!({"ghcr.io": "gh"}));
        assert_eq!(config["currentContext"], "remote");
        for name in ["cli-plugins", "buildx"] {
            assert_eq!(
                std::fs::read_link(dir.join(name)).unwrap(),
                user.path().join(name)
            );
        }
        assert!(!dir.join("contexts").exists());
    }

    #[test]
    fn without_a_user_config_only_our_credentials_are_there() {
        let run = tempfile::tempdir().unwrap();
        let dir = write(
            &run.path().join("config"),
            None,
            &[credentials("127.0.0.1:5000")],
        )
        .unwrap();
        let config: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap())
                .unwrap();
        assert_eq!(config["auths"].as_object().unwrap().len(), 1);
    }
}
