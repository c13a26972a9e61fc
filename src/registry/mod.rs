//! Registries: which of the manifest's are enabled, their credentials (from
//! the environment or the images repo's `.env`; never from the manifest),
//! and what they hold, asked through [`Registry`] (over the OCI distribution
//! API by [`Distribution`]). What their errors mean ([`classify`]) and how
//! references are written ([`reference`]) live here too, for the engines'
//! pushes and `status` to read the same way. What a multi-platform tag
//! holds as a whole (an image index, its platforms and attestations) and
//! what is wrong with it for a target live in [`index`].

use std::collections::HashMap;

use futures_util::future::BoxFuture;

mod auth_file;
pub mod classify;
mod distribution;
mod enabled;
mod failure;
#[cfg(test)]
pub mod fake;
pub mod index;
mod published;
pub mod reference;
mod scrub;

pub use auth_file::AuthFile;
pub use distribution::Distribution;
pub use enabled::{Credentials, Enabled, Error, Variables, enabled, repositories};
pub use failure::{Access, Failure, after_attempts};
pub use index::{Contents, Platform};
pub use published::Published;
pub use scrub::Scrubber;

/// Asks a registry what it holds.
pub trait Registry: Send + Sync {
    /// The manifest digest of `repository:tag`, or `None` when there is no such tag.
    fn digest<'a>(
        &'a self,
        repository: &'a str,
        tag: &'a str,
        credentials: Option<&'a Credentials>,
    ) -> BoxFuture<'a, Result<Option<String>, Failure>>;

    /// The image `repository:tag` holds (its manifest's digest, its
    /// config's digest and labels), or `None` when there is no such tag.
    fn image<'a>(
        &'a self,
        repository: &'a str,
        tag: &'a str,
        credentials: Option<&'a Credentials>,
    ) -> BoxFuture<'a, Result<Option<Held>, Failure>>;

    /// What `repository:tag` holds as a whole, or `None` when there is no
    /// such tag: an image index (or Docker manifest list) with each
    /// platform's manifest and its attestations apart, or a single image
    /// with the platform its config names. Asked once: the caller retries
    /// what [`Failure::transient`] allows.
    fn contents<'a>(
        &'a self,
        repository: &'a str,
        tag: &'a str,
        credentials: Option<&'a Credentials>,
    ) -> BoxFuture<'a, Result<Option<Contents>, Failure>>;

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

/// An image a registry holds under a tag, as its manifest and config say.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Held {
    /// The manifest's digest.
    pub digest: String,
    /// The config's digest: the image ID an engine gives it once pulled.
    pub config: String,
    /// The labels of its config.
    pub labels: HashMap<String, String>,
}
