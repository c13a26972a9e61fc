//! Turns the raw YAML tree into a [`Manifest`](super::Manifest), checking every rule of the
//! format on the way and collecting each problem with its position.
//!
//! The walk never stops at a problem: a bad value is reported and left out,
//! and the walk goes on, so the user sees everything to fix in one run.
//!
//! This file holds the walk's state ([`Checker`]) and the ways it reads a
//! node and reports a problem; each section of the manifest is checked in a
//! file of its own, in the order [`document`] walks them.

mod bake;
mod collisions;
mod cuda;
mod directories;
mod document;
mod grammar;
mod packages;
mod platforms;
mod releases;
mod repository;
mod secrets;
mod tags;
mod templated;

pub(crate) use grammar::{check_reference, check_tag, check_tag_part, is_python_version};

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value as Json;

use super::Checked;
use super::raw::{self, Key, Node, Pos, Value};
use crate::diagnostic::{Problem, Source, suggestion};
use secrets::{mask_secret_lines, mask_secrets, masked_words};

/// Checks the manifest `text` read from `file`, masking any secret in it
/// before a problem can quote it.
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

/// The walk's state: the source that problems point into, the problems
/// found so far, and what values merged into many releases share.
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
}
