//! Registries: which of the manifest's are enabled, their credentials (from
//! the environment or the images repo's `.env`; never from the manifest),
//! and what they hold, asked over the OCI distribution API.

use std::collections::HashMap;
use std::fmt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::engine::BoxFuture;
use crate::manifest::Manifest;

/// A user name and password. Never printed: `Debug` hides the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name.
    pub username: String,
    /// The password or token.
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"***")
            .finish()
    }
}

/// A registry to push to.
#[derive(Clone, Debug)]
pub struct Enabled {
    /// Its key in the manifest, e.g. `docker.io`.
    pub host: String,
    /// Package name to repository path.
    pub repositories: Vec<(String, String)>,
    /// Its credentials, when `user`/`pwd` are given.
    pub credentials: Option<Credentials>,
}

impl Enabled {
    /// The repository path of `package` here.
    #[must_use]
    pub fn repository(&self, package: &str) -> Option<&str> {
        self.repositories
            .iter()
            .find(|(p, _)| p == package)
            .map(|(_, r)| r.as_str())
    }
}

/// Why registries cannot be used.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum Error {
    /// A credential variable is not set.
    #[error(
        "registry `{registry}` needs the environment variable `{variable}` ({role}), which is not set"
    )]
    #[diagnostic(help("export it, or put `{variable}=...` in `.env` in the images repo"))]
    MissingVariable {
        /// The registry.
        registry: String,
        /// The variable's name.
        variable: String,
        /// What it holds.
        role: &'static str,
    },
    /// `.env` cannot be read.
    #[error("cannot read `{path}`: {message}")]
    DotEnv {
        /// Its path.
        path: String,
        /// Why.
        message: String,
    },
}

/// Variables from the environment, then from `.env` (the environment wins).
#[derive(Default)]
pub struct Variables {
    dotenv: HashMap<String, String>,
    /// Warnings found while reading (a `.env` others can read).
    pub warnings: Vec<String>,
}

impl Variables {
    /// Reads `.env` in `root`, if there is one.
    ///
    /// # Errors
    /// When `.env` exists but cannot be parsed.
    pub fn load(root: &Path) -> Result<Self, Error> {
        let path = root.join(".env");
        let mut variables = Self::default();
        let Ok(metadata) = std::fs::metadata(&path) else {
            return Ok(variables);
        };
        if metadata.permissions().mode() & 0o044 != 0 {
            variables.warnings.push(format!(
                "`{}` can be read by other users; `chmod 600 {}`",
                path.display(),
                path.display()
            ));
        }
        let entries = dotenvy::from_path_iter(&path).map_err(|e| Error::DotEnv {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        for entry in entries {
            // A line's content may be a secret: never quote it.
            let (name, value) = entry.map_err(|_| Error::DotEnv {
                path: path.display().to_string(),
                message: "a line is not `NAME=value`".into(),
            })?;
            variables.dotenv.insert(name, value);
        }
        Ok(variables)
    }

    /// A variable: the environment's, else `.env`'s; unset when empty.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<String> {
        std::env::var(name)
            .ok()
            .or_else(|| self.dotenv.get(name).cloned())
            .filter(|v| !v.is_empty())
    }
}

/// The registries whose `only_if` variable is set, with their credentials.
///
/// # Errors
/// When an enabled registry's `user` or `pwd` variable is not set.
pub fn enabled(manifest: &Manifest, variables: &Variables) -> Result<Vec<Enabled>, Error> {
    let mut registries = Vec::new();
    for registry in &manifest.registries {
        if let Some(only_if) = &registry.only_if
            && variables.get(only_if).is_none()
        {
            continue;
        }
        let read =
            |variable: &Option<String>, role: &'static str| -> Result<Option<String>, Error> {
                let Some(variable) = variable else {
                    return Ok(None);
                };
                variables
                    .get(variable)
                    .map(Some)
                    .ok_or_else(|| Error::MissingVariable {
                        registry: registry.host.clone(),
                        variable: variable.clone(),
                        role,
                    })
            };
        let username = read(&registry.user, "the user name")?;
        let password = read(&registry.pwd, "the password")?;
        registries.push(Enabled {
            host: registry.host.clone(),
            repositories: registry.repositories.clone(),
            credentials: username
                .zip(password)
                .map(|(username, password)| Credentials { username, password }),
        });
    }
    Ok(registries)
}

/// Removes every credential from text that may quote one (registry errors).
#[derive(Clone, Debug, Default)]
pub struct Scrubber {
    secrets: Vec<String>,
}

impl Scrubber {
    /// A scrubber for the passwords of `registries`.
    #[must_use]
    pub fn new(registries: &[Enabled]) -> Self {
        let mut secrets: Vec<String> = registries
            .iter()
            .filter_map(|r| r.credentials.as_ref())
            .map(|c| c.password.clone())
            .filter(|p| !p.is_empty())
            .collect();
        // Longest first, so that a secret containing another is hidden whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Self { secrets }
    }

    /// `text` with every secret replaced by `***`.
    #[must_use]
    pub fn scrub(&self, text: &str) -> String {
        let mut text = text.to_string();
        for secret in &self.secrets {
            text = text.replace(secret.as_str(), "***");
        }
        text
    }
}

/// Asks a registry what it holds.
pub trait Registry: Send + Sync {
    /// The manifest digest of `repository:tag`, or `None` when there is no such tag.
    fn digest<'a>(
        &'a self,
        repository: &'a str,
        tag: &'a str,
        credentials: Option<&'a Credentials>,
    ) -> BoxFuture<'a, Result<Option<String>, String>>;

    /// Every tag of `repository`.
    fn tags<'a>(
        &'a self,
        repository: &'a str,
        credentials: Option<&'a Credentials>,
    ) -> BoxFuture<'a, Result<Vec<String>, String>>;

    /// Whether `credentials` may push to `repository`: an error says why not.
    fn writable<'a>(
        &'a self,
        repository: &'a str,
        credentials: Option<&'a Credentials>,
    ) -> BoxFuture<'a, Result<(), String>>;
}

