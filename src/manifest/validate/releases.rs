//! `releases` and `release_spec`: each distro's releases, with the spec
//! every release needs, and the values templates see. A value merged into
//! many releases is checked and reported where it is written, and held once.

use std::sync::Arc;

use super::grammar::check_tag_part;
use super::templated::{CONTROL_HELP, control_name};
use super::{Checker, Envars, Json, Key, Node, Value};
use crate::manifest::{Distro, Release, Spec};

const SPEC_KEYS: [&str; 11] = [
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
    "platforms",
];

impl Checker {
    pub(super) fn releases(&mut self, node: &Node, has_cuda: bool) -> Vec<Distro> {
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
    pub(super) fn spec(
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
            platforms: Arc::new([]),
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
            "envars" | "add_to_tags" | "python_versions" | "multistage_image" | "base_image"
            | "platforms" => {}
            "header" => self.control_characters(value, &what, &['\n', '\t']),
            _ => self.control_characters(value, &what, &[]),
        }
        let json = match &*key.name {
            "templates_dir" | "base_image" | "add_to_tags" | "header" | "cuda_prefix_url"
            | "cuda_requires" => self.spec_text(spec, &key.name, value, &what),
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
            "envars" => self.spec_envars(spec, value, &what),
            "cuda" => self.spec_cuda(value, &what),
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
            "platforms" => {
                spec.platforms = self.platforms(value, &what).into();
                Json::Array(
                    spec.platforms
                        .iter()
                        .map(|p| Json::String(p.clone()))
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

    /// A key of a release spec whose value is text; those the tool reads
    /// itself fill `spec`.
    fn spec_text(&mut self, spec: &mut Spec, name: &str, value: &Node, what: &str) -> Json {
        let text = self.text(value, what);
        match name {
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
                            format!("{what} holds the control character {}", control_name(c)),
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

    /// `envars` of a release spec: items merged into many releases are
    /// checked once and held once.
    fn spec_envars(&mut self, spec: &mut Spec, value: &Node, what: &str) -> Json {
        let place = (value.at.offset, value.at.len);
        spec.envars = match self.shared_envars.get(&place) {
            Some(shared) if value.via.is_some() => shared.clone(),
            _ => {
                let envars: Envars = self.envars(value, what).into();
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

    /// `cuda` of a release spec: component name to package version.
    fn spec_cuda(&mut self, value: &Node, what: &str) -> Json {
        let mut components = serde_json::Map::new();
        for (name, version) in self.entries(value, what) {
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
}
