//! Merge keys (`<<`) resolved the way PyYAML resolves them, which is what
//! the original tool saw: merged entries first, in the merged mapping's
//! order, and an explicit key overriding a merged one in place.

use std::collections::HashMap;
use std::sync::Arc;

use super::{Key, MergeError, Node, Pos, Value};

const MERGE_KEY: &str = "<<";

/// Resolves `<<` keys with PyYAML's semantics. Content shared before is
/// resolved once and stays shared.
#[derive(Default)]
pub(super) struct Merges {
    resolved: HashMap<usize, Value>,
}

impl Merges {
    pub(super) fn resolve(&mut self, node: &Node, errors: &mut Vec<MergeError>) -> Node {
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
