//! Jinja2 lets a template change a list or a dict in place
//! (`{% do opts.append('--x') %}`); minijinja values are immutable. So before
//! compiling, a template's `{% set NAME = EXPR %}` becomes
//! `{% set NAME = (EXPR)|__mutable %}` for every `NAME` the template changes
//! in place, and `__mutable` wraps the value in a shared, mutable list or
//! dict. Because the object is shared, a change made inside a loop is seen
//! after it, exactly as in Python (a plain re-`set` would not be).
//!
//! Only the `set` lines of such names change, and no line is added, so line
//! numbers stay right; [`Rewritten::original_offset`] maps columns back.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use indexmap::IndexMap;
use minijinja::value::{Enumerator, Object, ObjectRepr, Value, ValueKind};
use minijinja::{Error, ErrorKind, State};

/// The filter name the rewrite uses.
pub const FILTER: &str = "__mutable";

const LIST_METHODS: [&str; 6] = ["append", "extend", "insert", "pop", "remove", "clear"];
const DICT_METHODS: [&str; 3] = ["update", "setdefault", "popitem"];

/// A template source after the rewrite.
#[derive(Debug)]
pub struct Rewritten {
    /// The text to compile.
    pub text: String,
    /// `(offset in text, bytes inserted there)`, in order.
    insertions: Vec<(usize, usize)>,
}

impl Rewritten {
    /// Maps an offset of the rewritten text back to the original source.
    #[must_use]
    pub fn original_offset(&self, offset: usize) -> usize {
        let mut shift = 0;
        for &(at, len) in &self.insertions {
            if offset >= at + len {
                shift += len;
            } else if offset >= at {
                return at - shift;
            }
        }
        offset - shift
    }
}

