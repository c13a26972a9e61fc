//! Registries: which of the manifest's are enabled, their credentials (from
//! the environment or the images repo's `.env`; never from the manifest),
//! and what they hold, asked over the OCI distribution API.

use std::collections::HashMap;
use std::fmt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use crate::engine::BoxFuture;
use crate::manifest::Manifest;

mod scrub;

pub use scrub::Scrubber;

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
    /// The names of the variables `user` and `pwd` name, for messages.
    pub variables: Vec<String>,
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

impl Error {
    /// 2: a credential variable or `.env` is set up wrong, which the user
    /// fixes before any push is tried.
    #[must_use]
    pub fn exit_code(&self) -> u8 {
        2
    }
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
            variables: [&registry.user, &registry.pwd]
                .into_iter()
                .flatten()
                .cloned()
                .collect(),
        });
    }
    Ok(registries)
}

/// ` after N attempts` when there was more than one, else nothing: the
/// one way retries are said.
#[must_use]
pub fn after_attempts(attempts: u32) -> String {
    if attempts > 1 {
        format!(" after {attempts} attempts")
    } else {
        String::new()
    }
}

/// What an account needed of a repository when it was denied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Pushing (the credential check and pushes).
    Push,
    /// Reading (`status`, the check after a push).
    Read,
}

/// Why a request to a registry failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The registry refused the credentials (401) or what they may do (403).
    Denied {
        /// The HTTP status.
        status: u16,
    },
    /// The connection could not be made: refused, or the name did not resolve.
    Unreachable {
        /// True when the host refused the connection (nothing listens).
        refused: bool,
        /// What the client said, for the other cases.
        message: String,
        /// The proxy the connection went to, when one is configured for
        /// the host (it, not the registry, refused or could not be reached).
        proxy: Option<String>,
    },
    /// The token server the registry sends clients to failed (5xx, 429):
    /// the credentials were not judged.
    TokenServer {
        /// Where it is (without its query).
        url: String,
        /// The HTTP status it answered.
        status: u16,
    },
    /// No answer within the bound.
    Silent {
        /// The bound.
        after: Duration,
    },
    /// Anything else: a 5xx or 429, a malformed answer, a cut connection.
    Other {
        /// What was said (may quote credentials: scrub it).
        message: String,
        /// Whether retrying may help.
        transient: bool,
    },
}

impl Failure {
    /// Whether retrying may help.
    #[must_use]
    pub fn transient(&self) -> bool {
        match self {
            Self::Denied { .. } => false,
            Self::Unreachable { .. } | Self::Silent { .. } | Self::TokenServer { .. } => true,
            Self::Other { transient, .. } => *transient,
        }
    }

    /// What happened, in words, for `registry` (and `repository`, when the
    /// request concerned one), after `attempts`, when the account needed
    /// `access`: what to check next, and never the registry's raw answer
    /// when the status says it all.
    #[must_use]
    pub fn describe(
        &self,
        registry: &Enabled,
        repository: &str,
        access: Access,
        attempts: u32,
    ) -> String {
        let host = &registry.host;
        let after = after_attempts(attempts);
        let variables = registry
            .variables
            .iter()
            .map(|v| format!("`{v}`"))
            .collect::<Vec<_>>()
            .join(" and ");
        match self {
            Self::Denied { status: 401 } if variables.is_empty() => format!(
                "`{host}` requires authentication (401): name the variables that hold its credentials with `user` and `pwd` in the manifest"
            ),
            Self::Denied { status: 401 } => format!(
                "authentication to `{host}` failed (401): check the variables its `user`/`pwd` name, {variables}"
            ),
            Self::Denied { status } => format!(
                "`{host}` denied access to `{repository}` ({status}): the account in {} may not {} there: check its permissions",
                registry
                    .variables
                    .first()
                    .map_or_else(|| "its `user` variable".to_string(), |v| format!("`{v}`")),
                match access {
                    Access::Push => "push",
                    Access::Read => "read",
                }
            ),
            Self::Unreachable {
                refused,
                message,
                proxy: Some(proxy),
            } => format!(
                "the proxy {proxy} {}{after} on the way to `{host}`: is it running, or should `{host}` be in `no_proxy`?",
                if *refused {
                    "refused the connection".to_string()
                } else {
                    format!("could not be reached ({message})")
                }
            ),
            Self::Unreachable { refused: true, .. } => {
                format!("`{host}` refused the connection{after}: is it running?")
            }
            Self::Unreachable { message, .. } => format!(
                "`{host}` could not be reached{after} ({message}): is the name right, and is it running?"
            ),
            Self::TokenServer { url, status } => format!(
                "the token server at {url} failed ({status}){after}: the credentials for `{host}` were not checked; try again later"
            ),
            Self::Silent { after: bound } => format!(
                "`{host}` did not answer within {} s{after}: is it overloaded, or is a proxy in between stuck? (`--timeout` sets the bound)",
                bound.as_secs_f64()
            ),
            Self::Other { message, .. } => format!("`{host}` failed{after}: {message}"),
        }
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
    ) -> BoxFuture<'a, Result<Option<String>, Failure>>;

