//! Reading generated Dockerfiles, the way the builder reads them: the
//! `# escape=` directive, the `ARG`s a `FROM` may use, `$NAME` and
//! `${NAME}` variables and their substitution by build arguments, and the
//! sources a `COPY` or `ADD` takes from the build context.
//!
//! Three readers share it: the build hashes what an image copies (so a
//! change to a copied file rebuilds it), `check` reports a `FROM` or a
//! source that cannot be found, and the Docker engine reads the escape
//! character and a closing line continuation of the text it appends its
//! label line to. They read here, alike, so that what one counts as copied
//! the other checks. Parsing itself is `parse_dockerfile`'s; this module
//! reads what it parsed, and the raw text for the directive and the
//! continuation.

use std::ops::Range;

use globset::{GlobBuilder, GlobMatcher};
use parse_dockerfile::{Dockerfile, Instruction, Source};

/// The escape character of a Dockerfile: its `# escape=` parser directive,
/// else `\`. Directives are the `# key=value` lines at the very top.
#[must_use]
pub fn escape_character(dockerfile: &str) -> char {
    for line in dockerfile.lines() {
        let Some(directive) = line.trim_start().strip_prefix('#') else {
            break;
        };
        let Some((key, value)) = directive.split_once('=') else {
            break;
        };
        let key = key.trim();
        if key.is_empty() || key.contains(char::is_whitespace) {
            break;
        }
        if key.eq_ignore_ascii_case("escape") {
            return value.trim().chars().next().unwrap_or('\\');
        }
    }
    '\\'
}

/// Whether the last instruction ends in a line continuation (blank and
/// comment lines after it do not end it): a line appended to the file would
/// become part of that instruction.
#[must_use]
pub fn ends_in_continuation(dockerfile: &str) -> bool {
    let escape = escape_character(dockerfile);
    dockerfile
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty() && !l.starts_with('#'))
        .is_some_and(|l| l.ends_with(escape))
}

/// The `ARG`s declared before the first `FROM`, with their defaults: the
/// only variables a `FROM` may use.
#[must_use]
pub fn global_args<'a>(parsed: &'a Dockerfile<'_>) -> Vec<(&'a str, Option<&'a str>)> {
    parsed
        .instructions
        .iter()
        .take_while(|i| !matches!(i, Instruction::From(_)))
        .filter_map(|i| match i {
            Instruction::Arg(arg) => Some(arg_declarations(&arg.arguments.value)),
            _ => None,
        })
        .flatten()
        .collect()
}

/// The names an `ARG` declares, with their defaults:
/// `ARG A B=1 C="x y"`.
#[must_use]
pub fn arg_declarations(arguments: &str) -> Vec<(&str, Option<&str>)> {
    let mut declared = Vec::new();
    let mut rest = arguments.trim_start();
    while !rest.is_empty() {
        let name_end = rest
            .find(|c: char| c == '=' || c.is_whitespace())
            .unwrap_or(rest.len());
        let name = &rest[..name_end];
        rest = &rest[name_end..];
        let mut default = None;
        if let Some(value) = rest.strip_prefix('=') {
            let (text, after) = if let Some(quote @ ('"' | '\'')) = value.chars().next() {
                match value[1..].find(quote) {
                    Some(end) => (&value[1..=end], &value[end + 2..]),
                    None => (&value[1..], ""),
                }
            } else {
                let end = value.find(char::is_whitespace).unwrap_or(value.len());
                (&value[..end], &value[end..])
            };
            default = Some(text);
            rest = after;
        }
        if !name.is_empty() {
            declared.push((name, default));
        }
        rest = rest.trim_start();
    }
    declared
}

/// A `$NAME` or `${NAME}` found in a text.
#[derive(Debug, PartialEq, Eq)]
pub struct Variable<'a> {
    /// The text before the `$`.
    pub before: &'a str,
    /// The name: for `${NAME:-default}`, `NAME`.
    pub name: &'a str,
    /// What follows the name between the braces (`:-default`), if anything.
    pub modifier: Option<&'a str>,
    /// The text after the variable.
    pub after: &'a str,
    /// False for a `${` without its `}`.
    pub closed: bool,
}

/// The first variable of `text`.
#[must_use]
pub fn next_variable(text: &str) -> Option<Variable<'_>> {
    let i = text.find('$')?;
    let after = &text[i + 1..];
    let (inside, rest, closed) = if let Some(braced) = after.strip_prefix('{') {
        match braced.find('}') {
            Some(end) => (&braced[..end], &braced[end + 1..], true),
            None => (braced, "", false),
        }
    } else {
        let end = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        (&after[..end], &after[end..], true)
    };
    let (name, modifier) = match inside.find(':') {
        Some(colon) => (&inside[..colon], Some(&inside[colon..])),
        None => (inside, None),
    };
    Some(Variable {
        before: &text[..i],
        name,
        modifier,
        after: rest,
        closed,
    })
}