/// Rewrites `{% set NAME = EXPR %}` for every name changed in place.
#[must_use]
pub fn rewrite(source: &str) -> Rewritten {
    let names = mutated_names(source);
    let mut text = String::with_capacity(source.len());
    let mut insertions = Vec::new();
    let mut rest = 0;
    if !names.is_empty() {
        let mut search = 0;
        while let Some(start) = source[search..].find("{%").map(|i| i + search) {
            let Some((name_end, expr_start, expr_end)) = set_statement(source, start) else {
                search = start + 2;
                continue;
            };
            let name = source[..name_end]
                .rsplit(|c: char| !is_ident(c))
                .next()
                .unwrap_or_default();
            if names.contains(name) {
                text.push_str(&source[rest..expr_start]);
                insertions.push((text.len(), 1));
                text.push('(');
                text.push_str(&source[expr_start..expr_end]);
                let suffix = format!(")|{FILTER}");
                insertions.push((text.len(), suffix.len()));
                text.push_str(&suffix);
                rest = expr_end;
            }
            search = expr_end;
        }
    }
    text.push_str(&source[rest..]);
    Rewritten { text, insertions }
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Names used as `NAME.method(` with a mutating method, not after a `.`.
fn mutated_names(source: &str) -> BTreeSet<&str> {
    let mut names = BTreeSet::new();
    for method in LIST_METHODS.iter().chain(&DICT_METHODS) {
        let needle = format!(".{method}(");
        for (at, _) in source.match_indices(&needle) {
            let before = &source[..at];
            let start = before
                .char_indices()
                .rev()
                .find(|(_, c)| !is_ident(*c))
                .map_or(0, |(i, c)| i + c.len_utf8());
            let name = &before[start..];
            let preceded_by_dot = before[..start].ends_with('.');
            if !name.is_empty()
                && !name.starts_with(|c: char| c.is_ascii_digit())
                && !preceded_by_dot
            {
                names.insert(name);
            }
        }
    }
    names
}

/// For `{% set NAME = EXPR %}` at `start`: the end of NAME, and the range of EXPR.
fn set_statement(source: &str, start: usize) -> Option<(usize, usize, usize)> {
    let bytes = source.as_bytes();
    let mut i = start + 2;
    if matches!(bytes.get(i), Some(b'-' | b'+')) {
        i += 1;
    }
    while bytes.get(i).is_some_and(u8::is_ascii_whitespace) {
        i += 1;
    }
    if !bytes[i..].starts_with(b"set") || !bytes.get(i + 3).is_some_and(u8::is_ascii_whitespace) {
        return None;
    }
    i += 3;
    while bytes.get(i).is_some_and(u8::is_ascii_whitespace) {
        i += 1;
    }
    let name_start = i;
    while bytes.get(i).is_some_and(|b| is_ident(char::from(*b))) {
        i += 1;
    }
    let name_end = i;
    if name_end == name_start {
        return None;
    }
    while bytes.get(i).is_some_and(u8::is_ascii_whitespace) {
        i += 1;
    }
    if bytes.get(i) != Some(&b'=') || bytes.get(i + 1) == Some(&b'=') {
        return None;
    }
    i += 1;
    while bytes.get(i).is_some_and(u8::is_ascii_whitespace) {
        i += 1;
    }
    let expr_start = i;
    let mut quote = None;
    let mut j = expr_start;
    while j < bytes.len() {
        let b = bytes[j];
        match quote {
            Some(_) if b == b'\\' => j += 1,
            Some(q) if b == q => quote = None,
            None if b == b'\'' || b == b'"' => quote = Some(b),
            // Another tag before `%}`: not a well-formed `set`; leave it to the parser.
            None if bytes[j..].starts_with(b"{%")
                || bytes[j..].starts_with(b"{{")
                || bytes[j..].starts_with(b"}}") =>
            {
                return None;
            }
            None if bytes[j..].starts_with(b"%}") => {
                let mut end = j;
                if matches!(bytes[end - 1], b'-' | b'+') {
                    end -= 1;
                }
                let trimmed = source[expr_start..end].trim_end().len();
                return Some((name_end, expr_start, expr_start + trimmed));
            }
            _ => {}
        }
        j += 1;
    }
    None
}

/// The `__mutable` filter: lists and dicts become shared mutable objects.
pub fn mutable(value: Value) -> Value {
    if value.downcast_object_ref::<List>().is_some()
        || value.downcast_object_ref::<Dict>().is_some()
    {
        return value;
    }
    match value.kind() {
        ValueKind::Seq => Value::from_object(List(Mutex::new(
            value.try_iter().map(Iterator::collect).unwrap_or_default(),
        ))),
        ValueKind::Map => {
            let mut map = IndexMap::new();
            if let Ok(keys) = value.try_iter() {
                for key in keys {
                    let item = value.get_item(&key).unwrap_or_default();
                    map.insert(key, item);
                }
            }
            Value::from_object(Dict(Mutex::new(map)))
        }
        _ => value,
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn arity(method: &str, args: &[Value], min: usize, max: usize) -> Result<(), Error> {
    if args.len() < min || args.len() > max {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!(
                "{method}() takes {min} to {max} arguments, got {}",
                args.len()
            ),
        ));
    }
    Ok(())
}

/// A Python list.
pub struct List(Mutex<Vec<Value>>);

impl fmt::Debug for List {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(lock(&self.0).iter()).finish()
    }
}

impl Object for List {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let items = lock(&self.0);
        let index = i64::try_from(key.clone()).ok()?;
        let len = i64::try_from(items.len()).ok()?;
        let index = if index < 0 { index + len } else { index };
        items.get(usize::try_from(index).ok()?).cloned()
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(lock(&self.0).clone())
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(lock(&self.0).len())
    }

    fn call_method(
        self: &Arc<Self>,
        _: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let mut items = lock(&self.0);
        match method {
            "append" => {
                arity(method, args, 1, 1)?;
                items.push(args[0].clone());
            }
            "extend" => {
                arity(method, args, 1, 1)?;
                items.extend(args[0].try_iter()?);
            }
            "insert" => {
                arity(method, args, 2, 2)?;
                let len = i64::try_from(items.len()).unwrap_or(i64::MAX);
                let index = i64::try_from(args[0].clone())?;
                let index = if index < 0 {
                    (index + len).max(0)
                } else {
                    index.min(len)
                };
                items.insert(usize::try_from(index).unwrap_or(0), args[1].clone());
            }
            "pop" => {
                arity(method, args, 0, 1)?;
                let len = i64::try_from(items.len()).unwrap_or(i64::MAX);
                let index = match args.first() {
                    Some(i) => i64::try_from(i.clone())?,
                    None => -1,
                };
                let index = if index < 0 { index + len } else { index };
                return usize::try_from(index)
                    .ok()
                    .filter(|i| *i < items.len())
                    .map(|i| items.remove(i))
                    .ok_or_else(|| {
                        Error::new(ErrorKind::InvalidOperation, "pop index out of range")
                    });
            }
            "remove" => {
                arity(method, args, 1, 1)?;
                let position = items.iter().position(|v| v == &args[0]).ok_or_else(|| {
                    Error::new(ErrorKind::InvalidOperation, "list.remove(x): x not in list")
                })?;
                items.remove(position);
            }
            "clear" => items.clear(),
            _ => return Err(Error::from(ErrorKind::UnknownMethod)),
        }
        Ok(Value::from(()))
    }
}