    /// Every tag of `repository`.
    fn tags<'a>(
        &'a self,
        repository: &'a str,
        credentials: Option<&'a Credentials>,
    ) -> BoxFuture<'a, Result<Vec<String>, Failure>>;

    /// Whether `credentials` may push to `repository`: an error says why not.
    fn writable<'a>(
        &'a self,
        repository: &'a str,
        credentials: Option<&'a Credentials>,
    ) -> BoxFuture<'a, Result<(), Failure>>;
}

/// The OCI empty blob (`{}`): what [`Registry::writable`] uploads to prove
/// push access. Registries hold it for every image built with an empty
/// config, and an unreferenced blob is garbage-collected.
const EMPTY_BLOB: &[u8] = b"{}";
const EMPTY_BLOB_DIGEST: &str =
    "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

/// The OCI distribution API, over HTTPS, or plain HTTP for loopback
/// registries (as Docker treats 127.0.0.0/8 as insecure). Every request is
/// bounded: a registry that takes the connection and never answers fails
/// it as [`Failure::Silent`].
pub struct Distribution {
    client: oci_client::Client,
    timeout: Duration,
}

fn is_loopback(host: &str) -> bool {
    let name = host.rsplit_once(':').map_or(host, |(h, _)| h);
    name == "localhost" || name.starts_with("127.") || name == "[::1]"
}

