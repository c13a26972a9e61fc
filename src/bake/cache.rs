//! The manifest's `cache` and `attest` in bake's own words: the CSV
//! entries of `cache-from`, `cache-to` and `attest`.

use super::{Error, TargetEntry, escape};
use crate::manifest::{Attest, CACHE_NAME, Cache, CacheMode, Provenance, check_reference};

/// Fills `entry`'s `cache-from` and `cache-to` from the patterns, with the
/// bake target's `name` in place of `{name}`.
pub(super) fn fill(
    entry: &mut TargetEntry,
    cache: &Cache,
    name: &str,
    target: &str,
) -> Result<(), Error> {
    let reference = |pattern: &str| {
        let reference = pattern.replace(CACHE_NAME, name);
        check_reference(&reference)
            .map(|()| escape(&format!("type=registry,ref={reference}")))
            .map_err(|why| Error::BadCacheReference {
                target: target.to_string(),
                reference,
                why,
            })
    };
    if let Some(from) = &cache.from {
        entry.cache_from = vec![reference(from)?];
    }
    if let Some(to) = &cache.to {
        let mut to = reference(to)?;
        match cache.mode {
            Some(CacheMode::Min) => to.push_str(",mode=min"),
            Some(CacheMode::Max) => to.push_str(",mode=max"),
            None => {}
        }
        entry.cache_to = vec![to];
    }
    Ok(())
}

/// The `attest` entries: what is unset is left to the builder; what is
/// turned off is said, since BuildKit attaches a provenance of its own
/// when nothing is said.
pub(super) fn attestations(attest: &Attest) -> Vec<String> {
    let provenance = attest.provenance.map(|p| match p {
        Provenance::Off => "type=provenance,disabled=true",
        Provenance::On => "type=provenance",
        Provenance::Min => "type=provenance,mode=min",
        Provenance::Max => "type=provenance,mode=max",
    });
    let sbom = attest.sbom.map(|on| {
        if on {
            "type=sbom"
        } else {
            "type=sbom,disabled=true"
        }
    });
    provenance
        .into_iter()
        .chain(sbom)
        .map(String::from)
        .collect()
}
