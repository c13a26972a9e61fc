//! Reading YAML into [`Node`]s: serde-saphyr drives a visitor that keeps
//! each node's place, each number's text as written, and one copy of the
//! content every alias of an anchor shares.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

use super::{Key, Node, Pos, Value};

thread_local! {
    /// The reading in progress on this thread: serde drives the visitor,
    /// which needs the source text (numbers keep their spelling) and the
    /// content read so far (aliases share it).
    static READING: RefCell<Reading> = RefCell::new(Reading::default());
}

/// State of one [`parse`](super::parse).
#[derive(Default)]
pub(super) struct Reading {
    source: String,
    /// Content read through aliases, by where it is defined and its kind:
    /// serde-saphyr replays an alias as a fresh copy, which is dropped for
    /// the first one as soon as it is read, so memory holds an anchor's
    /// content at most twice (where it is written, and once for its aliases).
    defined: HashMap<(usize, usize, u8), Value>,
    names: HashSet<Arc<str>>,
}

/// Removes the reading from the thread when parsing ends, however it ends.
pub(super) struct ReadingGuard;

impl Drop for ReadingGuard {
    fn drop(&mut self) {
        READING.take();
    }
}

impl Reading {
    pub(super) fn start(source: &str) -> ReadingGuard {
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

    pub(super) fn node(&mut self, node: Spanned<Raw>) -> Node {
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
pub(super) enum Raw {
    /// A number: its text is taken from the source once its place is known.
    Number,
    Value(Value),
}

pub(super) fn read<T>(f: impl FnOnce(&mut Reading) -> T) -> T {
    READING.with_borrow_mut(f)
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
