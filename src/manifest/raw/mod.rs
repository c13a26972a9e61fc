//! The manifest as YAML wrote it: a tree of nodes, each with the place it was
//! written, before any meaning is given to it.
//!
//! `serde-saphyr` parses the YAML and resolves anchors and aliases; merge keys
//! (`<<`) are read as ordinary keys and resolved here instead, the way PyYAML
//! resolves them: merged entries come first, in the order of the merged
//! mapping, and an explicit key overrides a merged one in place. That is the
//! order the original tool saw, so mappings (and `metadata.json`) keep it.
//!
//! Scalars keep the text they were written with (`3.10` stays `3.10`, `011`
//! stays `011`), so a version never turns into a float on the way.
//!
//! Reading the tree is in `reading`, resolving merges in `merges`, and
//! the parser's messages are put in a manifest writer's words in
//! `messages`.

mod merges;
mod messages;
mod reading;

use std::sync::Arc;

use serde_saphyr::{Location, Spanned};

use merges::Merges;
use messages::{InWords, first_line};
use reading::{Raw, Reading, read};

/// Where something was written in the manifest.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Pos {
    /// Byte offset into the manifest source.
    pub offset: usize,
    /// Length in bytes of the written text (0 for collections).
    pub len: usize,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

impl Pos {
    fn from_location(location: &Location) -> Self {
        let span = location.span();
        Self {
            offset: usize::try_from(span.byte_offset().unwrap_or(0)).unwrap_or(0),
            len: usize::try_from(span.byte_len().unwrap_or(0)).unwrap_or(0),
            line: usize::try_from(location.line()).unwrap_or(0),
            column: usize::try_from(location.column()).unwrap_or(0),
        }
    }

    /// Errors carry a line and column but not always a byte offset: the
    /// offset is found from the line and column then.
    fn of_error(source: &str, location: &Location) -> Self {
        let mut pos = Self::from_location(location);
        if location.span().byte_offset().is_none() && pos.line > 0 {
            let line_start: usize = source
                .split_inclusive('\n')
                .take(pos.line - 1)
                .map(str::len)
                .sum();
            let line = source[line_start..].lines().next().unwrap_or_default();
            let column: usize = line
                .chars()
                .take(pos.column.saturating_sub(1))
                .map(char::len_utf8)
                .sum();
            pos.offset = line_start + column;
            pos.len = 0;
        }
        pos
    }
}

/// A mapping key with its position.
#[derive(Clone, Debug, PartialEq)]
pub struct Key {
    /// The key as written (`10` is the string `"10"`).
    pub name: Arc<str>,
    /// Where the key is written.
    pub at: Pos,
}

/// A YAML node with its position.
///
/// Content is shared: every alias of an anchor, and every mapping that
/// merges it, holds the same [`Value`], so a matrix that merges one anchor
/// into thousands of releases holds that anchor's content once.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// The node's content.
    pub value: Value,
    /// Where the node is written (for an alias or a merged value: the original).
    pub at: Pos,
    /// Where an alias or a merge brought the node in, when that differs from `at`.
    pub via: Option<Pos>,
}

/// The content of a node.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `~`, `null` or nothing.
    Null,
    /// `true` / `false` (any YAML 1.2 core spelling).
    Bool(bool),
    /// A plain scalar that YAML reads as a number, with its text as written.
    Number(Arc<str>),
    /// A string.
    Str(Arc<str>),
    /// A sequence.
    Seq(Arc<[Node]>),
    /// A mapping, in the order written (merges resolved).
    Map(Arc<[(Key, Node)]>),
}

impl Value {
    /// A short name of the node's kind, for messages.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Null => "nothing",
            Self::Bool(_) => "a boolean",
            Self::Number(_) => "a number",
            Self::Str(_) => "a string",
            Self::Seq(_) => "a list",
            Self::Map(_) => "a mapping",
        }
    }

    /// The text of a scalar as a user would read it: strings, numbers as
    /// written, booleans; `None` for null and collections.
    #[must_use]
    pub fn scalar_text(&self) -> Option<String> {
        match self {
            Self::Str(s) | Self::Number(s) => Some(s.to_string()),
            Self::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    /// The text of a string or a number.
    #[must_use]
    pub fn text(&self) -> Option<&str> {
        match self {
            Self::Str(s) | Self::Number(s) => Some(s),
            _ => None,
        }
    }
}

/// A problem found while reading the YAML itself.
#[derive(Debug, Clone)]
pub struct ParseError {
    /// What went wrong.
    pub message: String,
    /// Where, when known.
    pub at: Option<Pos>,
}

/// A problem with a merge key found while resolving merges.
#[derive(Debug, Clone)]
pub struct MergeError {
    /// Where the bad merge value is written.
    pub at: Pos,
    /// What it was instead of a mapping.
    pub found: &'static str,
}

/// Parses YAML text into a node tree, merges resolved.
///
/// # Errors
/// When the text is not YAML (syntax, duplicate key, unknown alias, ...).
pub fn parse(source: &str) -> Result<(Node, Vec<MergeError>), ParseError> {
    read_written(source).map(|written| resolve_merges(&written))
}

/// Resolves the `<<` keys of a tree read by [`read_written`].
#[must_use]
pub fn resolve_merges(written: &Node) -> (Node, Vec<MergeError>) {
    let mut errors = Vec::new();
    let node = Merges::default().resolve(written, &mut errors);
    (node, errors)
}

/// Parses YAML text into a node tree as written: `<<` keys are ordinary
/// keys, so every entry is there, a merged one that an explicit key
/// overrides included.
///
/// # Errors
/// As [`parse`].
pub fn read_written(source: &str) -> Result<Node, ParseError> {
    let mut options = serde_saphyr::Options::default();
    options.merge_keys = serde_saphyr::MergeKeyPolicy::AsOrdinary;
    options.strict_booleans = true;
    // A release matrix merges one anchor into every release: thousands of
    // aliases of a handful of anchors is the normal shape, not an alias bomb.
    // Replays and sizes stay bounded, ten times the defaults.
    let mut budget = serde_saphyr::Budget::default();
    budget.alias_anchor_ratio_multiplier = usize::MAX;
    budget.max_events *= 10;
    budget.max_nodes *= 10;
    budget.max_aliases *= 10;
    options.budget = Some(budget);
    options.alias_limits.max_total_replayed_events *= 10;
    if source.trim().is_empty() {
        return Ok(Node {
            value: Value::Null,
            at: Pos::default(),
            via: None,
        });
    }
    let _reading = Reading::start(source);
    let spanned: Spanned<Raw> =
        serde_saphyr::from_str_with_options(source, options).map_err(|error| ParseError {
            message: first_line(&error.without_snippet().render_with_formatter(&InWords)),
            at: error.location().map(|l| Pos::of_error(source, &l)),
        })?;
    Ok(read(|r| r.node(spanned)))
}

#[cfg(test)]
mod tests;
