//! What a tag holds as a whole, for multi-platform targets: an image index
//! (OCI) or manifest list (Docker) with one image manifest per platform,
//! or a single image manifest. [`Registry::contents`] reads it: for an
//! index its digest, each platform's child manifest and the attestation
//! manifests BuildKit adds beside them (listed apart: they describe no
//! machine); for a single image its digest and, from its config, its
//! platform. [`verify`] then says, in a release engineer's words, what
//! differs from what a target declares and what was built: not an index,
//! a platform missing or extra, a child that is not the one built,
//! attestations nobody asked for.
//!
//! Reading asks once, retrying nothing: a [`Failure`] says whether a retry
//! may help, and the caller (a push's check after pushing, `status`)
//! retries and scrubs as it does for its other requests.
//!
//! [`Registry::contents`]: super::Registry::contents
//! [`Failure`]: super::Failure

use std::collections::BTreeMap;

mod platform;
mod verify;

pub use platform::Platform;
pub use verify::{Expected, Problem, verify};

/// An OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// A Docker manifest list: an index in Docker's own media type.
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// An OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// A Docker image manifest, schema 2.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// What the `Accept` header of a request for a tag's contents names: all
/// four, else a registry answers for an index with the one image it
/// picks for the client (or converts it), and the index goes unseen.
pub const ACCEPTED: [&str; 4] = [OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST];

/// The annotation BuildKit puts on an attestation manifest of an index
/// (with the platform `unknown/unknown`), and its value there.
const REFERENCE_TYPE: (&str, &str) = ("vnd.docker.reference.type", "attestation-manifest");
/// The annotation that names the platform manifest an attestation is of.
const REFERENCE_DIGEST: &str = "vnd.docker.reference.digest";

/// What a registry holds under a tag.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Contents {
    /// An image index or manifest list.
    Index(Index),
    /// One image manifest: not an index.
    Single(Single),
}

impl Contents {
    /// The digest of the tag's manifest (of the index, for an index).
    #[must_use]
    pub fn digest(&self) -> &str {
        match self {
            Self::Index(index) => &index.digest,
            Self::Single(single) => &single.digest,
        }
    }
}

/// An image index (or Docker manifest list) held under a tag.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Index {
    /// The index's own digest: what the tag resolves to.
    pub digest: String,
    /// [`OCI_INDEX`] or [`DOCKER_LIST`].
    pub media_type: String,
    /// One image manifest per platform, in the index's order (a platform
    /// listed twice is there twice).
    pub platforms: Vec<Child>,
    /// The attestation manifests (provenance, SBOM), apart from the
    /// platforms.
    pub attestations: Vec<Attestation>,
    /// The digests of children with no platform that are not attestations:
    /// nothing a machine would pull.
    pub unplaced: Vec<String>,
}

impl Index {
    /// The digest of the child manifest for `platform` (the first, if it
    /// is listed twice).
    #[must_use]
    pub fn digest_of(&self, platform: &Platform) -> Option<&str> {
        self.platforms
            .iter()
            .find(|c| c.platform == *platform)
            .map(|c| c.digest.as_str())
    }
}

/// A platform's image manifest in an index, or the one built for it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Child {
    /// The machine it runs on.
    pub platform: Platform,
    /// The digest of its manifest.
    pub digest: String,
}

/// An attestation manifest of an index.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Attestation {
    /// The digest of its manifest.
    pub digest: String,
    /// The digest of the platform manifest it attests, when the index
    /// says (`vnd.docker.reference.digest`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub describes: Option<String>,
}

/// A single image manifest held under a tag.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Single {
    /// The manifest's digest.
    pub digest: String,
    /// [`OCI_MANIFEST`] or [`DOCKER_MANIFEST`].
    pub media_type: String,
    /// The platform its config names, when it names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

