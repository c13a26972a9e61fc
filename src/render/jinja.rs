//! The minijinja environment, set up to behave as Jinja2 did for the
//! original tool: its whitespace control, no auto-escaping, Python's methods,
//! and values printed the way Python's `str()` prints them.

use std::fmt::Write as _;

use minijinja::value::ValueKind;
use minijinja::{Environment, UndefinedBehavior, Value};

use super::mutable;

pub(super) fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    let syntax = minijinja::syntax::SyntaxConfig::builder()
        .trim_blocks(true)
        .lstrip_blocks(true)
        .keep_trailing_newline(false)
        .build()
        .expect("the default delimiters are valid");
    env.set_syntax(syntax);
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    env.add_filter(mutable::FILTER, mutable::mutable);
    env.set_formatter(|out, state, value| match value.kind() {
        ValueKind::None | ValueKind::Bool | ValueKind::Seq | ValueKind::Map => {
            out.write_str(&python_repr(value))?;
            Ok(())
        }
        _ => minijinja::escape_formatter(out, state, value),
    });
    env
}

/// How Python's `str()` prints a value (strings inside collections quoted
/// as `repr()` quotes them).
#[must_use]
pub fn python_repr(value: &Value) -> String {
    let mut out = String::new();
    write_repr(&mut out, value, false);
    out
}

fn write_repr(out: &mut String, value: &Value, nested: bool) {
    match value.kind() {
        ValueKind::None | ValueKind::Undefined => out.push_str("None"),
        ValueKind::Bool => out.push_str(if value.is_true() { "True" } else { "False" }),
        ValueKind::String if nested => write_quoted(out, value.as_str().unwrap_or_default()),
        ValueKind::Seq | ValueKind::Iterable => {
            out.push('[');
            for (i, item) in value.try_iter().into_iter().flatten().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_repr(out, &item, true);
            }
            out.push(']');
        }
        ValueKind::Map => {
            out.push('{');
            for (i, key) in value.try_iter().into_iter().flatten().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_repr(out, &key, true);
                out.push_str(": ");
                write_repr(out, &value.get_item(&key).unwrap_or_default(), true);
            }
            out.push('}');
        }
        _ => {
            let _ = write!(out, "{value}");
        }
    }
}

fn write_quoted(out: &mut String, s: &str) {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(source: &str, ctx: Value) -> String {
        let mut env = environment();
        let rewritten = mutable::rewrite(source);
        env.add_template_owned("t", rewritten.text).unwrap();
        env.get_template("t").unwrap().render(ctx).unwrap()
    }

    #[test]
    fn whitespace_control_and_final_newline_match_jinja2() {
        let source = "A\n{% for k, v in m.items() if k != 'b' %}\n  {% if v %}\n{{ k }}={{ v }}\n  {% endif %}\n{% endfor %}\nB\n";
        let ctx = minijinja::context! { m => Value::from(minijinja::value::Serde(serde_json::json!({"a": 1, "b": 2, "c": 3}))) };
        assert_eq!(render(source, ctx), "A\na=1\nc=3\nB");
    }

    #[test]
    fn do_append_changes_the_list_even_inside_a_loop() {
        let source = "{% set opts = ['--a'] %}{% for x in ['b', 'c'] %}{% do opts.append('--' ~ x) %}{% endfor %}{{ opts|join(' ') }} {{ opts|length }} {{ opts }}";
        assert_eq!(
            render(source, Value::UNDEFINED),
            "--a --b --c 3 ['--a', '--b', '--c']"
        );
    }

    #[test]
    fn dict_update_changes_the_dict() {
        let source = "{% set d = {'a': 1} %}{% do d.update({'b': True}) %}{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}{{ d }}";
        assert_eq!(
            render(source, Value::UNDEFINED),
            "a=1;b=True;{'a': 1, 'b': True}"
        );
    }

    #[test]
    fn values_print_as_python_prints_them() {
        let source = "{{ t }} {{ n }} {{ l }} {{ s }}";
        let ctx = minijinja::context! { t => true, n => (), l => vec!["it's", "x"], s => "plain" };
        assert_eq!(render(source, ctx), "True None [\"it's\", 'x'] plain");
    }
}
