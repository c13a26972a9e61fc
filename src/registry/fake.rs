//! A registry in memory, for tests: it holds tags, may insist on
//! credentials, can be made to fail chosen requests, and records every
//! request it is asked, so that a test can tell what was asked again.

// A poisoned lock is a test that already failed.
#![allow(clippy::missing_panics_doc)]

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use futures_util::future::BoxFuture;

use super::enabled::Credentials;
use super::failure::Failure;
use super::index::{Contents, Index, Single};
use super::{Held, Registry};

/// The fake registry.
#[derive(Default)]
pub struct Fake {
    /// Tag -> digest, per repository.
    pub repositories: Mutex<HashMap<String, BTreeMap<String, String>>>,
    /// The only credentials it accepts; anything else is refused (401).
    /// Every request is welcome when `None`.
    pub accepts: Option<Credentials>,
    /// Failures to give, each to every request that begins with its
    /// prefix (requests are written as in [`Fake::asked`]).
    pub failing: Mutex<Vec<(String, Failure)>>,
    /// The labels and config of the images held, per `REPOSITORY:TAG`
    /// (a tag held without them has no labels).
    pub images: Mutex<HashMap<String, Held>>,
    /// What the tags hold as a whole, per `REPOSITORY:TAG` (a tag held
    /// without it is a single image of no known platform).
    pub contents: Mutex<HashMap<String, Contents>>,
    /// Requests, in order: `tags REPOSITORY`, `digest REPOSITORY:TAG`,
    /// `image REPOSITORY:TAG`, `contents REPOSITORY:TAG`,
    /// `writable REPOSITORY`.
    pub asked: Mutex<Vec<String>>,
}

impl Fake {
    /// A registry that holds `tags` (tag, digest) in `repository`.
    #[must_use]
    pub fn holding(repository: &str, tags: &[(&str, &str)]) -> Self {
        let fake = Self::default();
        for (tag, digest) in tags {
            fake.hold(repository, tag, digest);
        }
        fake
    }

    /// Puts `digest` under `repository:tag`.
    pub fn hold(&self, repository: &str, tag: &str, digest: &str) {
        self.repositories
            .lock()
            .unwrap()
            .entry(repository.to_string())
            .or_default()
            .insert(tag.to_string(), digest.to_string());
    }

    /// Puts an image labelled `labels` under `repository:tag`, its
    /// manifest at `digest` and its config at `config`.
    pub fn hold_image(
        &self,
        repository: &str,
        tag: &str,
        digest: &str,
        config: &str,
        labels: &[(&str, &str)],
    ) {
        self.hold(repository, tag, digest);
        self.images.lock().unwrap().insert(
            format!("{repository}:{tag}"),
            Held {
                digest: digest.to_string(),
                config: config.to_string(),
                labels: labels
                    .iter()
                    .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                    .collect(),
            },
        );
    }

    /// Puts `index` under `repository:tag` (the tag's digest is the
    /// index's).
    pub fn hold_index(&self, repository: &str, tag: &str, index: Index) {
        self.hold(repository, tag, &index.digest);
        self.contents
            .lock()
            .unwrap()
            .insert(format!("{repository}:{tag}"), Contents::Index(index));
    }

    /// The digest `repository:tag` holds, if any.
    fn held_digest(&self, repository: &str, tag: &str) -> Option<String> {
        self.repositories
            .lock()
            .unwrap()
            .get(repository)
            .and_then(|tags| tags.get(tag))
            .cloned()
    }

    /// Fails every request that begins with `prefix` with `failure`.
    pub fn fail(&self, prefix: &str, failure: Failure) {
        self.failing
            .lock()
            .unwrap()
            .push((prefix.to_string(), failure));
    }

    /// The requests asked so far.
    pub fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap().clone()
    }

    /// Records `request`, and says why it fails, if it does.
    fn answer(&self, request: String, credentials: Option<&Credentials>) -> Result<(), Failure> {
        let failure = self
            .failing
            .lock()
            .unwrap()
            .iter()
            .find(|(prefix, _)| request.starts_with(prefix.as_str()))
            .map(|(_, failure)| failure.clone());
        self.asked.lock().unwrap().push(request);
        if let Some(accepts) = &self.accepts
            && credentials != Some(accepts)
        {
            return Err(Failure::Denied { status: 401 });
        }
        failure.map_or(Ok(()), Err)
    }
}

impl Registry for Fake {
    fn digest<'a>(
        &'a self,
        repository: &'a str,
        tag: &'a str,
        credentials: Option<&'a Credentials>,
    ) -> BoxFuture<'a, Result<Option<String>, Failure>> {
        Box::pin(async move {
            self.answer(format!("digest {repository}:{tag}"), credentials)?;
            Ok(self.held_digest(repository, tag))
        })
    }

    fn image<'a>(
        &'a self,
        repository: &'a str,
        tag: &'a str,
        credentials: Option<&'a Credentials>,
    ) -> BoxFuture<'a, Result<Option<Held>, Failure>> {
        Box::pin(async move {
            let reference = format!("{repository}:{tag}");
            self.answer(format!("image {reference}"), credentials)?;
            let digest = self.held_digest(repository, tag);
            Ok(digest.map(|digest| {
                self.images
                    .lock()
                    .unwrap()
                    .get(&reference)
                    .cloned()
                    .unwrap_or_else(|| Held {
                        config: format!("{digest}-config"),
                        digest,
                        labels: HashMap::new(),
                    })
            }))
        })
    }

    fn contents<'a>(
        &'a self,
        repository: &'a str,
        tag: &'a str,
        credentials: Option<&'a Credentials>,
    ) -> BoxFuture<'a, Result<Option<Contents>, Failure>> {
        Box::pin(async move {
            let reference = format!("{repository}:{tag}");
            self.answer(format!("contents {reference}"), credentials)?;
            let digest = self.held_digest(repository, tag);
            Ok(digest.map(|digest| {
                self.contents
                    .lock()
                    .unwrap()
                    .get(&reference)
                    .cloned()
                    .unwrap_or_else(|| {
                        Contents::Single(Single {
                            digest,
                            media_type: super::index::OCI_MANIFEST.to_string(),
                            platform: None,
                        })
                    })
            }))
        })
    }

    fn tags<'a>(
        &'a self,
        repository: &'a str,
        credentials: Option<&'a Credentials>,
    ) -> BoxFuture<'a, Result<Vec<String>, Failure>> {
        Box::pin(async move {
            self.answer(format!("tags {repository}"), credentials)?;
            Ok(self
                .repositories
                .lock()
                .unwrap()
                .get(repository)
                .map(|tags| tags.keys().cloned().collect())
                .unwrap_or_default())
        })
    }

    fn writable<'a>(
        &'a self,
        repository: &'a str,
        credentials: Option<&'a Credentials>,
    ) -> BoxFuture<'a, Result<(), Failure>> {
        Box::pin(async move { self.answer(format!("writable {repository}"), credentials) })
    }
}