/// A manifest as its body says, before a single image's config is read.
#[derive(Debug)]
pub(super) enum Manifest {
    /// An index: all there is to know.
    Index(Index),
    /// A single image, whose platform its config (at `config`) names.
    Single {
        /// The manifest's media type.
        media_type: String,
        /// The config's digest.
        config: String,
    },
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawManifest {
    schema_version: Option<u64>,
    media_type: Option<String>,
    manifests: Option<Vec<RawEntry>>,
    config: Option<RawDescriptor>,
}

#[derive(serde::Deserialize)]
struct RawDescriptor {
    digest: String,
}

#[derive(serde::Deserialize)]
struct RawEntry {
    digest: String,
    platform: Option<RawPlatform>,
    annotations: Option<BTreeMap<String, String>>,
}

#[derive(serde::Deserialize)]
struct RawPlatform {
    os: Option<String>,
    architecture: Option<String>,
    variant: Option<String>,
}

impl RawPlatform {
    fn platform(self) -> Option<Platform> {
        let platform = Platform::new(&self.os?, &self.architecture?);
        Some(match self.variant.filter(|v| !v.is_empty()) {
            Some(variant) => platform.with_variant(&variant),
            None => platform,
        })
    }
}

/// What the manifest `body` (whose digest is `digest`) is.
///
/// # Errors
/// When it is not JSON, a schema 1 manifest, or of another media type
/// than the four [`ACCEPTED`], in words.
pub(super) fn read_manifest(body: &[u8], digest: &str) -> Result<Manifest, String> {
    let raw: RawManifest =
        serde_json::from_slice(body).map_err(|e| format!("it is not a manifest: {e}"))?;
    if let Some(version) = raw.schema_version.filter(|v| *v != 2) {
        return Err(format!(
            "it is a schema {version} manifest, which this tool does not read: push the tag again with a current client"
        ));
    }
    let media_type = match (raw.media_type, &raw.manifests, &raw.config) {
        (Some(media_type), _, _) => media_type,
        // The OCI spec makes `mediaType` optional: the fields say which.
        (None, Some(_), _) => OCI_INDEX.to_string(),
        (None, None, Some(_)) => OCI_MANIFEST.to_string(),
        (None, None, None) => {
            return Err("it has neither `manifests` nor `config`: it is no image manifest".into());
        }
    };
    match (media_type.as_str(), raw.manifests, raw.config) {
        (OCI_INDEX | DOCKER_LIST, Some(entries), _) => {
            Ok(Manifest::Index(index_of(digest, media_type, entries)))
        }
        (OCI_MANIFEST | DOCKER_MANIFEST, _, Some(config)) => Ok(Manifest::Single {
            media_type,
            config: config.digest,
        }),
        (OCI_INDEX | DOCKER_LIST | OCI_MANIFEST | DOCKER_MANIFEST, _, _) => Err(format!(
            "it says it is `{media_type}` but lacks its `manifests` or `config`"
        )),
        _ => Err(format!(
            "it is `{media_type}`, neither an image index nor an image manifest"
        )),
    }
}

/// An index of `entries`: attestations apart, children without a platform
/// apart.
fn index_of(digest: &str, media_type: String, entries: Vec<RawEntry>) -> Index {
    let mut index = Index {
        digest: digest.to_string(),
        media_type,
        platforms: Vec::new(),
        attestations: Vec::new(),
        unplaced: Vec::new(),
    };
    for entry in entries {
        let annotations = entry.annotations.unwrap_or_default();
        if annotations.get(REFERENCE_TYPE.0).map(String::as_str) == Some(REFERENCE_TYPE.1) {
            index.attestations.push(Attestation {
                digest: entry.digest,
                describes: annotations.get(REFERENCE_DIGEST).cloned(),
            });
            continue;
        }
        match entry.platform.and_then(RawPlatform::platform) {
            Some(platform) => index.platforms.push(Child {
                platform,
                digest: entry.digest,
            }),
            None => index.unplaced.push(entry.digest),
        }
    }
    index
}

/// The platform an image config names (`os`, `architecture`, `variant`),
/// `None` when it names none (an artifact's config).
///
/// # Errors
/// When the config is not a JSON object.
pub(super) fn platform_of_config(config: &[u8]) -> Result<Option<Platform>, String> {
    let raw: RawPlatform = serde_json::from_slice(config)
        .map_err(|e| format!("its config is not an image config: {e}"))?;
    Ok(raw.platform())
}

#[cfg(test)]
mod tests;
