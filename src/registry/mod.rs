//! Registries: which of the manifest's are enabled, their credentials (from
//! the environment or the images repo's `.env`; never from the manifest),
//! and what they hold, asked through [`Registry`] (over the OCI distribution
//! API by [`Distribution`]). What their errors mean ([`classify`]) and how
//! references are written ([`reference`]) live here too, for the engines'
//! pushes and `status` to read the same way.

use futures_util::future::BoxFuture;

pub mod classify;
mod distribution;
mod enabled;
mod failure;
#[cfg(test)]
pub mod fake;
pub mod reference;
mod scrub;

pub use distribution::Distribution;
pub use enabled::{Credentials, Enabled, Error, Variables, enabled, repositories};
pub use failure::{Access, Failure, after_attempts};
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
