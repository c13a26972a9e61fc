//! Two distro releases of one package must not share tags or a directory
//! under `generated/`, nor names too long for one together.

use super::Checker;
use super::directories::{MAX_FILE_NAME, too_long_for_a_file_name};
use crate::manifest::Manifest;

impl Checker {
    /// Two distro releases of one package must not share tags or directories.
    pub(super) fn check_collisions(&mut self, manifest: &Manifest) {
        for package in &manifest.packages {
            let Some((_, base)) = package.release_types.first() else {
                continue;
            };
            let mut tags: Vec<(&str, String)> = Vec::new();
            let mut dirs: Vec<(String, String, &str)> = Vec::new();
            for distro in base.iter().filter_map(|d| manifest.distro(d)) {
                for release in &distro.releases {
                    let who = format!("`{}` `{}`", distro.name, release.version);
                    let dir = format!("{}{}", distro.name, release.version);
                    if let Some((_, other)) =
                        tags.iter().find(|(t, _)| *t == release.spec.add_to_tags)
                    {
                        self.problems.push(
                            self.source
                                .problem(format!(
                                    "{who} and {other} both use `add_to_tags: {}`, so `{}` would get the same tags for both",
                                    release.spec.add_to_tags, package.name
                                ))
                                .at(
                                    release.spec.add_to_tags_at.offset,
                                    release.spec.add_to_tags_at.len,
                                    "same tags as another release",
                                )
                                .help("give each distro release its own `add_to_tags`"),
                        );
                    }
                    // A name too long on its own is reported where it is
                    // checked, once.
                    let alone_too_long =
                        distro.name.len() > MAX_FILE_NAME || release.version.len() > MAX_FILE_NAME;
                    if dir.len() > MAX_FILE_NAME && !alone_too_long {
                        self.problems.push(
                            self.source
                                .problem(format!(
                                    "{who} would write `generated/{}/{dir}`, whose last part is {}",
                                    package.name,
                                    too_long_for_a_file_name(dir.len())
                                ))
                                .at(
                                    release.at.offset,
                                    release.at.len,
                                    "too long a directory name",
                                )
                                .help("shorten the distro or release name"),
                        );
                    }
                    // Distros that differ only in case are reported as such.
                    if let Some((other_dir, other, _)) = dirs.iter().find(|(d, _, distro_name)| {
                        *d == dir
                            || (d.eq_ignore_ascii_case(&dir)
                                && !distro_name.eq_ignore_ascii_case(&distro.name))
                    }) {
                        let case = if *other_dir == dir {
                            ""
                        } else {
                            " on a case-insensitive file system"
                        };
                        self.problems.push(
                            self.source
                                .problem(format!(
                                    "{who} and {other} would both write `generated/{}/{dir}`{case}",
                                    package.name
                                ))
                                .at(release.at.offset, release.at.len, "same directory as another release")
                                .help("rename the distro or the release so that `<distro><release>` differs"),
                        );
                    }
                    tags.push((&release.spec.add_to_tags, who.clone()));
                    dirs.push((dir, who, &distro.name));
                }
            }
        }
    }
}