impl Distribution {
    /// A client for `registries`, each request bounded by `timeout`.
    #[must_use]
    pub fn new(registries: &[Enabled], timeout: Duration) -> Self {
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
            connect_timeout: Some(timeout),
            read_timeout: Some(timeout),
            ..Default::default()
        };
        Self {
            client: oci_client::Client::new(config),
            timeout,
        }
    }

    /// `request` for `reference`, failed as [`Failure::Silent`] past the
    /// bound.
    async fn bounded<T>(
        &self,
        reference: &oci_client::Reference,
        credentials: Option<&Credentials>,
        request: impl Future<Output = Result<T, oci_client::errors::OciDistributionError>>,
    ) -> Result<T, Failure> {
        match tokio::time::timeout(self.timeout, request).await {
            Ok(Ok(value)) => Ok(value),
            // The client says the same for any answer of the token server
            // but 200 (or goes on without a token, and the registry says
            // 401): a wrong password and a token server that is down.
            Ok(Err(e)) => match failure(&e, self.timeout) {
                Failure::Denied { status: 401 } => {
                    Err(self.token_server(reference, credentials).await)
                }
                Failure::Unreachable {
                    refused, message, ..
                } => Err(Failure::Unreachable {
                    refused,
                    message,
                    proxy: proxy_for(reference.resolve_registry()),
                }),
                failure => Err(failure),
            },
            Err(_) => Err(Failure::Silent {
                after: self.timeout,
            }),
        }
    }

    /// Why a registry refused `credentials` (401): when it sends clients to
    /// a token server, that server is asked again to learn its status:
    /// 401/403 is the credentials, 5xx and 429 the server.
    async fn token_server(
        &self,
        reference: &oci_client::Reference,
        credentials: Option<&Credentials>,
    ) -> Failure {
        let denied = Failure::Denied { status: 401 };
        let host = reference.resolve_registry();
        let scheme = if is_loopback(host) { "http" } else { "https" };
        let Ok(client) = reqwest::Client::builder().timeout(self.timeout).build() else {
            return denied;
        };
        let Ok(Ok(answer)) = tokio::time::timeout(
            self.timeout,
            client.get(format!("{scheme}://{host}/v2/")).send(),
        )
        .await
        else {
            return denied;
        };
        let Some((realm, service)) = answer
            .headers()
            .get(reqwest::header::WWW_AUTHENTICATE)
            .and_then(|h| h.to_str().ok())
            .and_then(bearer_challenge)
        else {
            return denied;
        };
        let mut query = vec![(
            "scope",
            format!("repository:{}:pull", reference.repository()),
        )];
        if let Some(service) = service {
            query.push(("service", service));
        }
        let mut request = client.get(&realm).query(&query);
        if let Some(c) = credentials {
            request = request.basic_auth(&c.username, Some(&c.password));
        }
        let url = realm.split('?').next().unwrap_or_default().to_string();
        match tokio::time::timeout(self.timeout, request.send()).await {
            Ok(Ok(answer)) => match answer.status().as_u16() {
                status @ (429 | 500..) => Failure::TokenServer { url, status },
                _ => denied,
            },
            Ok(Err(e)) if e.is_timeout() => Failure::Silent {
                after: self.timeout,
            },
            Ok(Err(e)) => Failure::Other {
                message: format!(
                    "the token server at {url} could not be reached: {}",
                    chain(&e)
                ),
                transient: true,
            },
            Err(_) => Failure::Silent {
                after: self.timeout,
            },
        }
    }
}

/// The proxy requests to `host` go through, as the HTTP client picks it
/// from the environment (`http_proxy` for loopback registries, spoken to
/// over HTTP, `https_proxy` otherwise, then `all_proxy`; upper case too),
/// unless `no_proxy` names the host: `URL` (from `VARIABLE`), without
/// credentials.
fn proxy_for(host: &str) -> Option<String> {
    proxy_from(host, |name| std::env::var(name).ok())
}

fn proxy_from(host: &str, var: impl Fn(&str) -> Option<String>) -> Option<String> {
    // The value, and the variable it came from.
    let var = |name: &str| {
        let upper = name.to_ascii_uppercase();
        [name.to_string(), upper]
            .into_iter()
            .find_map(|n| var(&n).filter(|v| !v.trim().is_empty()).map(|v| (n, v)))
    };
    let name = host.rsplit_once(':').map_or(host, |(h, _)| h);
    if let Some((_, no_proxy)) = var("no_proxy")
        && no_proxy.split(',').map(str::trim).any(|entry| {
            let entry = entry.trim_start_matches('.');
            let entry = entry.rsplit_once(':').map_or(entry, |(h, _)| h);
            entry == "*"
                || (!entry.is_empty() && (name == entry || name.ends_with(&format!(".{entry}"))))
        })
    {
        return None;
    }
    let scheme = if is_loopback(host) { "http" } else { "https" };
    let variable = format!("{scheme}_proxy");
    [variable.as_str(), "all_proxy"].iter().find_map(|v| {
        var(v).map(|(v, url)| {
            let url = match url.split_once("://") {
                Some((scheme, rest)) => {
                    format!(
                        "{scheme}://{}",
                        rest.rsplit_once('@').map_or(rest, |(_, h)| h)
                    )
                }
                None => url
                    .rsplit_once('@')
                    .map_or(url.as_str(), |(_, h)| h)
                    .to_string(),
            };
            format!("`{url}` (from `{v}`)")
        })
    })
}

