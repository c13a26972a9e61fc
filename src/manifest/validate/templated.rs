//! Values that templates print into Dockerfile lines: no control
//! characters, and `envars` items that are `NAME=value` with a name of
//! their own (not one the tool sets itself).

use super::grammar::is_envar_name;
use super::{Checker, Node, Value};

/// Why a value that templates print may hold no control character.
pub(super) const CONTROL_HELP: &str = "templates print it into a Dockerfile, where a line break starts an \
     instruction of its own and other control characters garble the line; write it on one line, \
     without control characters";

/// Environment variables the tool sets itself.
const RESERVED_ENVARS: [&str; 2] = ["BENTOML_VERSION", "PYTHON_VERSION"];

impl Checker {
    /// Reports a control character (but those `allowed`) in any string of
    /// `node`, mapping keys included, where it is written.
    pub(super) fn control_characters(&mut self, node: &Node, what: &str, allowed: &[char]) {
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

    pub(super) fn envars(&mut self, node: &Node, what: &str) -> Vec<(String, String)> {
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
}

/// A control character as a reader can name it: `\\n` (U+000A).
pub(super) fn control_name(c: char) -> String {
    let escaped: String = c.escape_default().collect();
    format!("`{escaped}` (U+{:04X})", u32::from(c))
}