/// The names of the variables (`$NAME`, `${NAME}`, `${NAME:-default}`) in
/// a text.
#[must_use]
pub fn variables(text: &str) -> Vec<&str> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(variable) = next_variable(rest) {
        if !variable.name.is_empty() {
            found.push(variable.name);
        }
        rest = variable.after;
    }
    found
}

/// Replaces `$NAME` and `${NAME}` with build arguments; `None` when a
/// variable is not one, or has a modifier (`${NAME:-default}`), whose value
/// is not known here.
#[must_use]
pub fn substitute(text: &str, build_args: &[(String, String)]) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(variable) = next_variable(rest) {
        out.push_str(variable.before);
        if !variable.closed || variable.modifier.is_some() {
            return None;
        }
        let (_, value) = build_args.iter().find(|(n, _)| n == variable.name)?;
        out.push_str(value);
        rest = variable.after;
    }
    out.push_str(rest);
    Some(out)
}

/// A source a `COPY` or `ADD` reads from the build context, as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContextSource {
    /// The path or glob, variables not substituted.
    pub path: String,
    /// Where it is written in the Dockerfile, in bytes.
    pub span: Range<usize>,
}

/// The sources a `COPY` or `ADD` instruction reads from the build context:
/// not those of a `--from` stage or image, not here-documents (written in
/// the Dockerfile itself), not the URLs and Git repositories `ADD`
/// downloads. `None` for any other instruction.
#[must_use]
pub fn context_sources(instruction: &Instruction) -> Option<Vec<ContextSource>> {
    let (options, sources, remote_allowed) = match instruction {
        Instruction::Copy(copy) => (&copy.options[..], &copy.src[..], false),
        Instruction::Add(add) => (&add.options[..], &add.src[..], true),
        _ => return None,
    };
    if options.iter().any(|flag| flag.name.value == "from") {
        return Some(Vec::new());
    }
    let remote = |path: &str| remote_allowed && (path.contains("://") || path.starts_with("git@"));
    Some(
        sources
            .iter()
            .filter_map(|source| match source {
                Source::Path(path) if !remote(&path.value) => Some(ContextSource {
                    path: path.value.to_string(),
                    span: path.span.start..path.span.end,
                }),
                _ => None,
            })
            .collect(),
    )
}

/// Every context source of a Dockerfile, its variables substituted by
/// `build_args`. `None` when they cannot be known: the Dockerfile does not
/// parse, or a source uses a variable that is not a build argument.
#[must_use]
pub fn copied_sources(dockerfile: &str, build_args: &[(String, String)]) -> Option<Vec<String>> {
    let parsed = parse_dockerfile::parse(dockerfile).ok()?;
    let mut sources = Vec::new();
    for instruction in &parsed.instructions {
        for source in context_sources(instruction).unwrap_or_default() {
            sources.push(substitute(&source.path, build_args)?);
        }
    }
    Some(sources)
}

/// Which context files a `COPY`/`ADD` source names: a file, a directory
/// (everything under it) or a glob, as paths relative to the context root
/// with `/` between components.
#[derive(Debug)]
pub struct SourcePattern {
    /// `None` for the whole context (`.`, `/`).
    glob: Option<(GlobMatcher, String)>,
}

impl SourcePattern {
    /// The pattern of a source whose variables are substituted; `None` when
    /// it is not a valid glob.
    #[must_use]
    pub fn new(source: &str) -> Option<Self> {
        let source = source
            .trim_start_matches("./")
            .trim_start_matches('/')
            .trim_end_matches('/');
        if source.is_empty() || source == "." {
            return Some(Self { glob: None });
        }
        let glob = GlobBuilder::new(source)
            .literal_separator(true)
            .build()
            .ok()?
            .compile_matcher();
        Some(Self {
            glob: Some((glob, format!("{source}/"))),
        })
    }

