//! The top level of the manifest: which keys it may have, which it must,
//! the order its sections are checked in, and the small sections that stand
//! alone (`bentoml_version`, `cuda_version`, `python_versions`, `readme`,
//! `tests`).

use std::path::{Path, PathBuf};

use super::grammar::{check_tag, is_python_version};
use super::{Checker, Node, Value};
use crate::diagnostic::suggestion;
use crate::manifest::{Manifest, ReleaseType};

const TOP_KEYS: [&str; 10] = [
    "tests",
    "readme",
    "repository",
    "cuda_dependencies",
    "release_spec",
    "packages",
    "releases",
    "python_versions",
    "bentoml_version",
    "cuda_version",
];

impl Checker {
    pub(super) fn manifest(&mut self, root_node: &Node, file: &Path, root: PathBuf) -> Manifest {
        let mut manifest = Manifest {
            file: file.to_path_buf(),
            root,
            source: self.source.clone(),
            bentoml_version: None,
            cuda_version: None,
            python_versions: None,
            readme: None,
            tests: Vec::new(),
            registries: Vec::new(),
            cuda: Vec::new(),
            packages: Vec::new(),
            distros: Vec::new(),
        };
        if matches!(root_node.value, Value::Null) {
            self.problems.push(
                self.source
                    .problem("the manifest is empty")
                    .help("declare at least `packages` and `releases`"),
            );
            return manifest;
        }
        if !matches!(root_node.value, Value::Map(_)) {
            self.entries(root_node, "the manifest");
            return manifest;
        }
        let entries = self.entries(root_node, "the manifest");
        let find = |name: &str| entries.iter().find(|(k, _)| &*k.name == name);
        let mut starts: Vec<usize> = entries.iter().map(|(k, _)| k.at.offset).collect();
        starts.sort_unstable();
        for (key, _) in entries
            .iter()
            .filter(|(k, _)| &*k.name == "release_spec" || &*k.name == "releases")
        {
            let end = starts
                .iter()
                .copied()
                .find(|s| *s > key.at.offset)
                .unwrap_or(usize::MAX);
            self.checked_regions.push(key.at.offset..end);
        }
        for (key, _) in entries {
            if !TOP_KEYS.contains(&&*key.name) {
                self.unknown_key(key, &TOP_KEYS, "the manifest");
            }
        }
        for required in ["packages", "releases"] {
            if find(required).is_none() {
                self.problems.push(
                    self.source
                        .problem(format!("`{}` has no `{required}`", self.source.name()))
                        .help(format!("add a top-level `{required}:` mapping")),
                );
            }
        }
        if let Some((_, node)) = find("release_spec") {
            let entries = self.entries(node, "`release_spec`");
            self.spec(entries, node, "`release_spec`", false);
        }
        if let Some((_, node)) = find("cuda_dependencies") {
            manifest.cuda = self.cuda_dependencies(node);
        }
        if let Some((_, node)) = find("releases") {
            manifest.distros = self.releases(node, !manifest.cuda.is_empty());
        }
        if let Some((_, node)) = find("packages") {
            let releases_given = find("releases").is_some();
            manifest.packages = self.packages(node, &manifest.distros, releases_given);
        }
        self.check_collisions(&manifest);
        if let Some((_, node)) = find("repository") {
            manifest.registries = self.repository(node, &manifest.packages);
        }
        if let Some((_, node)) = find("python_versions") {
            manifest.python_versions = self.python_versions(node);
        }
        if let Some((_, node)) = find("bentoml_version") {
            manifest.bentoml_version = self.text(node, "`bentoml_version`");
            if let Some(version) = &manifest.bentoml_version
                && let Err(why) = check_tag(version)
            {
                self.report_node(
                    node,
                    format!("`bentoml_version` {why}"),
                    "goes into every tag",
                );
            }
        }
        if let Some((_, node)) = find("readme") {
            manifest.readme = self.readme(node, &manifest.root);
        }
        if let Some((_, node)) = find("tests") {
            manifest.tests = self.tests(node);
        }
        if let Some((_, node)) = find("cuda_version") {
            manifest.cuda_version = self.text(node, "`cuda_version`");
            if let Some(version) = &manifest.cuda_version
                && !manifest.cuda.iter().any(|c| &c.version == version)
            {
                let problem = self
                    .problem(
                        node.at,
                        format!(
                            "`cuda_version` `{version}` is not defined under `cuda_dependencies`"
                        ),
                        "unknown CUDA version",
                    )
                    .maybe_help(suggestion(
                        version,
                        manifest.cuda.iter().map(|c| c.version.as_str()),
                    ));
                self.problems.push(problem);
            }
        }
        self.check_tags(&manifest);
        manifest
    }

    /// `readme`: a template in the images repo, rendered once per package.
    fn readme(&mut self, node: &Node, root: &Path) -> Option<String> {
        let path = self.text(node, "`readme`")?;
        if !root.join(&path).is_file() {
            let problem = self
                .problem(
                    node.at,
                    format!("`readme` template `{path}` is not a file in the images repo"),
                    "no such template",
                )
                .help("write the template's path relative to the manifest's directory, e.g. `templates/docs/README.md.j2`, or remove `readme`");
            self.problems.push(problem);
            return None;
        }
        Some(path)
    }

    /// `tests`: release type -> shell commands run in each built image.
    fn tests(&mut self, node: &Node) -> Vec<(ReleaseType, Vec<String>)> {
        let mut tests = Vec::new();
        for (key, commands) in self.entries(node, "`tests`") {
            let Some(release_type) = ReleaseType::parse(&key.name) else {
                let names = ReleaseType::ALL.map(ReleaseType::as_str);
                let problem = self
                    .problem(key.at, format!("unknown release type `{}` in `tests`", key.name), "not a release type")
                    .maybe_help(suggestion(&key.name, names).or_else(|| {
                        Some("tests are listed per release type: `base`, `runtime`, `cudnn`, `devel`".into())
                    }));
                self.problems.push(problem);
                continue;
            };
            let Value::Seq(items) = &commands.value else {
                self.report_node(
                    commands,
                    format!(
                        "`tests.{}` must be a list of shell commands, found {}",
                        key.name,
                        commands.value.kind()
                    ),
                    "expected a list",
                );
                continue;
            };
            let list: Vec<String> = items
                .iter()
                .filter_map(|item| self.item(item, "a test command"))
                .collect();
            tests.push((release_type, list));
        }
        tests
    }

    pub(super) fn python_versions(&mut self, node: &Node) -> Option<Vec<String>> {
        let Value::Seq(items) = &node.value else {
            self.report_node(
                node,
                format!(
                    "`python_versions` must be a list, found {}",
                    node.value.kind()
                ),
                "expected a list such as [\"3.10\", \"3.11\"]",
            );
            return None;
        };
        let mut versions: Vec<String> = Vec::new();
        for item in items.iter() {
            let Some(version) = self.item(item, "a Python version") else {
                continue;
            };
            if !is_python_version(&version) {
                let problem = self
                    .problem(
                        item.at,
                        format!("`{version}` is not a Python version"),
                        "expected e.g. 3.11",
                    )
                    .help("Python versions look like `3.11` or `3.11.4`");
                self.problems.push(problem);
            } else if versions.contains(&version) {
                self.report(
                    item.at,
                    format!("Python `{version}` is listed twice"),
                    "second time",
                );
            } else {
                versions.push(version);
            }
        }
        if versions.is_empty() && items.is_empty() {
            self.report_node(node, "`python_versions` is empty", "no versions");
        }
        Some(versions)
    }
}
