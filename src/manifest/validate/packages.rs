//! `packages`: each image family, its release types and the distros each
//! is built for (`base` implied for every distro any of them uses).

use super::directories::{MAX_FILE_NAME, too_long_for_a_file_name};
use super::grammar::is_repository_name;
use super::{Checker, Node, Pos, Value};
use crate::diagnostic::suggestion;
use crate::manifest::{Distro, Package, ReleaseType};

impl Checker {
    pub(super) fn packages(
        &mut self,
        node: &Node,
        distros: &[Distro],
        check_distros: bool,
    ) -> Vec<Package> {
        let distro_names: Vec<&str> = distros.iter().map(|d| d.name.as_str()).collect();
        let mut packages = Vec::new();
        for (package_key, types) in self.entries(node, "`packages`") {
            let name = &package_key.name;
            if !is_repository_name(name) {
                let problem = self
                    .problem(package_key.at, format!("`{name}` is not a valid image name"), "package name")
                    .help("package names are lower-case letters and digits, separated by `.`, `_` or `-`");
                self.problems.push(problem);
                continue;
            }
            if name.len() > MAX_FILE_NAME {
                let problem = self
                    .problem(
                        package_key.at,
                        format!("package name is {}", too_long_for_a_file_name(name.len())),
                        "too long",
                    )
                    .help("shorten the package name: it names a directory under `generated/`");
                self.problems.push(problem);
                continue;
            }
            let mut declared: Vec<(ReleaseType, Vec<String>)> = Vec::new();
            for (type_key, list) in self.entries(types, &format!("package `{name}`")) {
                let release_type = match ReleaseType::parse(&type_key.name) {
                    Some(ReleaseType::Base) => {
                        let problem = self
                            .problem(
                                type_key.at,
                                "`base` is implied and cannot be declared",
                                "declared here",
                            )
                            .help("remove it: every distro a package uses gets a `base` image");
                        self.problems.push(problem);
                        continue;
                    }
                    Some(t) => t,
                    None => {
                        let problem = self
                            .problem(
                                type_key.at,
                                format!(
                                    "unknown release type `{}` in package `{name}`",
                                    type_key.name
                                ),
                                "not a release type",
                            )
                            .maybe_help(
                                suggestion(&type_key.name, ["runtime", "cudnn", "devel"]).or_else(
                                    || {
                                        Some(
                                            "release types are `runtime`, `cudnn` and `devel`"
                                                .into(),
                                        )
                                    },
                                ),
                            );
                        self.problems.push(problem);
                        continue;
                    }
                };
                let mut items = Vec::new();
                self.flatten_distros(list, None, &mut items);
                if matches!(&list.value, Value::Null)
                    || matches!(&list.value, Value::Seq(v) if v.is_empty())
                {
                    let problem = self
                        .problem(
                            type_key.at,
                            format!("`{name}` `{release_type}` lists no distros"),
                            "no distros",
                        )
                        .help("list the distros this release type is built for, or remove it");
                    self.problems.push(problem);
                }
                let mut names: Vec<String> = Vec::new();
                for (distro_name, item) in items {
                    let Some(distro) = distros.iter().find(|d| *d.name == *distro_name) else {
                        if !check_distros {
                            continue;
                        }
                        let problem = self
                            .problem(
                                item.at,
                                format!("distro `{distro_name}` is not defined under `releases`"),
                                "unknown distro",
                            )
                            .maybe_help(
                                suggestion(&distro_name, distro_names.iter().copied()).or_else(
                                    || {
                                        Some(format!(
                                            "define it under `releases:` or use one of: {}",
                                            distro_names.join(", ")
                                        ))
                                    },
                                ),
                            );
                        self.problems.push(problem);
                        continue;
                    };
                    if names.contains(&distro_name) {
                        let mut problem = self.problem(
                            item.at,
                            format!("distro `{distro_name}` is listed twice for `{name}` `{release_type}`"),
                            "second time",
                        );
                        if let Some(via) = item.via {
                            problem = problem.at(via.offset, via.len, "through this alias");
                        }
                        self.problems.push(
                            problem.help("each distro gets one image per release type; remove one"),
                        );
                        continue;
                    }
                    if release_type == ReleaseType::Cudnn {
                        for release in distro
                            .releases
                            .iter()
                            .filter(|r| r.spec.cuda_prefix_url.is_none())
                        {
                            let problem = self
                                .problem(
                                    item.at,
                                    format!(
                                        "`{name}` has a `cudnn` image for `{distro_name}`, but `{distro_name}` `{}` has no CUDA",
                                        release.version
                                    ),
                                    "no CUDA for this distro",
                                )
                                .help(format!(
                                    "set `cuda_prefix_url` for `{distro_name}` `{}`, or remove `{distro_name}` from `cudnn`",
                                    release.version
                                ));
                            self.problems.push(problem);
                        }
                    }
                    names.push(distro_name);
                }
                declared.push((release_type, names));
            }
            let has = |t: ReleaseType| declared.iter().any(|(d, _)| *d == t);
            if !has(ReleaseType::Runtime) {
                let extra = declared
                    .iter()
                    .map(|(t, _)| format!("`{t}`"))
                    .collect::<Vec<_>>()
                    .join(" and ");
                let message = if extra.is_empty() {
                    format!("package `{name}` declares no `runtime`")
                } else {
                    format!("package `{name}` declares {extra} but no `runtime`")
                };
                let problem = self
                    .problem(package_key.at, message, "package")
                    .help("add `runtime:` with the distros it is built for; `devel` and `cudnn` only come beside it");
                self.problems.push(problem);
            }
            let mut base: Vec<String> = Vec::new();
            for distro in declared.iter().flat_map(|(_, d)| d) {
                if !base.contains(distro) {
                    base.push(distro.clone());
                }
            }
            let mut release_types = vec![(ReleaseType::Base, base)];
            release_types.extend(declared);
            packages.push(Package {
                name: name.to_string(),
                release_types,
            });
        }
        packages
    }

    /// Flattens a list of distros whose items may be lists (aliases).
    /// Distro names of a list, nested lists flattened; an item that came
    /// through an alias of a list carries the alias's place.
    fn flatten_distros(&mut self, node: &Node, via: Option<Pos>, out: &mut Vec<(String, Node)>) {
        let via = node.via.or(via);
        match &node.value {
            Value::Seq(items) => {
                for item in items.iter() {
                    if matches!(item.value, Value::Null) {
                        // Said as every other empty list item is.
                        self.item(item, "a distro");
                        continue;
                    }
                    self.flatten_distros(item, via, out);
                }
            }
            Value::Str(s) | Value::Number(s) => out.push((
                s.to_string(),
                Node {
                    via,
                    ..node.clone()
                },
            )),
            other => self.report_node(
                node,
                format!(
                    "expected a distro name or a list of them, found {}",
                    other.kind()
                ),
                "expected a distro",
            ),
        }
    }
}