    /// Whether the context file at `path` is copied: it matches, or one of
    /// its parent directories does.
    #[must_use]
    pub fn matches(&self, path: &str) -> bool {
        let Some((glob, under)) = &self.glob else {
            return true;
        };
        glob.is_match(path)
            || path.starts_with(under.as_str())
            || path
                .match_indices('/')
                .any(|(i, _)| glob.is_match(&path[..i]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect()
    }

    #[test]
    fn arg_declares_names_with_and_without_defaults() {
        assert_eq!(
            arg_declarations("A B=1 C=\"x y\" D='z'"),
            [
                ("A", None),
                ("B", Some("1")),
                ("C", Some("x y")),
                ("D", Some("z"))
            ]
        );
        assert_eq!(
            arg_declarations("PYTHON_VERSION"),
            [("PYTHON_VERSION", None)]
        );
    }

    #[test]
    fn only_the_args_before_the_first_from_are_global() {
        let parsed = parse_dockerfile::parse("ARG A=1\nARG B\nFROM x:$A\nARG C\nFROM y\n").unwrap();
        assert_eq!(global_args(&parsed), [("A", Some("1")), ("B", None)]);
    }

    #[test]
    fn variables_are_found_in_both_spellings() {
        assert_eq!(
            variables("app:base-python$PYTHON_VERSION-${FLAVOR}"),
            ["PYTHON_VERSION", "FLAVOR"]
        );
        assert_eq!(variables("a${B:-x}c$"), ["B"]);
        assert!(variables("debian:bookworm").is_empty());
    }

    #[test]
    fn substitution_needs_every_variable_to_be_a_build_argument() {
        let known = args(&[("PYTHON_VERSION", "3.11"), ("D", "bookworm")]);
        assert_eq!(
            substitute("py/$PYTHON_VERSION/${D}-slim", &known).as_deref(),
            Some("py/3.11/bookworm-slim")
        );
        assert_eq!(substitute("plain", &known).as_deref(), Some("plain"));
        assert_eq!(substitute("$NOPE", &known), None);
        // Unclosed, or a default whose use is not decided here.
        assert_eq!(substitute("${D", &known), None);
        assert_eq!(substitute("${D:-x}", &known), None);
    }

    #[test]
    fn context_sources_skip_stages_here_documents_and_downloads() {
        let dockerfile = "FROM x\nCOPY a b /d/\nCOPY --from=build /x /y\nCOPY <<EOF /m\nhi\nEOF\nADD https://e.com/f git@h:o/r.git c /d/\nRUN true\n";
        let parsed = parse_dockerfile::parse(dockerfile).unwrap();
        let found: Vec<Option<Vec<String>>> = parsed
            .instructions
            .iter()
            .map(|i| context_sources(i).map(|s| s.into_iter().map(|s| s.path).collect()))
            .collect();
        let none = None;
        assert_eq!(
            found,
            [
                none.clone(),
                Some(vec!["a".to_string(), "b".to_string()]),
                Some(vec![]),
                Some(vec![]),
                Some(vec!["c".to_string()]),
                none
            ]
        );
        let copy = context_sources(&parsed.instructions[1]).unwrap();
        assert_eq!(&dockerfile[copy[1].span.clone()], "b");
    }

    #[test]
    fn a_source_names_a_file_a_directory_or_a_glob() {
        let tools = SourcePattern::new("./tools/").unwrap();
        assert!(tools.matches("tools/a.sh") && tools.matches("tools/sub/b.sh"));
        assert!(!tools.matches("toolsx/a.sh"));
        let glob = SourcePattern::new("generated/*/cuda.repo").unwrap();
        assert!(glob.matches("generated/x/cuda.repo"));
        assert!(!glob.matches("generated/x/y/cuda.repo"));
        let dirs = SourcePattern::new("py/3.*").unwrap();
        assert!(dirs.matches("py/3.11/req.txt"));
        assert!(SourcePattern::new(".").unwrap().matches("anything"));
        assert!(SourcePattern::new("a[").is_none());
    }

    #[test]
    fn the_escape_directive_sets_the_escape_character() {
        let dockerfile = "# syntax=docker/dockerfile:1\n# escape=`\nFROM a\n";
        assert_eq!(escape_character(dockerfile), '`');
        // A comment ends the directives: a later `escape=` is a comment.
        assert_eq!(escape_character("# a comment\n# escape=`\nFROM a\n"), '\\');
        assert_eq!(escape_character("FROM a\n# escape=`\n"), '\\');
    }

    #[test]
    fn a_continuation_is_read_with_the_files_escape_character() {
        assert!(ends_in_continuation("FROM a\nRUN echo \\"));
        assert!(ends_in_continuation("FROM a\nRUN echo \\\n\n# a comment\n"));
        assert!(ends_in_continuation("# escape=`\nFROM a\nRUN echo `  \n"));
        assert!(!ends_in_continuation("# escape=`\nFROM a\nRUN echo \\\n"));
        assert!(!ends_in_continuation("FROM a\n"));
    }
}
