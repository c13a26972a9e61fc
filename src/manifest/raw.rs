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

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{Location, Spanned};

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

fn first_line(message: &str) -> String {
    let line = message.lines().next().unwrap_or(message);
    // serde-saphyr appends " at line X column Y"; the report shows the place itself.
    match line.find(" at line ") {
        Some(i) => line[..i].to_string(),
        None => line.to_string(),
    }
}

/// The parser's messages in a manifest writer's terms: its own speak to
/// the author of the program that reads the YAML ("use Option<String>",
/// "set DuplicateKeyPolicy in Options", "use from_str_multiple").
struct InWords;

impl serde_saphyr::MessageFormatter for InWords {
    fn format_message<'a>(&self, error: &'a serde_saphyr::Error) -> std::borrow::Cow<'a, str> {
        use serde_saphyr::Error as E;
        let words = match error {
            E::DuplicateMappingKey { key: Some(key), .. } => format!("duplicate key `{key}`"),
            E::DuplicateMappingKey { key: None, .. } => "duplicate key".into(),
            E::NullIntoString { .. } => "a key is empty (`~`, `null` or nothing): keys are names".into(),
            E::Unexpected { expected, .. } if *expected == "string scalar" => {
                "a key that is not a name (a list, a mapping or nothing): keys are names".into()
            }
            E::MultipleDocuments { .. } => {
                "more than one YAML document (`---`): the manifest is a single document".into()
            }
            E::InvalidBooleanStrict { .. } => {
                "not a boolean: write `true` or `false`".into()
            }
            E::InvalidScalar { ty, .. } => {
                let what = if ty.starts_with('f') { "a number" } else { "a whole number" };
                format!("the value is tagged as {what} but is not one")
            }
            E::TaggedScalarCannotDeserializeIntoString { .. }
            | E::BinaryNotUtf8 { .. }
            | E::InvalidBinaryBase64 { .. } => {
                "a YAML tag bentoml-docker does not read (`!!binary`, `!!timestamp`, ...): write the value as plain text".into()
            }
            E::RecursiveReferencesRequireWeakTypes { .. } => {
                "an alias refers to a node that contains it (a cycle)".into()
            }
            E::Budget { .. }
            | E::AliasReplayCounterOverflow { .. }
            | E::AliasReplayLimitExceeded { .. }
            | E::AliasExpansionLimitExceeded { .. }
            | E::AliasReplayStackDepthExceeded { .. } => {
                "the manifest is too large or too deeply nested (or its aliases expand too far) to be read".into()
            }
            _ => return serde_saphyr::DefaultMessageFormatter.format_message(error),
        };
        std::borrow::Cow::Owned(words)
    }
}

thread_local! {
    /// The reading in progress on this thread: serde drives the visitor,
    /// which needs the source text (numbers keep their spelling) and the
    /// content read so far (aliases share it).
    static READING: RefCell<Reading> = RefCell::new(Reading::default());
}

/// State of one [`parse`].
#[derive(Default)]
struct Reading {
    source: String,
    /// Content read through aliases, by where it is defined and its kind:
    /// serde-saphyr replays an alias as a fresh copy, which is dropped for
    /// the first one as soon as it is read, so memory holds an anchor's
    /// content at most twice (where it is written, and once for its aliases).
    defined: HashMap<(usize, usize, u8), Value>,
    names: HashSet<Arc<str>>,
}

/// Removes the reading from the thread when parsing ends, however it ends.
struct ReadingGuard;

impl Drop for ReadingGuard {
    fn drop(&mut self) {
        READING.take();
    }
}

impl Reading {
    fn start(source: &str) -> ReadingGuard {
        READING.set(Self {
            source: source.to_string(),
            ..Self::default()
        });
        ReadingGuard
    }

    fn name(&mut self, name: String) -> Arc<str> {
        if let Some(known) = self.names.get(name.as_str()) {
            return known.clone();
        }
        let name: Arc<str> = name.into();
        self.names.insert(name.clone());
        name
    }

