//! The top level of the manifest: which keys it may have, which it must,
//! the order its sections are checked in, and the small sections that stand
//! alone (`bentoml_version`, `cuda_version`, `python_versions`, `readme`,
//! `tests`).

use std::path::{Path, PathBuf};

use super::grammar::{check_tag, is_python_version};
use super::{Checker, Key, Node, Value};
use crate::diagnostic::suggestion;
use crate::manifest::{Cuda, Manifest, ReleaseType};

const TOP_KEYS: [&str; 12] = [
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
    "cache",
    "attest",
];

impl Checker {
    /// Walks the top level: a section is checked after those it refers to
    /// (packages after releases, registries after packages), and the tags
    /// once everything they are made of is known.
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
            cache: None,
            attest: None,
            cuda: Vec::new(),
            packages: Vec::new(),
            distros: Vec::new(),
        };
        let Some(entries) = self.top_entries(root_node) else {
            return manifest;
        };
        self.mark_checked_regions(entries);
        self.check_top_keys(entries);
        let find = |name: &str| {
            entries
                .iter()
                .find(|(k, _)| &*k.name == name)
                .map(|(_, node)| node)
        };
        if let Some(node) = find("release_spec") {
            let entries = self.entries(node, "`release_spec`");
            self.spec(entries, node, "`release_spec`", false);
        }
        if let Some(node) = find("cuda_dependencies") {
            manifest.cuda = self.cuda_dependencies(node);
        }
        if let Some(node) = find("releases") {
            manifest.distros = self.releases(node, !manifest.cuda.is_empty());
        }
        if let Some(node) = find("packages") {
            let releases_given = find("releases").is_some();
            manifest.packages = self.packages(node, &manifest.distros, releases_given);
        }
        self.check_collisions(&manifest);
        if let Some(node) = find("repository") {
            manifest.registries = self.repository(node, &manifest.packages);
        }
        if let Some(node) = find("python_versions") {
            manifest.python_versions = self.python_versions(node);
        }
        if let Some(node) = find("bentoml_version") {
            manifest.bentoml_version = self.bentoml_version(node);
        }
        if let Some(node) = find("readme") {
            manifest.readme = self.readme(node, &manifest.root);
        }
        if let Some(node) = find("tests") {
            manifest.tests = self.tests(node);
        }
        if let Some(node) = find("cuda_version") {
            manifest.cuda_version = self.cuda_version(node, &manifest.cuda);
        }
        if let Some(node) = find("cache") {
            manifest.cache = self.cache(node);
        }
        if let Some(node) = find("attest") {
            manifest.attest = self.attest(node);
        }
        self.check_tags(&manifest);
        manifest
    }

    /// The top-level entries; `None` (and a problem) for an empty manifest
    /// or one that is not a mapping.
    fn top_entries<'a>(&mut self, root_node: &'a Node) -> Option<&'a [(Key, Node)]> {
        if matches!(root_node.value, Value::Null) {
            self.problems.push(
                self.source
                    .problem("the manifest is empty")
                    .help("declare at least `packages` and `releases`"),
            );
            return None;
        }
        let entries = self.entries(root_node, "the manifest");
        matches!(root_node.value, Value::Map(_)).then_some(entries)
    }

    /// Notes where `release_spec` and `releases` are written: from one
    /// top-level key to the next.
    fn mark_checked_regions(&mut self, entries: &[(Key, Node)]) {
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
    }

    /// Every top-level key must be known, and `packages` and `releases` there.
    fn check_top_keys(&mut self, entries: &[(Key, Node)]) {
        for (key, _) in entries {
            if !TOP_KEYS.contains(&&*key.name) {
                self.unknown_key(key, &TOP_KEYS, "the manifest");
            }
        }
        for required in ["packages", "releases"] {
            if !entries.iter().any(|(k, _)| &*k.name == required) {
                self.problems.push(
                    self.source
                        .problem(format!("`{}` has no `{required}`", self.source.name()))
                        .help(format!("add a top-level `{required}:` mapping")),
                );
            }
        }
    }

    /// `bentoml_version`: it goes into every `runtime` and `cudnn` tag.
    fn bentoml_version(&mut self, node: &Node) -> Option<String> {
        let version = self.text(node, "`bentoml_version`");
        if let Some(version) = &version
            && let Err(why) = check_tag(version)
        {
            self.report_node(
                node,
                format!("`bentoml_version` {why}"),
                "goes into every tag",
            );
        }
        version
    }

    /// `cuda_version`: one of the releases of `cuda_dependencies`.
    fn cuda_version(&mut self, node: &Node, cuda: &[Cuda]) -> Option<String> {
        let version = self.text(node, "`cuda_version`");
        if let Some(version) = &version
            && !cuda.iter().any(|c| &c.version == version)
        {
            let problem = self
                .problem(
                    node.at,
                    format!("`cuda_version` `{version}` is not defined under `cuda_dependencies`"),
                    "unknown CUDA version",
                )
                .maybe_help(suggestion(version, cuda.iter().map(|c| c.version.as_str())));
            self.problems.push(problem);
        }
        version
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