/// A Python dict.
pub struct Dict(Mutex<IndexMap<Value, Value>>);

impl fmt::Debug for Dict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(lock(&self.0).iter()).finish()
    }
}

impl Object for Dict {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        lock(&self.0).get(key).cloned()
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(lock(&self.0).keys().cloned().collect())
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(lock(&self.0).len())
    }

    fn call_method(
        self: &Arc<Self>,
        _: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let mut map = lock(&self.0);
        match method {
            "update" => {
                arity(method, args, 1, 1)?;
                let other = &args[0];
                for key in other.try_iter()? {
                    let value = other.get_item(&key)?;
                    map.insert(key, value);
                }
                Ok(Value::from(()))
            }
            "setdefault" => {
                arity(method, args, 1, 2)?;
                let default = args.get(1).cloned().unwrap_or(Value::from(()));
                Ok(map.entry(args[0].clone()).or_insert(default).clone())
            }
            "pop" => {
                arity(method, args, 1, 2)?;
                match map.shift_remove(&args[0]) {
                    Some(value) => Ok(value),
                    None => args.get(1).cloned().ok_or_else(|| {
                        Error::new(
                            ErrorKind::InvalidOperation,
                            format!("key {} not in dict", args[0]),
                        )
                    }),
                }
            }
            "popitem" => {
                arity(method, args, 0, 0)?;
                map.pop()
                    .map(|(k, v)| Value::from(vec![k, v]))
                    .ok_or_else(|| {
                        Error::new(
                            ErrorKind::InvalidOperation,
                            "popitem(): dictionary is empty",
                        )
                    })
            }
            "clear" => {
                map.clear();
                Ok(Value::from(()))
            }
            _ => Err(Error::from(ErrorKind::UnknownMethod)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_mutated_names_are_rewritten() {
        let source = "{% set a = ['x'] %}{% set b = [] -%}\n{% do a.append('y') %}";
        let rewritten = rewrite(source);
        assert_eq!(
            rewritten.text,
            "{% set a = (['x'])|__mutable %}{% set b = [] -%}\n{% do a.append('y') %}"
        );
        // `%}` inside a string does not end the statement.
        let rewritten = rewrite("{% set a = ['%}'] %}{% do a.clear() %}");
        assert_eq!(
            rewritten.text,
            "{% set a = (['%}'])|__mutable %}{% do a.clear() %}"
        );
    }

    #[test]
    fn attribute_calls_and_comparisons_are_left_alone() {
        let source = "{% set ns.a = [] %}{% do x.a.append(1) %}{% if a == b %}{% endif %}";
        assert_eq!(rewrite(source).text, source);
    }

    /// A non-ASCII character after an unclosed `set` crashed the scan.
    #[test]
    fn non_ascii_text_after_an_unclosed_set_does_not_crash() {
        let source = "{% set a = [] }}\n# © Zoë\n{% do a.append(1) %}";
        assert_eq!(rewrite(source).text, source);
        let source = "{% set a = ['é'] %}{% do a.append('ü') %}";
        assert_eq!(
            rewrite(source).text,
            "{% set a = (['é'])|__mutable %}{% do a.append('ü') %}"
        );
    }

    #[test]
    fn offsets_map_back_to_the_original() {
        let source = "{% set a = [] %}\n{{ a.append(1) }}{{ nope }}";
        let rewritten = rewrite(source);
        let nope = rewritten.text.find("nope").unwrap();
        assert_eq!(
            rewritten.original_offset(nope),
            source.find("nope").unwrap()
        );
        let bracket = rewritten.text.find("[]").unwrap();
        assert_eq!(
            rewritten.original_offset(bracket),
            source.find("[]").unwrap()
        );
    }
}
