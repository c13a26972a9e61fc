//! Turns the raw YAML tree into a [`Manifest`], checking every rule of the
//! format on the way and collecting each problem with its position.
//!
//! The walk never stops at a problem: a bad value is reported and left out,
//! and the walk goes on, so the user sees everything to fix in one run.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value as Json;

use super::raw::{self, Key, Node, Pos, Value};
use super::{
    Checked, Cuda, Cudnn, Distro, Manifest, Package, Registry, Release, ReleaseType, Spec,
};
use crate::diagnostic::{Problem, Source, suggestion};

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

const SPEC_KEYS: [&str; 10] = [
    "templates_dir",
    "base_image",
    "add_to_tags",
    "multistage_image",
    "header",
    "envars",
    "cuda_prefix_url",
    "cuda_requires",
    "cuda",
    "python_versions",
];

const REGISTRY_KEYS: [&str; 4] = ["only_if", "user", "pwd", "registry"];

/// The longest file name most file systems hold, in bytes.
const MAX_FILE_NAME: usize = 255;

/// Why a value that templates print may hold no control character.
const CONTROL_HELP: &str = "templates print it into a Dockerfile, where a line break starts an \
     instruction of its own and other control characters garble the line; write it on one line, \
     without control characters";

/// Environment variables the tool sets itself.
const RESERVED_ENVARS: [&str; 2] = ["BENTOML_VERSION", "PYTHON_VERSION"];

pub(super) fn check(file: &Path, root: PathBuf, text: &str) -> Checked {
    let written = raw::read_written(text);
    // Reports quote the lines around a problem: a credential written where
    // its variable's name belongs must never be among them. The tree as
    // written holds every entry, a merged one that an explicit key
    // overrides (and so drops) included.
    let masked = match &written {
        Ok(node) => mask_secrets(text, node),
        Err(_) => mask_secret_lines(text),
    };
    // A message may name what it found (`duplicate key `...``): what was
    // masked in the text is masked there too.
    let secrets = masked_words(text, &masked);
    let parsed = written.map(|node| raw::resolve_merges(&node));
    let source = Source::new(file.display().to_string(), masked);
    let mut checked = check_parsed(file, root, parsed, &source);
    for problem in &mut checked.problems {
        problem.mask(&secrets);
    }
    checked
}

fn check_parsed(
    file: &Path,
    root: PathBuf,
    parsed: Result<(Node, Vec<raw::MergeError>), raw::ParseError>,
    source: &Source,
) -> Checked {
    let mut checker = Checker {
        source: source.clone(),
        problems: Vec::new(),
        checked_regions: Vec::new(),
        shared: HashMap::new(),
        shared_envars: HashMap::new(),
    };
    let (node, merge_errors) = match parsed {
        Ok(parsed) => parsed,
        Err(error) => {
            let problem = source.problem(format!("invalid YAML: {}", error.message));
            let problem = match error.at {
                Some(at) => problem.at(at.offset, at.len, "here"),
                None => problem,
            };
            return Checked {
                manifest: None,
                problems: vec![problem],
            };
        }
    };
    for error in merge_errors {
        checker.report(
            error.at,
            format!(
                "`<<` merges a mapping or a list of mappings, not {}",
                error.found
            ),
            "this is merged",
        );
    }
    let manifest = checker.manifest(&node, file, root);
    Checked {
        manifest: Some(manifest),
        problems: checker.problems,
    }
}

/// `envars` items, split.
type Envars = Arc<[(String, String)]>;

struct Checker {
    source: Source,
    problems: Vec<Problem>,
    /// Byte ranges of `release_spec` and `releases`: a value merged from
    /// there is checked where it is written, and reported there only.
    checked_regions: Vec<std::ops::Range<usize>>,
    /// Spec values by key and place written: a value merged into every
    /// release is held once, however many releases there are.
    shared: HashMap<(Arc<str>, usize, usize), Arc<Json>>,
    /// `envars` by place written, likewise.
    shared_envars: HashMap<(usize, usize), Envars>,
}

impl Checker {
    fn problem(&self, at: Pos, message: impl Into<String>, label: &str) -> Problem {
        self.source.problem(message).at(at.offset, at.len, label)
    }

    fn report(&mut self, at: Pos, message: impl Into<String>, label: &str) {
        let problem = self.problem(at, message, label);
        self.problems.push(problem);
    }

    fn report_node(&mut self, node: &Node, message: impl Into<String>, label: &str) {
        let mut problem = self.problem(node.at, message, label);
        if let Some(via) = node.via {
            problem = problem.at(via.offset, via.len, "merged or aliased here");
        }
        self.problems.push(problem);
    }

    fn unknown_key(&mut self, key: &Key, known: &[&str], context: &str) {
        let problem = self
            .problem(
                key.at,
                format!("unknown key `{}` in {context}", key.name),
                "not a known key",
            )
            .maybe_help(suggestion(&key.name, known.iter().copied()).or_else(|| {
                Some(format!(
                    "known keys: {}",
                    known
                        .iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            }));
        self.problems.push(problem);
    }

    /// The entries of a mapping; nothing (and a problem) for anything else.
    fn entries<'a>(&mut self, node: &'a Node, what: &str) -> &'a [(Key, Node)] {
        match &node.value {
            Value::Map(entries) => entries,
            Value::Null => &[],
            other => {
                self.report_node(
                    node,
                    format!("{what} must be a mapping, found {}", other.kind()),
                    "expected a mapping",
                );
                &[]
            }
        }
    }