/// The OCI empty blob (`{}`): what [`Registry::writable`] uploads to prove
/// push access. Registries hold it for every image built with an empty
/// config, and an unreferenced blob is garbage-collected.
const EMPTY_BLOB: &[u8] = b"{}";
const EMPTY_BLOB_DIGEST: &str =
    "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

/// The OCI distribution API, over HTTPS, or plain HTTP for loopback
/// registries (as Docker treats 127.0.0.0/8 as insecure).
pub struct Distribution {
    client: oci_client::Client,
}

fn is_loopback(host: &str) -> bool {
    let name = host.rsplit_once(':').map_or(host, |(h, _)| h);
    name == "localhost" || name.starts_with("127.") || name == "[::1]"
}

impl Distribution {
    /// A client for `registries`.
    #[must_use]
    pub fn new(registries: &[Enabled]) -> Self {
        let insecure: Vec<String> = registries
            .iter()
            .flat_map(|r| {
                r.repositories
                    .iter()
                    .map(|(_, path)| path.split('/').next().unwrap_or_default().to_string())
            })
            .filter(|host| is_loopback(host))
            .collect();
        let config = oci_client::client::ClientConfig {
            protocol: oci_client::client::ClientProtocol::HttpsExcept(insecure),
            ..Default::default()
        };
        Self {
            client: oci_client::Client::new(config),
        }
    }
}

fn auth(credentials: Option<&Credentials>) -> oci_client::secrets::RegistryAuth {
    match credentials {
        Some(c) => oci_client::secrets::RegistryAuth::Basic(c.username.clone(), c.password.clone()),
        None => oci_client::secrets::RegistryAuth::Anonymous,
    }
}

/// An error with its causes, as `a: b: c` (connection errors say what
/// happened only in their causes).
fn chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

/// Whether a registry error says the repository or tag does not exist
/// (looked for outside URLs and digests, so a port 4040 is not a 404).
fn not_found(message: &str) -> bool {
    let words = crate::engine::without_locations(message);
    [
        "404",
        "name_unknown",
        "manifest_unknown",
        "manifest unknown",
        "repository name not known",
        "not found",
    ]
    .iter()
    .any(|m| words.contains(m))
}

fn reference(repository: &str, tag: &str) -> Result<oci_client::Reference, String> {
    format!("{repository}:{tag}")
        .parse()
        .map_err(|e| format!("`{repository}:{tag}` is not a reference: {e}"))
}

impl Registry for Distribution {
    fn digest<'a>(
        &'a self,
        repository: &'a str,
        tag: &'a str,
        credentials: Option<&'a Credentials>,
    ) -> BoxFuture<'a, Result<Option<String>, String>> {
        Box::pin(async move {
            let reference = reference(repository, tag)?;
            match self
                .client
                .fetch_manifest_digest(&reference, &auth(credentials))
                .await
            {
                Ok(digest) => Ok(Some(digest)),
                Err(e) => {
                    let message = chain(&e);
                    if not_found(&message) {
                        Ok(None)
                    } else {
                        Err(message)
                    }
                }
            }
        })
    }

    /// Uploads the empty blob: listing tags or asking for a push token
    /// would pass with read-only credentials (a token registry grants only
    /// what it may, without an error), starting an upload does not.
    fn writable<'a>(
        &'a self,
        repository: &'a str,
        credentials: Option<&'a Credentials>,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let reference = reference(repository, "latest")?;
            let auth = auth(credentials);
            self.client
                .auth(&reference, &auth, oci_client::RegistryOperation::Push)
                .await
                .map_err(|e| chain(&e))?;
            self.client
                .push_blob(&reference, EMPTY_BLOB, EMPTY_BLOB_DIGEST)
                .await
                .map(drop)
                .map_err(|e| chain(&e))
        })
    }

    fn tags<'a>(
        &'a self,
        repository: &'a str,
        credentials: Option<&'a Credentials>,
    ) -> BoxFuture<'a, Result<Vec<String>, String>> {
        Box::pin(async move {
            let reference = reference(repository, "latest")?;
            match self
                .client
                .list_tags(&reference, &auth(credentials), None, None)
                .await
            {
                Ok(response) => Ok(response.tags),
                Err(e) => {
                    let message = chain(&e);
                    if not_found(&message) {
                        Ok(Vec::new())
                    } else {
                        Err(message)
                    }
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_scrubbed_and_never_debug_printed() {
        let registry = Enabled {
            host: "r".into(),
            repositories: Vec::new(),
            credentials: Some(Credentials {
                username: "u".into(),
                password: "s3cret".into(),
            }),
        };
        let scrubber = Scrubber::new(std::slice::from_ref(&registry));
        assert_eq!(
            scrubber.scrub("login u:s3cret failed"),
            "login u:*** failed"
        );
        assert!(!format!("{registry:?}").contains("s3cret"));
    }

    #[test]
    fn the_empty_blob_digest_is_its_sha256() {
        use sha2::Digest;
        use std::fmt::Write;
        let mut digest = String::from("sha256:");
        for byte in sha2::Sha256::digest(EMPTY_BLOB) {
            write!(digest, "{byte:02x}").unwrap();
        }
        assert_eq!(digest, EMPTY_BLOB_DIGEST);
    }

    #[test]
    fn loopback_registries_use_plain_http() {
        assert!(is_loopback("127.0.0.1:5000") && is_loopback("localhost:5000"));
        assert!(!is_loopback("docker.io") && !is_loopback("ghcr.io"));
    }
}
