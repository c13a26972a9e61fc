//! The OCI distribution API client behind [`Registry`]: plain HTTP for
//! loopback registries, every request bounded, and a refused login told
//! apart from a token server that is down or a proxy in the way.

use std::time::Duration;

use futures_util::future::BoxFuture;

use super::enabled::{Credentials, Enabled};
use super::failure::Failure;
use super::index::{self, Contents, Manifest, Single};
use super::{Held, Registry, classify, reference};

mod cause;
#[cfg(test)]
mod served;

use cause::proxy_for;

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

impl Distribution {
    /// A client for `registries`, each request bounded by `timeout`.
    #[must_use]
    pub fn new(registries: &[Enabled], timeout: Duration) -> Self {
        let insecure: Vec<String> = registries
            .iter()
            .flat_map(|r| {
                r.repositories
                    .iter()
                    .map(|(_, path)| super::reference::host(path).to_string())
            })
            .filter(|host| crate::registry::reference::is_loopback(host))
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
            Ok(Err(e)) => match classify::oci(&e, self.timeout) {
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
}

fn auth(credentials: Option<&Credentials>) -> oci_client::secrets::RegistryAuth {
    match credentials {
        Some(c) => oci_client::secrets::RegistryAuth::Basic(c.username.clone(), c.password.clone()),
        None => oci_client::secrets::RegistryAuth::Anonymous,
    }
}

fn reference(repository: &str, tag: &str) -> Result<oci_client::Reference, Failure> {
    reference::tagged(repository, tag)
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
                Err(failure) if classify::not_found(&failure) => Ok(None),
                Err(failure) => Err(failure),
            }
        })
    }

    /// The manifest, then the config blob it names: what the image's
    /// labels say.
    fn image<'a>(
        &'a self,
        repository: &'a str,
        tag: &'a str,
        credentials: Option<&'a Credentials>,
    ) -> BoxFuture<'a, Result<Option<Held>, Failure>> {
        Box::pin(async move {
            let reference = reference(repository, tag)?;
            let auth = auth(credentials);
            // For an index, the config (labels) of this machine's platform,
            // and the digest of the index: what the tag resolves to.
            let (manifest, digest, config, list) = match self
                .bounded(
                    &reference,
                    credentials,
                    self.client
                        .pull_manifest_and_config_and_list_digest(&reference, &auth),
                )
                .await
            {
                Ok(found) => found,
                Err(failure) if classify::not_found(&failure) => return Ok(None),
                Err(failure) => return Err(failure),
            };
            Ok(Some(Held {
                digest: list.unwrap_or(digest),
                config: manifest.config.digest,
                labels: labels_of(&config).map_err(|e| Failure::Other {
                    message: format!(
                        "the config of `{repository}:{tag}` is not an image config: {e}"
                    ),
                    transient: false,
                })?,
            }))
        })
    }

    /// The manifest, asked for in any of the four types a tag may hold (so
    /// that an index is answered as itself), and for a single image its
    /// config, for the platform it names.
    fn contents<'a>(
        &'a self,
        repository: &'a str,
        tag: &'a str,
        credentials: Option<&'a Credentials>,
    ) -> BoxFuture<'a, Result<Option<Contents>, Failure>> {
        Box::pin(async move {
            let reference = reference(repository, tag)?;
            let auth = auth(credentials);
            let (body, digest) = match self
                .bounded(
                    &reference,
                    credentials,
                    self.client
                        .pull_manifest_raw(&reference, &auth, &index::ACCEPTED),
                )
                .await
            {
                Ok(found) => found,
                Err(failure) if classify::not_found(&failure) => return Ok(None),
                Err(failure) => return Err(failure),
            };
            let unreadable = |message: String| Failure::Other {
                message: format!("the manifest of `{repository}:{tag}` cannot be read: {message}"),
                transient: false,
            };
            let (media_type, config) =
                match index::read_manifest(&body, &digest).map_err(&unreadable)? {
                    Manifest::Index(index) => return Ok(Some(Contents::Index(index))),
                    Manifest::Single { media_type, config } => (media_type, config),
                };
            let mut blob = Vec::new();
            self.bounded(
                &reference,
                credentials,
                self.client
                    .pull_blob(&reference, config.as_str(), &mut blob),
            )
            .await
            .map_err(|failure| config_failure(failure, repository, tag, &config))?;
            Ok(Some(Contents::Single(Single {
                digest,
                media_type,
                platform: index::platform_of_config(&blob).map_err(&unreadable)?,
            })))
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
                Err(failure) if classify::not_found(&failure) => Ok(Vec::new()),
                Err(failure) => Err(failure),
            }
        })
    }
}

/// A failure to fetch the config of `repository:tag`: one that says "not
/// found" is a broken image, not a missing tag, and must not read as one.
fn config_failure(failure: Failure, repository: &str, tag: &str, config: &str) -> Failure {
    if classify::not_found(&failure) {
        Failure::Other {
            message: format!(
                "the registry lacks the config `{config}` that the manifest of `{repository}:{tag}` names: push the tag again"
            ),
            transient: false,
        }
    } else {
        failure
    }
}

/// The labels of an image config (`config.Labels`, which Docker writes
/// `null` when there are none).
fn labels_of(config: &str) -> Result<std::collections::HashMap<String, String>, serde_json::Error> {
    #[derive(serde::Deserialize)]
    struct Config {
        #[serde(default)]
        config: Option<Inner>,
    }
    #[derive(serde::Deserialize)]
    struct Inner {
        #[serde(rename = "Labels", default)]
        labels: Option<std::collections::HashMap<String, String>>,
    }
    let config: Config = serde_json::from_str(config)?;
    Ok(config.config.and_then(|c| c.labels).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_read_from_the_image_config_and_null_is_none() {
        let config = r#"{"architecture":"amd64","config":{"Env":["A=b"],"Labels":{"org.bentoml.docker.inputs":"sha256:1"}},"rootfs":{}}"#;
        let labels = labels_of(config).unwrap();
        assert_eq!(labels["org.bentoml.docker.inputs"], "sha256:1");
        assert!(
            labels_of(r#"{"config":{"Labels":null}}"#)
                .unwrap()
                .is_empty()
        );
        assert!(labels_of(r#"{"rootfs":{}}"#).unwrap().is_empty());
        assert!(labels_of("[1]").is_err());
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
        assert!(
            crate::registry::reference::is_loopback("127.0.0.1:5000")
                && crate::registry::reference::is_loopback("localhost:5000")
        );
        assert!(
            !crate::registry::reference::is_loopback("docker.io")
                && !crate::registry::reference::is_loopback("ghcr.io")
        );
    }
}
