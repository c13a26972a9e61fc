//! The tags the manifest implies: every one must be a Docker tag, checked
//! before any command-line version is known.

use super::Checker;
use super::grammar::{MAX_TAG, check_tag, check_tag_part};
use crate::manifest::{Manifest, ReleaseType};

impl Checker {
    /// Every tag the manifest alone implies must be a Docker tag (the
    /// command line's versions are checked when the plan is made). Reported
    /// once per release, at its `add_to_tags`. Without a `bentoml_version`,
    /// the tags that hold one are measured with a version of one character:
    /// one too long even then is too long whatever `-b` says.
    pub(super) fn check_tags(&mut self, manifest: &Manifest) {
        let defaults = crate::manifest::DEFAULT_PYTHON_VERSIONS.map(String::from);
        let shortest = manifest.bentoml_version.is_none().then_some("0");
        for distro in &manifest.distros {
            let types: Vec<ReleaseType> = ReleaseType::ALL
                .into_iter()
                .filter(|t| {
                    manifest.packages.iter().any(|p| {
                        p.release_types
                            .iter()
                            .any(|(pt, ds)| pt == t && ds.contains(&distro.name))
                    })
                })
                .filter(|t| {
                    manifest
                        .bentoml_version
                        .as_deref()
                        .is_none_or(|v| check_tag(v).is_ok())
                        || matches!(t, ReleaseType::Base | ReleaseType::Devel)
                })
                .collect();
            // A bad `add_to_tags` is reported where it is checked.
            for release in distro
                .releases
                .iter()
                .filter(|r| check_tag_part(&r.spec.add_to_tags).is_ok())
            {
                let pythons = release
                    .spec
                    .python_versions
                    .as_deref()
                    .or(manifest.python_versions.as_deref())
                    .unwrap_or(&defaults);
                let bentoml = manifest
                    .bentoml_version
                    .as_deref()
                    .or(shortest)
                    .unwrap_or_default();
                let bad = types.iter().find_map(|t| {
                    pythons.iter().find_map(|python| {
                        let tag = crate::manifest::tag(*t, python, &release.spec.add_to_tags, bentoml);
                        let why = check_tag(&tag).err()?;
                        // A tag with a stand-in version is quoted with a
                        // name in its place, and what was measured is said.
                        let uses_version = matches!(t, ReleaseType::Runtime | ReleaseType::Cudnn);
                        Some(match shortest.filter(|_| uses_version) {
                            Some(_) => format!(
                                "tag `{}` is {} characters long with a BentoML version of one \
                                 character, and longer with any other; a Docker tag holds at most {MAX_TAG}",
                                crate::manifest::tag(
                                    *t,
                                    python,
                                    &release.spec.add_to_tags,
                                    "<bentoml_version>"
                                ),
                                tag.len()
                            ),
                            None => format!("tag `{tag}` {why}"),
                        })
                    })
                });
                if let Some(message) = bad {
                    let at = release.spec.add_to_tags_at;
                    let problem = self
                        .problem(at, message, "goes into every tag")
                        .help(format!(
                            "shorten `add_to_tags` of `{}` `{}`",
                            distro.name, release.version
                        ));
                    self.problems.push(problem);
                }
            }
        }
    }
}
