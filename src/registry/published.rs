//! The registry `build --skip-pushed` asks whether a target is already
//! built: the first enabled one, through [`Registry`], with its
//! credentials, its failures said in words and scrubbed of them.

use std::fmt;
use std::sync::Arc;

use super::{Access, Enabled, Held, Registry, Scrubber, classify, reference};

/// One registry, asked what it holds for a package's tag.
#[derive(Clone)]
pub struct Published {
    api: Arc<dyn Registry>,
    registry: Arc<Enabled>,
    scrubber: Arc<Scrubber>,
}

impl fmt::Debug for Published {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Published")
            .field("registry", &self.registry.host)
            .finish_non_exhaustive()
    }
}

/// What `registry` holds under a target's tag.
#[derive(Clone, Debug)]
pub struct Found {
    /// The registry's key in the manifest.
    pub registry: String,
    /// `repository:tag` there.
    pub reference: String,
    /// The image, `None` when there is no such tag.
    pub image: Option<Held>,
}

impl Published {
    /// `registry`, asked through `api`; messages scrubbed by `scrubber`.
    #[must_use]
    pub fn new(api: Arc<dyn Registry>, registry: Arc<Enabled>, scrubber: Arc<Scrubber>) -> Self {
        Self {
            api,
            registry,
            scrubber,
        }
    }

    /// The registry's key in the manifest.
    #[must_use]
    pub fn host(&self) -> &str {
        &self.registry.host
    }

    /// The credentials of the registry, for pulling from it.
    #[must_use]
    pub fn credentials(&self) -> Option<&super::Credentials> {
        self.registry.credentials.as_ref()
    }

    /// `text` (an engine's words about a pull from the registry) without
    /// its credentials.
    #[must_use]
    pub fn scrub(&self, text: &str) -> String {
        self.scrubber.scrub(text)
    }

    /// What the registry holds under `package:tag`; `Ok(None)` when it has
    /// no repository for `package`.
    ///
    /// # Errors
    /// Any failure but "not found", in words, scrubbed of credentials.
    pub async fn find(&self, package: &str, tag: &str) -> Result<Option<Found>, String> {
        let Some(repository) = self.registry.repository(package) else {
            return Ok(None);
        };
        let credentials = self.registry.credentials.as_ref();
        match self.api.image(repository, tag, credentials).await {
            Ok(image) => Ok(Some(Found {
                registry: self.registry.host.clone(),
                reference: reference::tagged(repository, tag),
                image,
            })),
            Err(failure) if classify::not_found(&failure) => Ok(Some(Found {
                registry: self.registry.host.clone(),
                reference: reference::tagged(repository, tag),
                image: None,
            })),
            Err(failure) => {
                let said = failure.describe(&self.registry, repository, Access::Read, 1);
                Err(self.scrubber.scrub(&said))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::fake::Fake;
    use crate::registry::{Credentials, Failure};

    const PASSWORD: &str = "pull-s3cret-word";

    fn published(fake: Fake) -> Published {
        let registry = Enabled {
            host: "r.example".into(),
            repositories: vec![("app".into(), "r.example/org/app".into())],
            credentials: Some(Credentials {
                username: "puller".into(),
                password: PASSWORD.into(),
            }),
            variables: vec!["REG_USER".into(), "REG_PASSWORD".into()],
        };
        let scrubber = Scrubber::new(std::slice::from_ref(&registry));
        Published::new(Arc::new(fake), Arc::new(registry), Arc::new(scrubber))
    }

    #[tokio::test]
    async fn a_tag_held_gives_its_labels_and_a_missing_one_none() {
        let fake = Fake::default();
        fake.hold_image(
            "r.example/org/app",
            "1",
            "sha256:m",
            "sha256:c",
            &[("l", "v")],
        );
        let published = published(fake);
        let found = published.find("app", "1").await.unwrap().unwrap();
        assert_eq!(found.reference, "r.example/org/app:1");
        let image = found.image.unwrap();
        assert_eq!(
            (image.config.as_str(), image.labels["l"].as_str()),
            ("sha256:c", "v")
        );
        let missing = published.find("app", "2").await.unwrap().unwrap();
        assert!(missing.image.is_none());
        assert!(published.find("other", "1").await.unwrap().is_none());
    }

    /// Anything but "not found" is an error in words, never a password.
    #[tokio::test]
    async fn a_registry_failure_is_said_without_the_password() {
        let fake = Fake::default();
        fake.fail(
            "image",
            Failure::Other {
                message: format!("500 Internal Server Error: bad auth {PASSWORD}"),
                transient: true,
            },
        );
        let error = published(fake).find("app", "1").await.unwrap_err();
        assert!(error.contains("500"), "{error}");
        assert!(!error.contains(PASSWORD), "{error}");
        let denied = Fake::default();
        denied.fail("image", Failure::Denied { status: 401 });
        let error = published(denied).find("app", "1").await.unwrap_err();
        assert!(
            error.contains("authentication to `r.example` failed (401)"),
            "{error}"
        );
    }
}