    /// A list item's text; `None` (and a problem) for anything else, an
    /// empty item (`- ` with nothing after it) included.
    fn item(&mut self, node: &Node, what: &str) -> Option<String> {
        if matches!(node.value, Value::Null) {
            let problem = self
                .problem(
                    node.at,
                    format!("empty list item where {what} belongs"),
                    "nothing here",
                )
                .help("write the item after the `-`, or remove the line");
            self.problems.push(problem);
            return None;
        }
        self.text(node, what)
    }

    /// A scalar's text; `None` (and a problem unless null) for anything else.
    fn text(&mut self, node: &Node, what: &str) -> Option<String> {
        match &node.value {
            Value::Str(s) | Value::Number(s) => Some(s.to_string()),
            Value::Null => None,
            other => {
                self.report_node(
                    node,
                    format!("{what} must be a string, found {}", other.kind()),
                    "expected a string",
                );
                None
            }
        }
    }

    fn manifest(&mut self, root_node: &Node, file: &Path, root: PathBuf) -> Manifest {
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

    fn cuda_dependencies(&mut self, node: &Node) -> Vec<Cuda> {
        let mut releases = Vec::new();
        for (key, components) in self.entries(node, "`cuda_dependencies`") {
            let parts: Vec<&str> = key.name.split('.').collect();
            let well_formed = parts.len() == 3
                && parts
                    .iter()
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
            if !well_formed {
                let problem = self
                    .problem(
                        key.at,
                        format!("`{}` is not a CUDA version", key.name),
                        "expected MAJOR.MINOR.PATCH",
                    )
                    .help("CUDA versions look like `11.3.1`");
                self.problems.push(problem);
                continue;
            }
            let what = format!("CUDA `{}`", key.name);
            self.control_characters(components, &what, &[]);
            let mut cuda = Cuda {
                version: key.name.to_string(),
                major: parts[0].to_string(),
                minor: parts[1].to_string(),
                components: Vec::new(),
                cudnn: None,
            };
            for (name, value) in self.entries(components, &what) {
                let Some(version) = self.text(value, &format!("component `{}`", name.name)) else {
                    if matches!(value.value, Value::Null) {
                        self.report_node(
                            value,
                            format!("component `{}` of {what} has no version", name.name),
                            "expected a package version",
                        );
                    }
                    continue;
                };
                if !name.name.starts_with("cudnn") {
                    cuda.components.push((name.name.to_string(), version));
                    continue;
                }
                if let Some(first) = &cuda.cudnn {
                    let problem = self
                        .problem(
                            name.at,
                            format!("{what} has a second cuDNN component `{}`", name.name),
                            "second cuDNN component",
                        )
                        .help(format!(
                            "a CUDA release has at most one cuDNN component; keep `{}` or this one",
                            first.name
                        ));
                    self.problems.push(problem);
                    continue;
                }
                let major_version = version.split('.').next().unwrap_or_default().to_string();
                cuda.cudnn = Some(Cudnn {
                    name: name.name.to_string(),
                    version,
                    major_version,
                });
            }
            releases.push(cuda);
        }
        releases
    }

    fn releases(&mut self, node: &Node, has_cuda: bool) -> Vec<Distro> {
        let mut distros = Vec::new();
        let distro_entries = self.entries(node, "`releases`");
        self.check_case_collisions(distro_entries, "distro");
        for (distro_key, releases) in distro_entries {
            self.check_path_name(distro_key, "distro");
            let what = format!("distro `{}`", distro_key.name);
            let mut distro = Distro {
                name: distro_key.name.to_string(),
                releases: Vec::new(),
            };
            let entries = self.entries(releases, &what);
            if entries.is_empty() && !matches!(releases.value, Value::Map(_) | Value::Null) {
                continue;
            }
            if entries.is_empty() {
                self.report(
                    distro_key.at,
                    format!("{what} has no releases"),
                    "expected releases such as `12:` below",
                );
            }
            self.check_case_collisions(entries, "release");
            for (release_key, spec_node) in entries {
                self.check_path_name(release_key, "release");
                let context = format!("release `{}` `{}`", distro_key.name, release_key.name);
                if !matches!(spec_node.value, Value::Map(_)) {
                    self.report_node(
                        spec_node,
                        format!(
                            "{context} must be a mapping, found {}",
                            spec_node.value.kind()
                        ),
                        "expected a mapping",
                    );
                    continue;
                }
                let spec_entries = self.entries(spec_node, &context);
                let Some(spec) = self.spec(spec_entries, spec_node, &context, true) else {
                    continue;
                };
                if spec.cuda_prefix_url.is_some() && !has_cuda {
                    let at = spec_entries
                        .iter()
                        .find(|(k, _)| &*k.name == "cuda_prefix_url")
                        .map_or(spec_node.at, |(_, v)| v.at);
                    let problem = self
                        .problem(
                            at,
                            format!("{context} has CUDA, but `cuda_dependencies` defines no CUDA release"),
                            "CUDA repository prefix",
                        )
                        .help("add the CUDA release to `cuda_dependencies`, or empty `cuda_prefix_url`");
                    self.problems.push(problem);
                }
                distro.releases.push(Release {
                    at: release_key.at,
                    version: release_key.name.to_string(),
                    spec,
                });
            }
            distros.push(distro);
        }
        distros
    }

    /// Checks a release spec; with `complete`, the keys every release needs
    /// must be there and not empty.
    fn spec(
        &mut self,
        entries: &[(Key, Node)],
        node: &Node,
        context: &str,
        complete: bool,
    ) -> Option<Spec> {
        let mut spec = Spec {
            templates_dir: String::new(),
            templates_dir_at: node.at,
            add_to_tags_at: node.at,
            base_image: String::new(),
            add_to_tags: String::new(),
            cuda_prefix_url: None,
            envars: Arc::new([]),
            python_versions: None,
            fields: Vec::new(),
        };
        let before = self.problems.len();
        for (key, value) in entries {
            // The entries of a release written as an alias came through it.
            let value = &Node {
                via: value.via.or(node.via),
                ..value.clone()
            };
            // A value merged or aliased in is checked where it is written
            // (`release_spec`, another release); report it there only once.
            let reported = self.problems.len();
            let json = self.spec_entry(&mut spec, key, value, context);
            let checked_elsewhere = self
                .checked_regions
                .iter()
                .any(|r| r.contains(&value.at.offset));
            if value.via.is_some() && checked_elsewhere {
                self.problems.truncate(reported);
            }
            if let Some(json) = json {
                let name = key.name.clone();
                // Only merged or aliased values can be shared.
                let json = if value.via.is_some() {
                    self.shared
                        .entry((name.clone(), value.at.offset, value.at.len))
                        .or_insert_with(|| Arc::new(json))
                        .clone()
                } else {
                    Arc::new(json)
                };
                match spec.fields.iter_mut().find(|(k, _)| *k == name) {
                    Some(slot) => slot.1 = json,
                    None => spec.fields.push((name, json)),
                }
            }
        }
        if complete {
            for required in ["templates_dir", "base_image", "add_to_tags"] {
                let help = format!(
                    "set `{required}` in this release, or in `release_spec` and merge it with `<<: *anchor`"
                );
                match entries.iter().find(|(k, _)| &*k.name == required) {
                    None => {
                        let problem = self
                            .problem(
                                node.at,
                                format!("{context} has no `{required}`"),
                                "in this release",
                            )
                            .help(help);
                        self.problems.push(problem);
                    }
                    Some((_, value))
                        if spec
                            .fields
                            .iter()
                            .find(|(k, _)| &**k == required)
                            .is_none_or(|(_, v)| v.as_str().is_none_or(str::is_empty)) =>
                    {
                        let mut problem = self
                            .problem(
                                value.at,
                                format!("`{required}` of {context} is empty"),
                                "empty",
                            )
                            .help(help);
                        if let Some(via) = value.via.or(node.via) {
                            problem = problem.at(via.offset, via.len, "merged here");
                        }
                        self.problems.push(problem);
                    }
                    Some(_) => {}
                }
            }
        }
        (self.problems.len() == before).then_some(spec)
    }

    /// Checks one key of a release spec, fills `spec`, and returns the value
    /// templates see (`None` for a key that is not kept).
    fn spec_entry(
        &mut self,
        spec: &mut Spec,
        key: &Key,
        value: &Node,
        context: &str,
    ) -> Option<Json> {
        let what = format!("`{}` of {context}", key.name);
        // Every string a template prints goes into a Dockerfile line (tags,
        // envars, `base_image` and Python versions have checks of their own).
        match &*key.name {
            "envars" | "add_to_tags" | "python_versions" | "multistage_image" | "base_image" => {}
            "header" => self.control_characters(value, &what, &['\n', '\t']),
            _ => self.control_characters(value, &what, &[]),
        }
        let json = match &*key.name {
            "templates_dir" | "base_image" | "add_to_tags" | "header" | "cuda_prefix_url"
            | "cuda_requires" => {
                let text = self.text(value, &what);
                match &*key.name {
                    "templates_dir" => {
                        spec.templates_dir = text.clone().unwrap_or_default();
                        spec.templates_dir_at = value.at;
                    }
                    "base_image" => {
                        spec.base_image = text.clone().unwrap_or_default();
                        if let Some(c) = spec.base_image.chars().find(|c| c.is_control()) {
                            let problem = self
                                .problem(
                                    value.at,
                                    format!(
                                        "{what} holds the control character {}",
                                        control_name(c)
                                    ),
                                    "goes into a `FROM` line",
                                )
                                .help(CONTROL_HELP);
                            self.problems.push(problem);
                        }
                    }
                    "add_to_tags" => {
                        spec.add_to_tags = text.clone().unwrap_or_default();
                        spec.add_to_tags_at = value.at;
                        if let Some(tag) = &text
                            && !tag.is_empty()
                            && let Err(why) = check_tag_part(tag)
                        {
                            self.report_node(value, format!("{what} {why}"), "goes into every tag");
                        }
                    }
                    "cuda_prefix_url" => {
                        spec.cuda_prefix_url = text.clone().filter(|t| !t.is_empty());
                    }
                    _ => {}
                }
                text.map_or(Json::Null, Json::String)
            }
            "multistage_image" => match &value.value {
                Value::Bool(b) => Json::Bool(*b),
                Value::Null => Json::Null,
                other => {
                    self.report_node(
                        value,
                        format!("{what} must be `true` or `false`, found {}", other.kind()),
                        "expected a boolean",
                    );
                    return None;
                }
            },
            "envars" => {
                let place = (value.at.offset, value.at.len);
                spec.envars = match self.shared_envars.get(&place) {
                    Some(shared) if value.via.is_some() => shared.clone(),
                    _ => {
                        let envars: Envars = self.envars(value, &what).into();
                        if value.via.is_some() {
                            self.shared_envars.insert(place, envars.clone());
                        }
                        envars
                    }
                };
                Json::Array(
                    spec.envars
                        .iter()
                        .map(|(k, v)| Json::String(format!("{k}={v}")))
                        .collect(),
                )
            }
            "cuda" => {
                let mut components = serde_json::Map::new();
                for (name, version) in self.entries(value, &what) {
                    if let Some(text) = self.text(version, &format!("component `{}`", name.name)) {
                        components.insert(name.name.to_string(), Json::String(text));
                    }
                }
                if matches!(value.value, Value::Null) {
                    Json::Null
                } else {
                    Json::Object(components)
                }
            }
            "python_versions" => {
                spec.python_versions = self.python_versions(value);
                Json::Array(
                    spec.python_versions
                        .iter()
                        .flatten()
                        .map(|v| Json::String(v.clone()))
                        .collect(),
                )
            }
            _ => {
                self.unknown_key(key, &SPEC_KEYS, context);
                return None;
            }
        };
        Some(json)
    }

    /// Reports a control character (but those `allowed`) in any string of
    /// `node`, mapping keys included, where it is written.
    fn control_characters(&mut self, node: &Node, what: &str, allowed: &[char]) {
        let bad = |text: &str| {
            text.chars()
                .find(|c| c.is_control() && !allowed.contains(c))
        };
        match &node.value {
            Value::Str(text) => {
                if let Some(c) = bad(text) {
                    let problem = self
                        .problem(
                            node.at,
                            format!("{what} holds the control character {}", control_name(c)),
                            "control character",
                        )
                        .help(CONTROL_HELP);
                    self.problems.push(problem);
                }
            }
            Value::Seq(items) => {
                for item in items.iter() {
                    self.control_characters(item, what, allowed);
                }
            }
            Value::Map(entries) => {
                for (key, value) in entries.iter() {
                    if let Some(c) = bad(&key.name) {
                        let problem = self
                            .problem(
                                key.at,
                                format!(
                                    "a key in {what} holds the control character {}",
                                    control_name(c)
                                ),
                                "control character",
                            )
                            .help(CONTROL_HELP);
                        self.problems.push(problem);
                    }
                    self.control_characters(value, what, allowed);
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
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

    fn envars(&mut self, node: &Node, what: &str) -> Vec<(String, String)> {
        let Value::Seq(items) = &node.value else {
            if !matches!(node.value, Value::Null) {
                self.report_node(
                    node,
                    format!(
                        "{what} must be a list of `NAME=value`, found {}",
                        node.value.kind()
                    ),
                    "expected a list",
                );
            }
            return Vec::new();
        };
        let mut envars: Vec<(String, String)> = Vec::new();
        for item in items.iter() {
            let Some(text) = self.item(item, "an `envars` item") else {
                continue;
            };
            let Some((name, value)) = text.split_once('=') else {
                let problem = self
                    .problem(item.at, format!("`{text}` is not `NAME=value`"), "no `=`")
                    .help(format!(
                        "write it as `{}=VALUE`",
                        text.trim().to_uppercase()
                    ));
                self.problems.push(problem);
                continue;
            };
            if !is_envar_name(name) {
                let upper = name.trim().to_uppercase().replace(['-', ' ', '.'], "_");
                let problem = self
                    .problem(
                        item.at,
                        format!("`{name}` is not an upper-case environment variable name"),
                        "names are `[A-Z_][A-Z0-9_]*`",
                    )
                    .maybe_help(is_envar_name(&upper).then(|| format!("write `{upper}={value}`")));
                self.problems.push(problem);
                continue;
            }
            if RESERVED_ENVARS.contains(&name) {
                let problem = self
                    .problem(item.at, format!("`{name}` is set by bentoml-docker itself"), "reserved")
                    .help(if name == "PYTHON_VERSION" {
                        "list Python versions under `python_versions` or pass `-pv`"
                    } else {
                        "pass the BentoML version with `-bv`, or set `bentoml_version` in the manifest"
                    });
                self.problems.push(problem);
                continue;
            }
            if let Some(c) = value.chars().find(|c| c.is_control()) {
                let problem = self
                    .problem(
                        item.at,
                        format!(
                            "the value of `{name}` holds the control character {}",
                            control_name(c)
                        ),
                        "control character",
                    )
                    .help(CONTROL_HELP);
                self.problems.push(problem);
                continue;
            }
            if envars.iter().any(|(n, _)| n == name) {
                self.report(
                    item.at,
                    format!("`{name}` is set twice in {what}"),
                    "second time",
                );
                continue;
            }
            envars.push((name.to_string(), value.to_string()));
        }
        envars
    }

    fn python_versions(&mut self, node: &Node) -> Option<Vec<String>> {
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

    fn packages(&mut self, node: &Node, distros: &[Distro], check_distros: bool) -> Vec<Package> {
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

    /// Every tag the manifest alone implies must be a Docker tag (the
    /// command line's versions are checked when the plan is made). Reported
    /// once per release, at its `add_to_tags`. Without a `bentoml_version`,
    /// the tags that hold one are measured with a version of one character:
    /// one too long even then is too long whatever `-b` says.
    fn check_tags(&mut self, manifest: &Manifest) {
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
                        let tag = super::tag(*t, python, &release.spec.add_to_tags, bentoml);
                        let why = check_tag(&tag).err()?;
                        // A tag with a stand-in version is quoted with a
                        // name in its place, and what was measured is said.
                        let uses_version = matches!(t, ReleaseType::Runtime | ReleaseType::Cudnn);
                        Some(match shortest.filter(|_| uses_version) {
                            Some(_) => format!(
                                "tag `{}` is {} characters long with a BentoML version of one \
                                 character, and longer with any other; a Docker tag holds at most {MAX_TAG}",
                                super::tag(
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

    /// Two distro releases of one package must not share tags or directories.
    fn check_collisions(&mut self, manifest: &Manifest) {
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

    fn repository(&mut self, node: &Node, packages: &[Package]) -> Vec<Registry> {
        let package_names: Vec<&str> = packages.iter().map(|p| p.name.as_str()).collect();
        let mut registries = Vec::new();
        // Repository path -> the package pushed there and its registry.
        let mut pushed_to: Vec<(String, String, String)> = Vec::new();
        for (host_key, spec) in self.entries(node, "`repository`") {
            let context = format!("registry `{}`", host_key.name);
            let mut registry = Registry {
                host: host_key.name.to_string(),
                only_if: None,
                user: None,
                pwd: None,
                repositories: Vec::new(),
            };
            for (key, value) in self.entries(spec, &context) {
                match &*key.name {
                    field @ ("only_if" | "user" | "pwd") => {
                        let name = self.envar_reference(key, value, &context);
                        match field {
                            "only_if" => registry.only_if = name,
                            "user" => registry.user = name,
                            _ => registry.pwd = name,
                        }
                    }
                    "registry" => {
                        for (package, path) in
                            self.entries(value, &format!("`registry` of {context}"))
                        {
                            if !package_names.contains(&&*package.name) {
                                let problem = self
                                    .problem(
                                        package.at,
                                        format!(
                                            "package `{}` is not defined under `packages`",
                                            package.name
                                        ),
                                        "unknown package",
                                    )
                                    .maybe_help(suggestion(
                                        &package.name,
                                        package_names.iter().copied(),
                                    ));
                                self.problems.push(problem);
                                continue;
                            }
                            let Some(path_text) = self.text(path, "a repository path") else {
                                continue;
                            };
                            if let Err(why) = check_repository_path(&path_text) {
                                let problem = self
                                    .problem(path.at, format!("`{path_text}` is not a repository path: {why}"), "repository path")
                                    .help("write the full path without a tag, e.g. `docker.io/org/model-server`");
                                self.problems.push(problem);
                                continue;
                            }
                            // One package in one repository from two
                            // registry entries is a mirror, not a clash.
                            if let Some((_, other, other_host)) =
                                pushed_to.iter().find(|(p, other, _)| {
                                    p.eq_ignore_ascii_case(&path_text) && **other != *package.name
                                })
                            {
                                let problem = self
                                    .problem(
                                        path.at,
                                        format!(
                                            "`{}` and `{other}` (registry `{other_host}`) are both pushed to `{path_text}`: their tags would overwrite each other",
                                            package.name
                                        ),
                                        "same repository as another package",
                                    )
                                    .help("give each package its own repository");
                                self.problems.push(problem);
                                continue;
                            }
                            pushed_to.push((
                                path_text.clone(),
                                package.name.to_string(),
                                host_key.name.to_string(),
                            ));
                            registry
                                .repositories
                                .push((package.name.to_string(), path_text));
                        }
                    }
                    _ => self.unknown_key(key, &REGISTRY_KEYS, &context),
                }
            }
            let written = |name: &str| has_key(spec, name);
            let only_if = match &spec.value {
                Value::Map(entries) => entries.iter().find(|(k, _)| &*k.name == "only_if"),
                _ => None,
            };
            let only_if_help = "name the environment variable whose presence enables pushing here, e.g. `only_if: HUB_PASSWORD`; as in the original tool, a registry is never used without one";
            match only_if {
                None => {
                    let problem = self
                        .problem(
                            host_key.at,
                            format!("{context} has no `only_if`"),
                            "registry",
                        )
                        .help(only_if_help);
                    self.problems.push(problem);
                }
                // `only_if:` with nothing after it enables nothing either.
                Some((key, value)) if matches!(value.value, Value::Null) => {
                    // Nothing written has no width: the caret goes after the key.
                    let at = if value.at.offset > key.at.offset {
                        value.at
                    } else {
                        Pos {
                            offset: key.at.offset + key.at.len + 1,
                            len: 0,
                            ..key.at
                        }
                    };
                    let problem = self
                        .problem(
                            at,
                            format!("`only_if` of {context} is empty"),
                            "nothing here",
                        )
                        .help(only_if_help);
                    self.problems.push(problem);
                }
                Some(_) => {}
            }
            if written("user") != written("pwd") {
                let (has, lacks) = if written("user") {
                    ("user", "pwd")
                } else {
                    ("pwd", "user")
                };
                let problem = self
                    .problem(
                        host_key.at,
                        format!("{context} has `{has}` but no `{lacks}`"),
                        "registry",
                    )
                    .help(format!(
                        "name the environment variable that holds the {}",
                        if lacks == "pwd" {
                            "password"
                        } else {
                            "user name"
                        }
                    ));
                self.problems.push(problem);
            }
            registries.push(registry);
        }
        registries
    }

    /// `only_if`, `user` and `pwd` name environment variables. A value that is
    /// not a variable name may be the credential itself: it is reported
    /// without quoting the line, so it never reaches a log.
    fn envar_reference(&mut self, key: &Key, value: &Node, context: &str) -> Option<String> {
        let text = match &value.value {
            Value::Str(s) | Value::Number(s) => s.clone(),
            Value::Null => return None,
            other => {
                self.report_node(
                    value,
                    format!(
                        "`{}` of {context} must name an environment variable, found {}",
                        key.name,
                        other.kind()
                    ),
                    "expected a variable name",
                );
                return None;
            }
        };
        if is_envar_name(&text) {
            return Some(text.to_string());
        }
        self.problems.push(
            Problem::plain(format!(
                "`{}` of {context} ({}:{}:{}) is not an environment variable name",
                key.name,
                self.source.name(),
                value.at.line,
                value.at.column
            ))
            .help(format!(
                "`{}` names the variable that holds the secret (e.g. `HUB_PASSWORD`), never the secret itself; if a secret was written there, rotate it",
                key.name
            )),
        );
        None
    }

    /// Keys that name directories must differ in more than case: on a
    /// case-insensitive file system (macOS, Windows) they would be one.
    fn check_case_collisions(&mut self, entries: &[(Key, Node)], what: &str) {
        for (i, (key, _)) in entries.iter().enumerate() {
            if let Some((first, _)) = entries[..i]
                .iter()
                .find(|(k, _)| k.name != key.name && k.name.eq_ignore_ascii_case(&key.name))
            {
                let problem = self
                    .problem(
                        key.at,
                        format!(
                            "{what} `{}` and `{}` differ only in case",
                            key.name, first.name
                        ),
                        "same name but for case",
                    )
                    .help("they would share a directory on a case-insensitive file system (macOS, Windows); rename one");
                self.problems.push(problem);
            }
        }
    }

    fn check_path_name(&mut self, key: &Key, what: &str) {
        let name: &str = &key.name;
        let safe = !name.is_empty()
            && name != "."
            && name != ".."
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if safe && name.len() > MAX_FILE_NAME {
            let problem = self
                .problem(
                    key.at,
                    format!("{what} name is {}", too_long_for_a_file_name(name.len())),
                    "too long",
                )
                .help(format!(
                    "shorten the {what} name: it names a directory under `generated/`"
                ));
            self.problems.push(problem);
        }
        if !safe {
            let problem = self
                .problem(
                    key.at,
                    format!("{what} name `{name}` cannot be used in a path under `generated/`"),
                    "unsafe name",
                )
                .help(format!(
                    "{what} names use letters, digits, `.`, `_` and `-`"
                ));
            self.problems.push(problem);
        }
    }
}

/// How a name that becomes a directory is too long.
fn too_long_for_a_file_name(len: usize) -> String {
    format!("{len} bytes long, more than a file name can hold ({MAX_FILE_NAME})")
}

/// Keys whose values name environment variables holding secrets (and
/// whether a registry is used): a secret written there by mistake is masked.
const SECRET_KEYS: [&str; 3] = ["user", "pwd", "only_if"];

/// Parts of key names that say a secret follows (`passwd`, `password`,
/// `token`, ...): a misspelt `pwd` is reported as an unknown key, and the
/// lines quoted with it must not show its value either.
const SECRET_LIKE: [&str; 6] = ["pass", "pwd", "secret", "token", "credential", "api_key"];

/// Whether the value under `key` is masked: one of [`SECRET_KEYS`], or a
/// name that looks like one.
fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    SECRET_KEYS.contains(&key.as_str()) || SECRET_LIKE.iter().any(|part| key.contains(part))
}

/// The manifest text with every scalar under a secret key (see
/// [`is_secret_key`]), however it is written (quoted, on the next line, a
/// block or folded scalar, in a list or mapping, a complex `? key`, an
/// anchor's value reached through an alias, a merged entry that an explicit
/// key overrides), replaced by `*`s where it is written. `root` is the tree
/// as written, before merges drop anything. Variable names are kept: they
/// are what belongs there. Lengths and line breaks stay, so positions stay
/// right.
fn mask_secrets(text: &str, root: &Node) -> String {
    let mut bytes = text.as_bytes().to_vec();
    let mut seen = std::collections::HashSet::new();
    mask_node(&mut bytes, root, false, &mut seen);
    // Only ASCII `*` replaced whole characters' bytes, so it is still UTF-8.
    String::from_utf8(bytes).unwrap_or_else(|_| mask_secret_lines(text))
}

fn mask_node(
    bytes: &mut [u8],
    node: &Node,
    secret: bool,
    seen: &mut std::collections::HashSet<(usize, bool)>,
) {
    let id = match &node.value {
        Value::Seq(items) => items.as_ptr() as usize,
        Value::Map(entries) => entries.as_ptr() as usize,
        Value::Str(s) | Value::Number(s) => {
            if secret && !is_envar_name(s) {
                mask_span(bytes, node.at);
            }
            return;
        }
        Value::Bool(_) | Value::Null => {
            if secret {
                mask_span(bytes, node.at);
            }
            return;
        }
    };
    // Shared content (anchors merged into every release) is walked once.
    if !seen.insert((id, secret)) {
        return;
    }
    match &node.value {
        Value::Seq(items) => {
            for item in items.iter() {
                mask_node(bytes, item, secret, seen);
            }
        }
        Value::Map(entries) => {
            for (key, value) in entries.iter() {
                if secret && !is_envar_name(&key.name) {
                    mask_span(bytes, key.at);
                }
                let secret = secret || is_secret_key(&key.name);
                mask_node(bytes, value, secret, seen);
            }
        }
        _ => {}
    }
}

/// Replaces the written text at `at` by `*`s, byte for byte, line breaks
/// and indentation kept.
fn mask_span(bytes: &mut [u8], at: Pos) {
    let end = at.offset.saturating_add(at.len).min(bytes.len());
    let Some(span) = bytes.get_mut(at.offset..end) else {
        return;
    };
    // A multi-byte character is masked whole: its bytes all become `*`.
    for byte in span.iter_mut().filter(|b| !b.is_ascii_whitespace()) {
        *byte = b'*';
    }
}

/// The words of `text` that `masked` hides (split at whitespace and YAML's
/// punctuation; those of three characters or more, as shorter ones would
/// mask ordinary words of a message), longest first.
fn masked_words(text: &str, masked: &str) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    let masked = masked.as_bytes();
    for (i, c) in text.char_indices() {
        let hidden = masked.get(i) == Some(&b'*') && c != '*';
        if hidden && !c.is_whitespace() && !"{}[],:\"'#&!|>".contains(c) {
            word.push(c);
            continue;
        }
        if word.chars().count() >= 3 && !words.contains(&word) {
            words.push(word.clone());
        }
        word.clear();
    }
    if word.chars().count() >= 3 && !words.contains(&word) {
        words.push(word);
    }
    words.sort_by_key(|w| std::cmp::Reverse(w.len()));
    words
}

/// For text that is not YAML (no tree to find values in): wherever a secret
/// key (see [`is_secret_key`]; quoted or not, `? key`, in a flow mapping)
/// is followed by a value that is not a variable name, the rest of its line
/// is masked, and so are the lines after it that are indented deeper (a
/// value continued below: a block scalar, a quoted or flow value over
/// several lines), until the indentation returns. Masking more than the
/// value is the price of not knowing where a broken value ends.
fn mask_secret_lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    // The indentation of a line with a secret key whose value may go on.
    let mut below: Option<usize> = None;
    for line in text.split_inclusive('\n') {
        let content = line.trim_end_matches(['\n', '\r']);
        let indent = content.len() - content.trim_start_matches([' ', '\t']).len();
        if let Some(key_indent) = below {
            let blank = content.trim().is_empty();
            if blank || indent > key_indent || content.trim_start().starts_with(':') {
                out.push_str(&mask_rest(line, indent));
                continue;
            }
            below = None;
        }
        match secret_value(content) {
            None => out.push_str(line),
            Some(from) => {
                below = Some(indent);
                out.push_str(&mask_rest(line, from));
            }
        }
    }
    out
}

/// Where the first value of a secret key on the line that is not a
/// variable name starts (the line is masked from there): the line's end
/// when every such value is a variable name, `None` without a secret key.
fn secret_value(line: &str) -> Option<usize> {
    let bytes = line.as_bytes();
    let is_word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut found = None;
    let mut i = 0;
    while i < bytes.len() {
        if !is_word(bytes[i]) || (i > 0 && is_word(bytes[i - 1])) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && is_word(bytes[i]) {
            i += 1;
        }
        if !is_secret_key(&line[start..i]) {
            continue;
        }
        // The key may be quoted (or a flow key, `[pwd]`), and spaced from its `:`.
        let mut after = i;
        while matches!(bytes.get(after), Some(b'"' | b'\'' | b']' | b'}')) {
            after += 1;
        }
        while matches!(bytes.get(after), Some(b' ' | b'\t')) {
            after += 1;
        }
        let value_start = match bytes.get(after) {
            Some(b':') if matches!(bytes.get(after + 1), None | Some(b' ' | b'\t')) => after + 1,
            // `? pwd`: the value comes on a later line, after `:`.
            None => return Some(line.len()),
            _ => continue,
        };
        found = Some(line.len());
        let rest = &line[value_start..];
        let value = rest.trim_start();
        let end = value.find([',', '}', ']']).unwrap_or(value.len());
        let value = value[..end].split(" #").next().unwrap_or_default().trim();
        let bare = value.trim_matches(['"', '\'']);
        if !value.is_empty() && !is_envar_name(bare) {
            return Some(value_start);
        }
        i = value_start;
    }
    found
}

/// `line` with everything from `from` on masked, line break kept.
fn mask_rest(line: &str, from: usize) -> String {
    let from = from.min(line.len());
    let mut out = line[..from].to_string();
    out.extend(line[from..].chars().map(|c| {
        if c.is_whitespace() {
            c.to_string()
        } else {
            "*".repeat(c.len_utf8())
        }
    }));
    out
}

/// A control character as a reader can name it: `\\n` (U+000A).
fn control_name(c: char) -> String {
    let escaped: String = c.escape_default().collect();
    format!("`{escaped}` (U+{:04X})", u32::from(c))
}

/// Whether a mapping node has `name` as a key.
fn has_key(node: &Node, name: &str) -> bool {
    matches!(&node.value, Value::Map(entries) if entries.iter().any(|(k, _)| &*k.name == name))
}

fn is_envar_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_uppercase() || b == b'_')
        && bytes.all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// `3.11` or `3.11.4`.
pub(crate) fn is_python_version(version: &str) -> bool {
    let parts: Vec<&str> = version.split('.').collect();
    (2..=3).contains(&parts.len())
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// A Docker repository name component: lower-case alphanumerics separated
/// by single `.`, `_` or `-`.
fn is_repository_name(name: &str) -> bool {
    !name.is_empty()
        && name.split(['.', '_', '-']).all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

/// Checks text that becomes part of a Docker tag.
pub(crate) fn check_tag_part(text: &str) -> Result<(), String> {
    if text.is_empty() {
        return Err("is empty".into());
    }
    if let Some(c) = text
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!(
            "contains `{c}`, which a Docker tag cannot hold (letters, digits, `.`, `_`, `-`)"
        ));
    }
    Ok(())
}

/// Checks a whole tag against the OCI reference grammar:
/// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub(crate) fn check_tag(tag: &str) -> Result<(), String> {
    check_tag_part(tag)?;
    if tag.starts_with(['.', '-']) {
        return Err(format!(
            "starts with `{}`; a Docker tag starts with a letter, digit or `_`",
            &tag[..1]
        ));
    }
    if tag.len() > MAX_TAG {
        return Err(format!(
            "is {} characters long; a Docker tag holds at most {MAX_TAG}",
            tag.len()
        ));
    }
    Ok(())
}

/// The longest tag Docker accepts.
const MAX_TAG: usize = 128;

fn check_repository_path(path: &str) -> Result<(), String> {
    let (host, rest) = path.split_once('/').ok_or("it has no `/`")?;
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err("the registry host is empty".into());
    }
    for part in rest.split('/') {
        if part.contains(':') || part.contains('@') {
            return Err("a tag or digest does not belong here".into());
        }
        if !is_repository_name(part) {
            return Err(format!(
                "`{part}` is not lower-case letters, digits, `.`, `_`, `-`"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masked(text: &str) -> String {
        let node = raw::read_written(text).unwrap();
        let masked = mask_secrets(text, &node);
        assert_eq!(masked.len(), text.len());
        assert_eq!(masked.lines().count(), text.lines().count());
        masked
    }

    #[test]
    fn credentials_written_in_place_of_names_are_masked() {
        let text = "r:\n  user: HUB_USERNAME\n  pwd: Sup3r-S3cret!  # oops\n  usr: x\n  only_if: \"hunter2\"\n";
        let masked = masked(text);
        assert!(masked.contains("user: HUB_USERNAME"), "{masked}");
        assert!(masked.contains("usr: x"), "{masked}");
        assert!(masked.contains("pwd: *************  # oops"), "{masked}");
        assert!(masked.contains("only_if: *********"), "{masked}");
    }

    #[test]
    fn every_yaml_form_of_a_secret_is_masked() {
        for text in [
            "r:\n  pwd: &a S3cret\n",
            "r:\n  \"pwd\": S3cret\n",
            "r:\n  'pwd' : 'S3cret'\n",
            "r:\n  pwd:\n    S3cret\n",
            "r:\n  pwd: |\n    S3cret\n    S3cret2\n  x: 1\n",
            "r:\n  pwd: >\n    S3cret\n",
            "r:\n  ? pwd\n  : S3cret\n",
            "r:\n  pwd: [S3cret, {k: S3cret}]\n",
            "r:\n  pwd: {S3cret: 1}\n",
            "a: &a S3cret\nr:\n  pwd: *a\n",
            "a: &a {p: S3cret}\nr:\n  <<: *a\n  user: *a\n",
        ] {
            let masked = masked(text);
            assert!(!masked.contains("S3cret"), "{text:?} gave {masked:?}");
        }
    }

    #[test]
    fn secret_lines_of_text_that_is_not_yaml_are_masked() {
        let text = "r:\n  user: HUB_USER\n  \"pwd\" : S3cret\n  ? pwd\n  : S3cret\n  pwd: |\n    S3cret\n  x: [\n";
        assert!(raw::parse(text).is_err());
        let masked = mask_secret_lines(text);
        assert_eq!(masked.len(), text.len());
        assert!(!masked.contains("S3cret"), "{masked}");
        assert!(masked.contains("user: HUB_USER\n"), "{masked}");
        assert!(masked.contains("  x: [\n"), "{masked}");
    }

    #[test]
    fn names_and_versions() {
        assert!(is_envar_name("PYTHONDONTWRITEBYTECODE"));
        assert!(!is_envar_name("lang"));
        assert!(!is_envar_name("1A"));
        assert!(is_python_version("3.10") && is_python_version("3.8.12"));
        assert!(!is_python_version("3") && !is_python_version("3.x"));
        assert!(is_repository_name("model-server") && !is_repository_name("Model"));
        assert!(check_tag_part("1.0.0a5").is_ok() && check_tag_part("1.0+x").is_err());
        assert!(check_tag("_a.b-c").is_ok() && check_tag(&"x".repeat(128)).is_ok());
        for bad in ["x".repeat(129), ".a".into(), "-a".into(), "a:b".into()] {
            assert!(check_tag(&bad).is_err(), "{bad}");
        }
        assert!(check_repository_path("docker.io/org/model-server").is_ok());
        assert!(check_repository_path("localhost:5000/model-server").is_ok());
        assert!(check_repository_path("docker.io/org/model-server:1").is_err());
    }
}