/// The `realm` and `service` of a `Bearer` challenge.
fn bearer_challenge(header: &str) -> Option<(String, Option<String>)> {
    let (scheme, parameters) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut realm = None;
    let mut service = None;
    for parameter in parameters.split(',') {
        let Some((name, value)) = parameter.split_once('=') else {
            continue;
        };
        let value = value.trim().trim_matches('"').to_string();
        match name.trim().to_ascii_lowercase().as_str() {
            "realm" => realm = Some(value),
            "service" => service = Some(value),
            _ => {}
        }
    }
    Some((realm?, service))
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

/// What an error of the OCI client means for the user.
fn failure(error: &oci_client::errors::OciDistributionError, bound: Duration) -> Failure {
    use oci_client::errors::{OciDistributionError as E, OciErrorCode as Code};
    let message = chain(error);
    match error {
        E::UnauthorizedError { .. } | E::AuthenticationFailure(_) => {
            Failure::Denied { status: 401 }
        }
        E::ServerError {
            code: code @ (401 | 403),
            ..
        } => Failure::Denied { status: *code },
        E::ServerError { code, .. } => Failure::Other {
            transient: *code >= 500 || *code == 429,
            message,
        },
        E::RegistryError { envelope, .. } => {
            let codes: Vec<&Code> = envelope.errors.iter().map(|e| &e.code).collect();
            if codes.contains(&&Code::Unauthorized) {
                Failure::Denied { status: 401 }
            } else if codes.contains(&&Code::Denied) {
                Failure::Denied { status: 403 }
            } else {
                Failure::Other {
                    transient: codes.contains(&&Code::Toomanyrequests),
                    message,
                }
            }
        }
        E::RequestError(e) if e.is_timeout() => Failure::Silent { after: bound },
        E::RequestError(e) if e.is_connect() => {
            let refused = message.to_ascii_lowercase().contains("connection refused");
            let cause = message.rsplit(": ").next().unwrap_or_default().to_string();
            Failure::Unreachable {
                refused,
                message: cause,
                proxy: None,
            }
        }
        E::RequestError(_) | E::IoError(_) => Failure::Other {
            message,
            transient: true,
        },
        _ => Failure::Other {
            transient: crate::engine::transient(&message),
            message,
        },
    }
}

/// Whether a failure says the repository or tag does not exist (looked for
/// outside URLs and digests, so a port 4040 is not a 404).
fn not_found(failure: &Failure) -> bool {
    let Failure::Other { message, .. } = failure else {
        return false;
    };
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

fn reference(repository: &str, tag: &str) -> Result<oci_client::Reference, Failure> {
    format!("{repository}:{tag}")
        .parse()
        .map_err(|e| Failure::Other {
            message: format!("`{repository}:{tag}` is not a reference: {e}"),
            transient: false,
        })
}

impl Registry for Distribution {
    fn digest<'a>(
        &'a self,
        repository: &'a str,
        tag: &'a str,
        credentials: Option<&'a Credentials>,
    ) -> BoxFuture<'a, Result<Option<String>, Failure>> {
        Box::pin(async move {
            let reference = reference(repository, tag)?;
            let auth = auth(credentials);
            match self
                .bounded(
                    &reference,
                    credentials,
                    self.client.fetch_manifest_digest(&reference, &auth),
                )
                .await
            {
                Ok(digest) => Ok(Some(digest)),
                Err(failure) if not_found(&failure) => Ok(None),
                Err(failure) => Err(failure),
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
    ) -> BoxFuture<'a, Result<(), Failure>> {
        Box::pin(async move {
            let reference = reference(repository, "latest")?;
            let auth = auth(credentials);
            self.bounded(
                &reference,
                credentials,
                self.client
                    .auth(&reference, &auth, oci_client::RegistryOperation::Push),
            )
            .await?;
            self.bounded(
                &reference,
                credentials,
                self.client
                    .push_blob(&reference, EMPTY_BLOB, EMPTY_BLOB_DIGEST),
            )
            .await
            .map(drop)
        })
    }

    fn tags<'a>(
        &'a self,
        repository: &'a str,
        credentials: Option<&'a Credentials>,
    ) -> BoxFuture<'a, Result<Vec<String>, Failure>> {
        Box::pin(async move {
            let reference = reference(repository, "latest")?;
            let auth = auth(credentials);
            match self
                .bounded(
                    &reference,
                    credentials,
                    self.client.list_tags(&reference, &auth, None, None),
                )
                .await
            {
                Ok(response) => Ok(response.tags),
                Err(failure) if not_found(&failure) => Ok(Vec::new()),
                Err(failure) => Err(failure),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_never_debug_printed() {
        let registry = Enabled {
            host: "r".into(),
            repositories: Vec::new(),
            credentials: Some(Credentials {
                username: "u".into(),
                password: "s3cret".into(),
            }),
            variables: Vec::new(),
        };
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
    fn registry_errors_become_what_they_mean() {
        use oci_client::errors::{OciDistributionError as E, OciEnvelope, OciError, OciErrorCode};
        let bound = Duration::from_secs(1);
        let server = |code: u16| E::ServerError {
            code,
            url: "http://r.example/v2/a/blobs/uploads/u?_state=x".into(),
            message: "{}".into(),
        };
        let envelope = |code: OciErrorCode| E::RegistryError {
            envelope: OciEnvelope {
                errors: vec![OciError {
                    code,
                    message: "no".into(),
                    detail: serde_json::Value::Null,
                }],
            },
            url: "http://r.example/v2/".into(),
        };
        assert_eq!(
            failure(&server(401), bound),
            Failure::Denied { status: 401 }
        );
        assert_eq!(
            failure(&server(403), bound),
            Failure::Denied { status: 403 }
        );
        assert_eq!(
            failure(&envelope(OciErrorCode::Unauthorized), bound),
            Failure::Denied { status: 401 }
        );
        assert_eq!(
            failure(&envelope(OciErrorCode::Denied), bound),
            Failure::Denied { status: 403 }
        );
        assert!(failure(&server(503), bound).transient());
        assert!(failure(&server(429), bound).transient());
        assert!(failure(&envelope(OciErrorCode::Toomanyrequests), bound).transient());
        assert!(!failure(&server(400), bound).transient());
        let found = failure(&envelope(OciErrorCode::ManifestUnknown), bound);
        assert!(!found.transient());
    }

    /// The bug: a 403 said "check what the account in `A` and `B` may do
    /// there", naming the password's variable as an account, and not what
    /// was refused.
    #[test]
    fn a_403_names_the_account_variable_and_what_it_may_not_do() {
        let registry = Enabled {
            host: "r.example".into(),
            repositories: Vec::new(),
            credentials: None,
            variables: vec!["REG_USER".into(), "REG_PASSWORD".into()],
        };
        let denied = Failure::Denied { status: 403 };
        assert_eq!(
            denied.describe(&registry, "r.example/org/app", Access::Push, 1),
            "`r.example` denied access to `r.example/org/app` (403): the account in `REG_USER` may not push there: check its permissions"
        );
        assert!(
            denied
                .describe(&registry, "r.example/org/app", Access::Read, 1)
                .contains("may not read there")
        );
    }

    #[test]
    fn the_proxy_of_a_host_is_found_as_the_client_finds_it() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                vars.iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| (*v).to_string())
            }
        };
        let vars = &[
            ("http_proxy", "http://u:secret@127.0.0.1:3128"),
            ("HTTPS_PROXY", "http://proxy.example:8080"),
            ("no_proxy", "internal.example,.corp"),
        ];
        assert_eq!(
            proxy_from("127.0.0.1:5000", env(vars)).as_deref(),
            Some("`http://127.0.0.1:3128` (from `http_proxy`)")
        );
        assert_eq!(
            proxy_from("ghcr.io", env(vars)).as_deref(),
            Some("`http://proxy.example:8080` (from `HTTPS_PROXY`)")
        );
        assert_eq!(proxy_from("internal.example:443", env(vars)), None);
        assert_eq!(proxy_from("r.corp", env(vars)), None);
        assert_eq!(proxy_from("ghcr.io", env(&[])), None);
    }

    #[test]
    fn loopback_registries_use_plain_http() {
        assert!(is_loopback("127.0.0.1:5000") && is_loopback("localhost:5000"));
        assert!(!is_loopback("docker.io") && !is_loopback("ghcr.io"));
    }
}