    fn node(&mut self, node: Spanned<Raw>) -> Node {
        let at = Pos::from_location(&node.defined);
        let referenced = Pos::from_location(&node.referenced);
        let via = (referenced != at && referenced.line != 0).then_some(referenced);
        let value = match node.value {
            Raw::Number => Value::Number(
                self.source
                    .get(at.offset..at.offset + at.len)
                    .unwrap_or_default()
                    .into(),
            ),
            Raw::Value(value) => value,
        };
        // Only content that came through an alias is shared: the first copy
        // read is kept, later ones are dropped for it.
        let kind = match &value {
            _ if via.is_none() => None,
            Value::Null | Value::Bool(_) => None,
            Value::Number(_) => Some(0),
            Value::Str(_) => Some(1),
            Value::Seq(_) => Some(2),
            Value::Map(_) => Some(3),
        };
        let value = match kind {
            Some(kind) => self
                .defined
                .entry((at.offset, at.len, kind))
                .or_insert_with(|| detached(value, via))
                .clone(),
            None => value,
        };
        Node { value, at, via }
    }
}

/// Content read through the alias at `via`, made the same for every use:
/// serde-saphyr gives each node of a replay the alias's place, which only
/// the node of the alias itself keeps (its children are reached through
/// it). Deeper levels were detached when they were read.
fn detached(mut value: Value, via: Option<Pos>) -> Value {
    let clear = |node: &mut Node| {
        if node.via == via {
            node.via = None;
        }
    };
    match &mut value {
        Value::Seq(items) => {
            for item in Arc::get_mut(items).into_iter().flatten() {
                clear(item);
            }
        }
        Value::Map(entries) => {
            for (_, node) in Arc::get_mut(entries).into_iter().flatten() {
                clear(node);
            }
        }
        _ => {}
    }
    value
}

/// What the visitor reads: a value whose children are already nodes.
enum Raw {
    /// A number: its text is taken from the source once its place is known.
    Number,
    Value(Value),
}

fn read<T>(f: impl FnOnce(&mut Reading) -> T) -> T {
    READING.with_borrow_mut(f)
}

const MERGE_KEY: &str = "<<";

/// Resolves `<<` keys with PyYAML's semantics. Content shared before is
/// resolved once and stays shared.
#[derive(Default)]
struct Merges {
    resolved: HashMap<usize, Value>,
}

impl Merges {
    fn resolve(&mut self, node: &Node, errors: &mut Vec<MergeError>) -> Node {
        Node {
            value: self.value(&node.value, errors),
            at: node.at,
            via: node.via,
        }
    }

    fn value(&mut self, value: &Value, errors: &mut Vec<MergeError>) -> Value {
        let id = match value {
            Value::Seq(items) => items.as_ptr() as usize,
            Value::Map(entries) => entries.as_ptr() as usize,
            _ => return value.clone(),
        };
        if let Some(done) = self.resolved.get(&id) {
            return done.clone();
        }
        let resolved = match value {
            Value::Seq(items) => {
                Value::Seq(items.iter().map(|n| self.resolve(n, errors)).collect())
            }
            Value::Map(entries) => Value::Map(self.map(entries, errors)),
            _ => unreachable!("scalars returned above"),
        };
        self.resolved.insert(id, resolved.clone());
        resolved
    }

    fn map(&mut self, entries: &[(Key, Node)], errors: &mut Vec<MergeError>) -> Arc<[(Key, Node)]> {
        let entries: Vec<(Key, Node)> = entries
            .iter()
            .map(|(k, v)| (k.clone(), self.resolve(v, errors)))
            .collect();
        if !entries.iter().any(|(k, _)| &*k.name == MERGE_KEY) {
            return entries.into();
        }
        let mut merged: Vec<(Key, Node)> = Vec::new();
        let mut explicit = Vec::new();
        for (key, value) in entries {
            if &*key.name != MERGE_KEY {
                explicit.push((key, value));
                continue;
            }
            let via = value.via.unwrap_or(value.at);
            match &value.value {
                Value::Map(source) => merged.extend(source.iter().map(|e| mark(e, via))),
                Value::Seq(sources) => {
                    // Earlier mappings win: PyYAML puts later ones first.
                    for source in sources.iter().rev() {
                        match &source.value {
                            Value::Map(m) => merged.extend(m.iter().map(|e| mark(e, via))),
                            other => errors.push(MergeError {
                                at: source.at,
                                found: other.kind(),
                            }),
                        }
                    }
                }
                other => errors.push(MergeError {
                    at: value.at,
                    found: other.kind(),
                }),
            }
        }
        let mut result: Vec<(Key, Node)> = Vec::with_capacity(merged.len() + explicit.len());
        for (key, value) in merged.into_iter().chain(explicit) {
            match result.iter_mut().find(|(k, _)| k.name == key.name) {
                Some(slot) => slot.1 = value,
                None => result.push((key, value)),
            }
        }
        result.into()
    }
}

