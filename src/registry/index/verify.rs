//! What is wrong with a tag's contents, given the platforms its target
//! declares and the images built for them: pure, so that a push's check
//! and `status` judge alike, and tests need no registry.

use super::{Child, Contents, Index, Platform};

/// What a tag should hold.
#[derive(Clone, Copy, Debug)]
pub struct Expected<'a> {
    /// The platforms the target declares. None declared means the
    /// builder's own: a single image is then what the tag should hold,
    /// and an index is not judged by its platforms.
    pub platforms: &'a [Platform],
    /// The manifest built for each platform, where known (after a push);
    /// a platform not here is not judged by its digest.
    pub built: &'a [Child],
    /// Whether attestation manifests were asked for (`attest`): then each
    /// platform has one, else there are none.
    pub attestations: bool,
}

/// One thing wrong with what a tag holds.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// One image where an index of several platforms should be.
    #[error(
        "the tag holds one image ({}`{digest}`), not an index of {}",
        platform.as_ref().map(|p| format!("`{p}`, ")).unwrap_or_default(),
        listed(declared)
    )]
    NotAnIndex {
        /// The image's manifest digest.
        digest: String,
        /// Its platform, when its config names one.
        platform: Option<Platform>,
        /// The platforms declared.
        declared: Vec<Platform>,
    },
    /// A declared platform is not in the index.
    #[error("`{platform}` is missing from the index (it lists {})", listed(held))]
    Missing {
        /// The platform.
        platform: Platform,
        /// The platforms the index lists.
        held: Vec<Platform>,
    },
    /// The index lists a platform the target does not declare.
    #[error("the index lists `{platform}` (`{digest}`), which the target does not declare")]
    Extra {
        /// The platform.
        platform: Platform,
        /// Its manifest's digest.
        digest: String,
    },
    /// A platform is listed more than once: which image a machine gets is
    /// the registry client's choice.
    #[error(
        "the index lists `{platform}` {} times ({}): a machine gets whichever its client picks",
        digests.len(),
        digests.iter().map(|d| format!("`{d}`")).collect::<Vec<_>>().join(", ")
    )]
    Repeated {
        /// The platform.
        platform: Platform,
        /// The digests listed for it.
        digests: Vec<String>,
    },
    /// A child manifest with no platform, and no attestation.
    #[error("the index lists `{digest}` with no platform: no machine would pull it")]
    Unplaced {
        /// Its digest.
        digest: String,
    },
    /// A platform's image is not the one built for it.
    #[error(
        "`{platform}` in the index is `{held}`, not the `{built}` built for it: the tag was pushed again from elsewhere, or the push sent another image"
    )]
    NotBuilt {
        /// The platform.
        platform: Platform,
        /// The digest the index lists.
        held: String,
        /// The digest built.
        built: String,
    },
    /// Attestation manifests where none were asked for.
    #[error(
        "the index holds {count} attestation manifest{}, but the target does not ask for attestations (`attest`): the builder added them by default",
        if *count == 1 { "" } else { "s" }
    )]
    UnaskedAttestations {
        /// How many.
        count: usize,
    },
    /// A platform without the attestation asked for.
    #[error(
        "`{platform}` has no attestation manifest in the index, but the target asks for one (`attest`)"
    )]
    Unattested {
        /// The platform.
        platform: Platform,
    },
}

/// `a`, `a` and `b`, `a`, `b` and `c`, in backticks; `nothing` for none.
fn listed(platforms: &[Platform]) -> String {
    let named: Vec<String> = platforms.iter().map(|p| format!("`{p}`")).collect();
    match named.as_slice() {
        [] => "nothing".to_string(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// Everything wrong with `held` for a target that expects `expected`, in
/// the order a reader checks: the kind of manifest, then each declared
/// platform, then what should not be there, then attestations. Empty when
/// all is right.
#[must_use]
pub fn verify(expected: &Expected, held: &Contents) -> Vec<Problem> {
    let index = match held {
        Contents::Index(index) => index,
        Contents::Single(_) if expected.platforms.is_empty() => return Vec::new(),
        Contents::Single(single) => {
            return vec![Problem::NotAnIndex {
                digest: single.digest.clone(),
                platform: single.platform.clone(),
                declared: distinct(expected.platforms),
            }];
        }
    };
    let mut problems = Vec::new();
    if !expected.platforms.is_empty() {
        platforms(expected, index, &mut problems);
    }
    attestations(expected, index, &mut problems);
    problems
}

/// `platforms` without repeats, in order.
fn distinct(platforms: &[Platform]) -> Vec<Platform> {
    let mut seen: Vec<Platform> = Vec::new();
    for platform in platforms {
        if !seen.contains(platform) {
            seen.push(platform.clone());
        }
    }
    seen
}

/// Each declared platform there once, as built; nothing else.
fn platforms(expected: &Expected, index: &Index, problems: &mut Vec<Problem>) {
    for platform in distinct(expected.platforms) {
        let listed: Vec<&Child> = index
            .platforms
            .iter()
            .filter(|c| c.platform == platform)
            .collect();
        let built = expected.built.iter().find(|b| b.platform == platform);
        match (listed.as_slice(), built) {
            ([], _) => problems.push(Problem::Missing {
                held: distinct(
                    &index
                        .platforms
                        .iter()
                        .map(|c| c.platform.clone())
                        .collect::<Vec<_>>(),
                ),
                platform,
            }),
            ([one], Some(built)) if one.digest != built.digest => {
                problems.push(Problem::NotBuilt {
                    platform,
                    held: one.digest.clone(),
                    built: built.digest.clone(),
                });
            }
            ([_], _) => {}
            (several, _) => problems.push(Problem::Repeated {
                platform,
                digests: several.iter().map(|c| c.digest.clone()).collect(),
            }),
        }
    }
    for child in &index.platforms {
        if !expected.platforms.contains(&child.platform) {
            problems.push(Problem::Extra {
                platform: child.platform.clone(),
                digest: child.digest.clone(),
            });
        }
    }
    problems.extend(index.unplaced.iter().map(|digest| Problem::Unplaced {
        digest: digest.clone(),
    }));
}

/// Attestations for each declared platform when asked for, else none.
fn attestations(expected: &Expected, index: &Index, problems: &mut Vec<Problem>) {
    if !expected.attestations {
        if !index.attestations.is_empty() {
            problems.push(Problem::UnaskedAttestations {
                count: index.attestations.len(),
            });
        }
        return;
    }
    for platform in distinct(expected.platforms) {
        let Some(digest) = index.digest_of(&platform) else {
            // Said missing already.
            continue;
        };
        let attested = index
            .attestations
            .iter()
            .any(|a| a.describes.as_deref() == Some(digest));
        if !attested {
            problems.push(Problem::Unattested { platform });
        }
    }
}
