//! `packages`: each image family, its release types and the distros each
//! is built for (`base` implied for every distro any of them uses).

use super::directories::{MAX_FILE_NAME, too_long_for_a_file_name};
use super::grammar::is_repository_name;
use super::{Checker, Key, Node, Pos, Value};
use crate::diagnostic::suggestion;
use crate::manifest::{Distro, Package, ReleaseType};

impl Checker {
    /// `packages`, against the distros of `releases`; a distro that is not
    /// there is reported only when `releases` was given at all
    /// (`check_distros`), as its absence is reported already.
    pub(super) fn packages(
        &mut self,
        node: &Node,
        distros: &[Distro],
        check_distros: bool,
    ) -> Vec<Package> {
        let mut packages = Vec::new();
        for (package_key, types) in self.entries(node, "`packages`") {
            if !self.check_package_name(package_key) {
                continue;
            }
            let name = &package_key.name;
            let mut declared: Vec<(ReleaseType, Vec<String>)> = Vec::new();
            for (type_key, list) in self.entries(types, &format!("package `{name}`")) {
                let Some(release_type) = self.declared_release_type(type_key, name) else {
                    continue;
                };
                let names = self.release_type_distros(
                    name,
                    release_type,
                    type_key,
                    list,
                    distros,
                    check_distros,
                );
                declared.push((release_type, names));
            }
            self.require_runtime(package_key, &declared);
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

    /// Whether a package name can name a Docker repository and a directory.
    fn check_package_name(&mut self, key: &Key) -> bool {
        let name = &key.name;
        if !is_repository_name(name) {
            let problem = self
                .problem(
                    key.at,
                    format!("`{name}` is not a valid image name"),
                    "package name",
                )
                .help(
                    "package names are lower-case letters and digits, separated by `.`, `_` or `-`",
                );
            self.problems.push(problem);
            return false;
        }
        if name.len() > MAX_FILE_NAME {
            let problem = self
                .problem(
                    key.at,
                    format!("package name is {}", too_long_for_a_file_name(name.len())),
                    "too long",
                )
                .help("shorten the package name: it names a directory under `generated/`");
            self.problems.push(problem);
            return false;
        }
        true
    }

    /// A release type a package declares: `base` is implied, never declared.
    fn declared_release_type(&mut self, key: &Key, package: &str) -> Option<ReleaseType> {
        match ReleaseType::parse(&key.name) {
            Some(ReleaseType::Base) => {
                let problem = self
                    .problem(
                        key.at,
                        "`base` is implied and cannot be declared",
                        "declared here",
                    )
                    .help("remove it: every distro a package uses gets a `base` image");
                self.problems.push(problem);
                None
            }
            Some(t) => Some(t),
            None => {
                let problem = self
                    .problem(
                        key.at,
                        format!("unknown release type `{}` in package `{package}`", key.name),
                        "not a release type",
                    )
                    .maybe_help(
                        suggestion(&key.name, ["runtime", "cudnn", "devel"]).or_else(|| {
                            Some("release types are `runtime`, `cudnn` and `devel`".into())
                        }),
                    );
                self.problems.push(problem);
                None
            }
        }
    }

    /// The distros a release type of a package lists: each defined, once,
    /// and with CUDA in every release for `cudnn`.
    fn release_type_distros(
        &mut self,
        package: &str,
        release_type: ReleaseType,
        type_key: &Key,
        list: &Node,
        distros: &[Distro],
        check_distros: bool,
    ) -> Vec<String> {
        let mut items = Vec::new();
        self.flatten_distros(list, None, &mut items);
        if matches!(&list.value, Value::Null)
            || matches!(&list.value, Value::Seq(v) if v.is_empty())
        {
            let problem = self
                .problem(
                    type_key.at,
                    format!("`{package}` `{release_type}` lists no distros"),
                    "no distros",
                )
                .help("list the distros this release type is built for, or remove it");
            self.problems.push(problem);
        }
        let mut names: Vec<String> = Vec::new();
        for (distro_name, item) in items {
            let Some(distro) = distros.iter().find(|d| *d.name == *distro_name) else {
                if check_distros {
                    self.unknown_distro(&distro_name, &item, distros);
                }
                continue;
            };
            if names.contains(&distro_name) {
                let mut problem = self.problem(
                    item.at,
                    format!(
                        "distro `{distro_name}` is listed twice for `{package}` `{release_type}`"
                    ),
                    "second time",
                );
                if let Some(via) = item.via {
                    problem = problem.at(via.offset, via.len, "through this alias");
                }
                self.problems
                    .push(problem.help("each distro gets one image per release type; remove one"));
                continue;
            }
            if release_type == ReleaseType::Cudnn {
                self.require_cuda(package, distro, &item);
            }
            names.push(distro_name);
        }
        names
    }

    /// A distro that `releases` does not define, with the closest that it does.
    fn unknown_distro(&mut self, distro_name: &str, item: &Node, distros: &[Distro]) {
        let distro_names: Vec<&str> = distros.iter().map(|d| d.name.as_str()).collect();
        let problem = self
            .problem(
                item.at,
                format!("distro `{distro_name}` is not defined under `releases`"),
                "unknown distro",
            )
            .maybe_help(
                suggestion(distro_name, distro_names.iter().copied()).or_else(|| {
                    Some(format!(
                        "define it under `releases:` or use one of: {}",
                        distro_names.join(", ")
                    ))
                }),
            );
        self.problems.push(problem);
    }

    /// A `cudnn` image of a distro needs CUDA in each of its releases.
    fn require_cuda(&mut self, package: &str, distro: &Distro, item: &Node) {
        let distro_name = &distro.name;
        for release in distro
            .releases
            .iter()
            .filter(|r| r.spec.cuda_prefix_url.is_none())
        {
            let problem = self
                .problem(
                    item.at,
                    format!(
                        "`{package}` has a `cudnn` image for `{distro_name}`, but `{distro_name}` `{}` has no CUDA",
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

    /// Every package has a `runtime`: `devel` and `cudnn` only come beside it.
    fn require_runtime(&mut self, package_key: &Key, declared: &[(ReleaseType, Vec<String>)]) {
        if declared.iter().any(|(t, _)| *t == ReleaseType::Runtime) {
            return;
        }
        let name = &package_key.name;
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