/// Records where a merged value was brought in: the `<<` of this
/// mapping, however the merged mapping got it (a chain of merges names
/// its last link, the one in the mapping that uses the value).
fn mark((key, value): &(Key, Node), via: Pos) -> (Key, Node) {
    let mut value = value.clone();
    value.via = Some(via);
    (key.clone(), value)
}

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RawVisitor)
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = Raw;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E>(self) -> Result<Raw, E> {
        Ok(Raw::Value(Value::Null))
    }
    fn visit_none<E>(self) -> Result<Raw, E> {
        Ok(Raw::Value(Value::Null))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Raw, D::Error> {
        Raw::deserialize(d)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Raw, E> {
        Ok(Raw::Value(Value::Bool(v)))
    }
    fn visit_i64<E>(self, _: i64) -> Result<Raw, E> {
        Ok(Raw::Number)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Raw, E> {
        Ok(Raw::Number)
    }
    fn visit_i128<E>(self, _: i128) -> Result<Raw, E> {
        Ok(Raw::Number)
    }
    fn visit_u128<E>(self, _: u128) -> Result<Raw, E> {
        Ok(Raw::Number)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Raw, E> {
        Ok(Raw::Number)
    }
    fn visit_str<E>(self, v: &str) -> Result<Raw, E> {
        Ok(Raw::Value(Value::Str(v.into())))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Raw, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Raw>>()? {
            items.push(read(|r| r.node(item)));
        }
        Ok(Raw::Value(Value::Seq(items.into())))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw, A::Error> {
        let mut entries = Vec::new();
        while let Some((key, value)) = map.next_entry::<Spanned<String>, Spanned<Raw>>()? {
            entries.push(read(|r| {
                let key = Key {
                    at: Pos::from_location(&key.defined),
                    name: r.name(key.value),
                };
                (key, r.node(value))
            }));
        }
        Ok(Raw::Value(Value::Map(entries.into())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(node: &Node) -> &[(Key, Node)] {
        match &node.value {
            Value::Map(m) => m,
            other => panic!("expected a mapping, got {other:?}"),
        }
    }

    fn get<'a>(node: &'a Node, key: &str) -> &'a Node {
        &map(node).iter().find(|(k, _)| &*k.name == key).unwrap().1
    }

    fn keys(node: &Node) -> Vec<&str> {
        map(node).iter().map(|(k, _)| &*k.name).collect()
    }

    #[test]
    fn keys_and_numbers_keep_their_text() {
        let (root, errors) = parse("3.10: 011\n10: [3.10, 3.9, 1_000]\n").unwrap();
        assert!(errors.is_empty());
        assert_eq!(keys(&root), ["3.10", "10"]);
        assert_eq!(get(&root, "3.10").value, Value::Number("011".into()));
        let Value::Seq(items) = &get(&root, "10").value else {
            panic!()
        };
        let texts: Vec<_> = items
            .iter()
            .map(|n| n.value.scalar_text().unwrap())
            .collect();
        assert_eq!(texts, ["3.10", "3.9", "1_000"]);
    }

    #[test]
    fn merged_keys_come_first_and_explicit_keys_override_in_place() {
        let yaml = "base: &b\n  a: 1\n  b: 2\n  c: 3\nchild:\n  z: 0\n  <<: *b\n  b: 20\n";
        let (root, _) = parse(yaml).unwrap();
        let child = get(&root, "child");
        assert_eq!(keys(child), ["a", "b", "c", "z"]);
        assert_eq!(get(child, "b").value, Value::Number("20".into()));
        assert_eq!(get(child, "b").at.line, 8);
        // A merged value points at its definition and remembers the merge site.
        let a = get(child, "a");
        assert_eq!((a.at.line, a.via.unwrap().line), (2, 7));
    }

    #[test]
    fn chained_merges_resolve_through_every_level() {
        let yaml = "a: &a\n  x: 1\n  y: 1\nb: &b\n  <<: *a\n  y: 2\nc:\n  <<: *b\n  x: 3\n";
        let (root, _) = parse(yaml).unwrap();
        let c = get(&root, "c");
        assert_eq!(keys(c), ["x", "y"]);
        assert_eq!(get(c, "x").value, Value::Number("3".into()));
        assert_eq!(get(c, "y").value, Value::Number("2".into()));
    }

    #[test]
    fn shared_content_names_each_use_where_it_is_used() {
        let yaml = "c: &c {a: x}\nr1: *c\nr2: *c\nm1: {<<: *c}\nm2:\n  <<: *c\n  b: y\n";
        let (root, _) = parse(yaml).unwrap();
        let line = |node: &Node| node.via.map(|v| v.line);
        assert_eq!(line(get(&root, "r1")), Some(2));
        assert_eq!(line(get(&root, "r2")), Some(3));
        // The content is shared: its own nodes name no use.
        assert_eq!(line(get(get(&root, "r2"), "a")), None);
        assert_eq!(line(get(get(&root, "m1"), "a")), Some(4));
        assert_eq!(line(get(get(&root, "m2"), "a")), Some(6));
        assert_eq!(line(get(get(&root, "m2"), "b")), None);
    }

    #[test]
    fn a_chain_of_merges_names_the_merge_in_the_mapping_that_uses_it() {
        let yaml = "a: &a\n  x: 1\nb: &b\n  <<: *a\n  y: 2\nc:\n  <<: *b\nd:\n  <<: *b\n";
        let (root, _) = parse(yaml).unwrap();
        for (mapping, line) in [("b", 4), ("c", 7), ("d", 9)] {
            let x = get(get(&root, mapping), "x");
            assert_eq!(x.via.map(|v| v.line), Some(line), "{mapping}");
            assert_eq!(x.at.line, 2);
        }
        assert_eq!(get(get(&root, "d"), "y").via.map(|v| v.line), Some(9));
    }

    #[test]
    fn merge_lists_let_earlier_mappings_win() {
        let yaml = "a: &a {k: 1, a: 1}\nb: &b {k: 2, b: 2}\nc:\n  <<: [*a, *b]\n";
        let (root, _) = parse(yaml).unwrap();
        let c = get(&root, "c");
        assert_eq!(keys(c), ["k", "b", "a"]);
        assert_eq!(get(c, "k").value, Value::Number("1".into()));
    }

    #[test]
    fn merging_a_scalar_is_reported() {
        let (_, errors) = parse("c:\n  <<: 3\n").unwrap();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].found, "a number");
        assert_eq!(errors[0].at.line, 2);
    }

    #[test]
    fn syntax_errors_carry_a_position() {
        let error = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(error.at.is_some(), "{error:?}");
    }

    #[test]
    fn seed_manifest_loads() {
        let source = include_str!("../../tests/fixtures/seed/manifest.yml");
        let (root, errors) = parse(source).unwrap();
        assert!(errors.is_empty());
        let centos7 = get(get(get(&root, "releases"), "centos"), "7");
        assert_eq!(
            keys(centos7),
            [
                "templates_dir",
                "base_image",
                "add_to_tags",
                "multistage_image",
                "header",
                "envars",
                "cuda_prefix_url",
                "cuda_requires",
                "cuda"
            ]
        );
        assert_eq!(
            get(centos7, "base_image").value,
            Value::Str("centos:7".into())
        );
        assert_eq!(get(centos7, "templates_dir").at.line, 72);
    }
}
