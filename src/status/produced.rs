//! The tags a matrix produces, to tell a registry's tag that this release
//! should hold from one of another BentoML release and from a stray.

use std::collections::BTreeSet;

use crate::manifest::Manifest;
use crate::plan;

/// The tags a matrix produces, and the shapes of those that carry the
/// BentoML version (`runtime`, `cudnn`), to tell the tags of another
/// release from strays. The CUDA version is part of no tag.
#[derive(Clone, Debug, Default)]
pub struct Produced {
    /// Every `(package, tag)`.
    tags: BTreeSet<(String, String)>,
    /// `(package, what follows the version)` of each tag that begins with
    /// the BentoML version.
    after_version: BTreeSet<(String, String)>,
}

impl Produced {
    /// Exactly `tags`, none of another release.
    #[must_use]
    pub fn exactly(tags: BTreeSet<(String, String)>) -> Self {
        Self {
            tags,
            after_version: BTreeSet::new(),
        }
    }

    /// Whether the matrix produces `package:tag`.
    #[must_use]
    pub fn contains(&self, package: &str, tag: &str) -> bool {
        self.tags.contains(&(package.to_string(), tag.to_string()))
    }

    /// Whether `package:tag` is a tag the matrix would produce with another
    /// BentoML version: the same shape, a version where the version is.
    #[must_use]
    pub fn of_another_release(&self, package: &str, tag: &str) -> bool {
        self.after_version
            .range((package.to_string(), String::new())..)
            .take_while(|(p, _)| p == package)
            .any(|(_, rest)| {
                tag.strip_suffix(rest.as_str())
                    .is_some_and(looks_like_a_version)
            })
    }
}

/// A BentoML version as it begins a tag: `1.2.0`, `1.0.0rc1`, `v1.2`.
fn looks_like_a_version(version: &str) -> bool {
    let digits = version.strip_prefix('v').unwrap_or(version);
    digits.starts_with(|c: char| c.is_ascii_digit())
        && !digits.contains("-python")
        && crate::manifest::check_tag_part(version).is_ok()
}

/// What the matrix of `options` produces, whatever its release-type
/// selection: with the Python versions it names and with the manifest's
/// defaults, so that neither the tags of a push made with
/// `--python-version` nor those of the defaults are taken for strays.
///
/// # Errors
/// When `options` do not fit the manifest.
pub fn produced(manifest: &Manifest, options: &plan::Options) -> Result<Produced, plan::Error> {
    let mut whole = options.clone();
    whole.release_types = Vec::new();
    let mut produced = Produced::default();
    let mut add = |options: &plan::Options| -> Result<(), plan::Error> {
        let matrix = plan::Matrix::new(manifest, options)?;
        for target in matrix.targets(manifest) {
            if let Some(rest) = target.tag.strip_prefix(matrix.bentoml_version.as_str())
                && rest.starts_with('-')
            {
                produced
                    .after_version
                    .insert((target.package.clone(), rest.to_string()));
            }
            produced.tags.insert((target.package, target.tag));
        }
        Ok(())
    };
    add(&whole)?;
    if !whole.python_versions.is_empty() {
        whole.python_versions = Vec::new();
        add(&whole)?;
    }
    Ok(produced)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bug: `status -p 3.12 -p 3.13` judged "extra" against the
    /// manifest's default versions only, so every current tag of a push
    /// made with those versions was counted a second time as `extra`.
    #[test]
    fn tags_of_python_versions_given_on_the_command_line_are_produced() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/build/manifest.yml");
        let manifest = crate::manifest::load(&path).unwrap();
        let options = plan::Options {
            python_versions: vec!["3.12".into()],
            release_types: vec![crate::manifest::ReleaseType::Runtime],
            ..plan::Options::default()
        };
        let produced = produced(&manifest, &options).unwrap();
        for tag in [
            "base-python3.12-bookworm",
            "devel-python3.12-bookworm",
            "1.3.0-python3.12-bookworm-runtime",
            "base-python3.11-bookworm",
            "devel-python3.13-bookworm",
        ] {
            assert!(produced.contains("app", tag), "{tag}: {produced:?}");
        }
        assert!(!produced.contains("app", "base-python3.10-bookworm"));
    }

    /// The bug: once a second BentoML release existed, the tags of the
    /// other were `extra` and `status` could never pass.
    #[test]
    fn tags_of_another_bentoml_release_are_other_releases_not_extra() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/build/manifest.yml");
        let manifest = crate::manifest::load(&path).unwrap();
        let options = plan::Options {
            bentoml_version: Some("1.3.0".into()),
            python_versions: vec!["3.11".into()],
            ..plan::Options::default()
        };
        let produced = produced(&manifest, &options).unwrap();
        assert!(produced.contains("app", "1.3.0-python3.11-bookworm-runtime"));
        for older in [
            "1.2.0-python3.11-bookworm-runtime",
            "1.0.0rc1-python3.11-bookworm-runtime",
            "v1.4-python3.13-bookworm-runtime",
        ] {
            assert!(!produced.contains("app", older));
            assert!(produced.of_another_release("app", older), "{older}");
        }
        for stray in [
            "latest",
            "1.2.0-python3.11-bookworm-cudnn",
            "1.2.0-python3.10-bookworm-runtime",
            "nightly-python3.11-bookworm-runtime",
            "base-python3.9-bookworm",
        ] {
            assert!(!produced.of_another_release("app", stray), "{stray}");
            assert!(!produced.of_another_release("other", stray), "{stray}");
        }
    }
}
