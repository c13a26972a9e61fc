//! `repository`: where each package is pushed, and the environment
//! variables that enable a registry and hold its credentials (names, never
//! the secrets themselves).

use super::grammar::{check_repository_path, is_envar_name};
use super::{Checker, Key, Node, Pos, Value};
use crate::diagnostic::{Problem, suggestion};
use crate::manifest::{Package, Registry};

const REGISTRY_KEYS: [&str; 4] = ["only_if", "user", "pwd", "registry"];

/// A repository path with the package pushed there and its registry's host.
type PushedTo = Vec<(String, String, String)>;

impl Checker {
    pub(super) fn repository(&mut self, node: &Node, packages: &[Package]) -> Vec<Registry> {
        let package_names: Vec<&str> = packages.iter().map(|p| p.name.as_str()).collect();
        let mut registries = Vec::new();
        let mut pushed_to = PushedTo::new();
        for (host_key, spec) in self.entries(node, "`repository`") {
            let registry = self.registry(host_key, spec, &package_names, &mut pushed_to);
            registries.push(registry);
        }
        registries
    }

    /// One registry of `repository`: its variables and the repository of
    /// each package pushed there.
    fn registry(
        &mut self,
        host_key: &Key,
        spec: &Node,
        package_names: &[&str],
        pushed_to: &mut PushedTo,
    ) -> Registry {
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
                    let what = format!("`registry` of {context}");
                    for (package, path) in self.entries(value, &what) {
                        if let Some(path) =
                            self.repository_path(package, path, host_key, package_names, pushed_to)
                        {
                            registry.repositories.push((package.name.to_string(), path));
                        }
                    }
                }
                _ => self.unknown_key(key, &REGISTRY_KEYS, &context),
            }
        }
        self.require_only_if(host_key, spec, &context);
        self.require_user_and_pwd(host_key, spec, &context);
        registry
    }

    /// The repository a package is pushed to: a known package, a path
    /// without a tag, and no other package's repository.
    fn repository_path(
        &mut self,
        package: &Key,
        path: &Node,
        host_key: &Key,
        package_names: &[&str],
        pushed_to: &mut PushedTo,
    ) -> Option<String> {
        if !package_names.contains(&&*package.name) {
            let problem = self
                .problem(
                    package.at,
                    format!("package `{}` is not defined under `packages`", package.name),
                    "unknown package",
                )
                .maybe_help(suggestion(&package.name, package_names.iter().copied()));
            self.problems.push(problem);
            return None;
        }
        let path_text = self.text(path, "a repository path")?;
        if let Err(why) = check_repository_path(&path_text) {
            let problem = self
                .problem(
                    path.at,
                    format!("`{path_text}` is not a repository path: {why}"),
                    "repository path",
                )
                .help("write the full path without a tag, e.g. `docker.io/org/model-server`");
            self.problems.push(problem);
            return None;
        }
        // One package in one repository from two registry entries is a
        // mirror, not a clash.
        if let Some((_, other, other_host)) = pushed_to
            .iter()
            .find(|(p, other, _)| p.eq_ignore_ascii_case(&path_text) && **other != *package.name)
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
            return None;
        }
        pushed_to.push((
            path_text.clone(),
            package.name.to_string(),
            host_key.name.to_string(),
        ));
        Some(path_text)
    }

    /// A registry is used only when its `only_if` variable is set: it must
    /// name one.
    fn require_only_if(&mut self, host_key: &Key, spec: &Node, context: &str) {
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
    }

    /// Credentials come in pairs: `user` and `pwd`, or neither.
    fn require_user_and_pwd(&mut self, host_key: &Key, spec: &Node, context: &str) {
        let written = |name: &str| has_key(spec, name);
        if written("user") == written("pwd") {
            return;
        }
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
}

/// Whether a mapping node has `name` as a key.
fn has_key(node: &Node, name: &str) -> bool {
    matches!(&node.value, Value::Map(entries) if entries.iter().any(|(k, _)| &*k.name == name))
}
