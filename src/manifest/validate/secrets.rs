//! Masking credentials: a secret written where a variable's name belongs
//! must never reach a report, so the text that reports quote is masked
//! before any problem is made, and so are the words of messages.

use std::collections::HashSet;

use super::grammar::is_envar_name;
use super::raw::{Node, Pos, Value};

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
pub(super) fn mask_secrets(text: &str, root: &Node) -> String {
    let mut bytes = text.as_bytes().to_vec();
    let mut seen = HashSet::new();
    mask_node(&mut bytes, root, false, &mut seen);
    // Only ASCII `*` replaced whole characters' bytes, so it is still UTF-8.
    String::from_utf8(bytes).unwrap_or_else(|_| mask_secret_lines(text))
}

fn mask_node(bytes: &mut [u8], node: &Node, secret: bool, seen: &mut HashSet<(usize, bool)>) {
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
pub(super) fn masked_words(text: &str, masked: &str) -> Vec<String> {
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
pub(super) fn mask_secret_lines(text: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::raw;

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
}
