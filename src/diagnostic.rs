//! Problems that point into a source file (the manifest or a template), and
//! the report that gathers every one of them from a single run.
//!
//! Each problem carries its own source so that one report can hold problems
//! from the manifest and from several templates at once; `main` renders them
//! with `miette`: `file:line:col`, the source line, a caret and a `help:`.

use std::fmt;
use std::sync::Arc;

use miette::{Diagnostic, LabeledSpan, NamedSource, SourceSpan};

/// A source file that problems point into.
#[derive(Clone, Debug)]
pub struct Source(Arc<NamedSource<String>>);

impl Source {
    /// A source named `name` (as the user should read it) with `text`.
    #[must_use]
    pub fn new(name: impl AsRef<str>, text: impl Into<String>) -> Self {
        Self(Arc::new(NamedSource::new(name, text.into())))
    }

    /// The source's name, as reports show it.
    #[must_use]
    pub fn name(&self) -> &str {
        self.0.name()
    }

    /// The source's text.
    #[must_use]
    pub fn text(&self) -> &str {
        self.0.inner()
    }

    /// A new problem in this source.
    #[must_use]
    pub fn problem(&self, message: impl Into<String>) -> Problem {
        Problem {
            message: message.into(),
            source: Some(self.clone()),
            labels: Vec::new(),
            help: None,
        }
    }
}

/// One problem: what is wrong, where, and what to do about it.
#[derive(Clone, Debug)]
pub struct Problem {
    message: String,
    source: Option<Source>,
    labels: Vec<(usize, usize, String)>,
    help: Option<String>,
}

impl Problem {
    /// A problem that does not point into a file.
    #[must_use]
    pub fn plain(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            source: None,
            labels: Vec::new(),
            help: None,
        }
    }

    /// Points at `len` bytes from `offset` with a short label; the first
    /// label is where the report puts `file:line:col`.
    #[must_use]
    pub fn at(mut self, offset: usize, len: usize, label: impl Into<String>) -> Self {
        self.labels.push((offset, len, label.into()));
        self
    }

    /// What to do about it.
    #[must_use]
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// What to do about it, when there is something to say.
    #[must_use]
    pub fn maybe_help(mut self, help: Option<String>) -> Self {
        self.help = help.or(self.help);
        self
    }

    /// Adds to the message (where the problem came from).
    pub fn append(&mut self, text: &str) {
        self.message.push_str(text);
    }

    /// Replaces each of `secrets` by `*`s where the message or the help
    /// quotes something in backticks (the quoted source is masked where it
    /// is read); the words around them stay, `secret` as a password does not
    /// hide the word in "never the secret itself".
    pub fn mask(&mut self, secrets: &[String]) {
        let hide = |text: &mut String| {
            if !secrets.iter().any(|secret| text.contains(secret.as_str())) {
                return;
            }
            let mut parts: Vec<String> = text.split('`').map(str::to_string).collect();
            for quoted in parts.iter_mut().skip(1).step_by(2) {
                for secret in secrets {
                    *quoted = quoted.replace(secret.as_str(), &"*".repeat(secret.chars().count()));
                }
            }
            *text = parts.join("`");
        };
        hide(&mut self.message);
        if let Some(help) = &mut self.help {
            hide(help);
        }
    }

    /// The one-line message.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }

    fn sort_key(&self) -> (&str, usize) {
        (
            self.source.as_ref().map_or("", Source::name),
            self.labels.first().map_or(0, |l| l.0),
        )
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Problem {}

impl Diagnostic for Problem {
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source
            .as_ref()
            .map(|s| &s.0 as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        if self.labels.is_empty() {
            return None;
        }
        Some(Box::new(self.labels.iter().enumerate().map(
            |(i, (offset, len, label))| {
                let span = SourceSpan::from((*offset, *len));
                let label = (!label.is_empty()).then(|| label.clone());
                if i == 0 {
                    LabeledSpan::new_primary_with_span(label, span)
                } else {
                    LabeledSpan::new_with_span(label, span)
                }
            },
        )))
    }
}

/// Every problem found in one run. Nothing is written when there is one.
#[derive(Debug)]
pub struct Problems {
    problems: Vec<Problem>,
}

impl Problems {
    /// Gathers problems: duplicates (the same message at the same place, as a
    /// merged value reports once per mapping it is merged into) are dropped,
    /// and the rest are ordered by file and position.
    #[must_use]
    pub fn new(mut problems: Vec<Problem>) -> Self {
        // Sorted by place and then message, so that duplicates are adjacent.
        problems.sort_by(|a, b| (a.sort_key(), &a.message).cmp(&(b.sort_key(), &b.message)));
        problems.dedup_by(|a, b| a.sort_key() == b.sort_key() && a.message == b.message);
        Self { problems }
    }

    /// The problems, in report order.
    #[must_use]
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    /// True when nothing is wrong.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.problems.is_empty()
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.problems.len() {
            1 => f.write_str("found 1 problem, nothing was written"),
            n => write!(f, "found {n} problems, nothing was written"),
        }
    }
}

impl std::error::Error for Problems {}

impl Diagnostic for Problems {
    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        Some(Box::new(self.problems.iter().map(|p| p as &dyn Diagnostic)))
    }
}

/// What a file is, in words, for messages that name a path that is not
/// what it must be (the manifest, the output directory).
#[must_use]
pub fn file_kind(kind: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if kind.is_dir() {
        "a directory"
    } else if kind.is_file() {
        "a regular file"
    } else if kind.is_symlink() {
        "a symbolic link"
    } else if kind.is_fifo() {
        "a fifo"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else {
        "a special file"
    }
}

/// The candidate closest to a misspelt `name`, when one is close enough to be
/// what the user meant.
#[must_use]
pub fn did_you_mean<'a, I>(name: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let limit = (name.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(name, c), c))
        .filter(|(distance, c)| *distance <= limit || c.eq_ignore_ascii_case(name))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, c)| c)
}

/// `did you mean `x`?` for a misspelt name, when one is close.
#[must_use]
pub fn suggestion<'a, I>(name: &str, candidates: I) -> Option<String>
where
    I: IntoIterator<Item = &'a str>,
{
    did_you_mean(name, candidates).map(|c| format!("did you mean `{c}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_names_are_suggested_and_far_ones_are_not() {
        let known = ["centos", "debian", "alpine"];
        assert_eq!(did_you_mean("centso", known), Some("centos"));
        assert_eq!(did_you_mean("Debian", known), Some("debian"));
        assert_eq!(did_you_mean("ubuntu", known), None);
    }

    #[test]
    fn duplicate_problems_are_reported_once_in_order() {
        let source = Source::new("m.yml", "a: 1\nb: 2\n");
        let problems = Problems::new(vec![
            source.problem("second").at(5, 1, ""),
            source.problem("first").at(0, 1, ""),
            source.problem("second").at(5, 1, ""),
        ]);
        let messages: Vec<_> = problems.problems().iter().map(Problem::message).collect();
        assert_eq!(messages, ["first", "second"]);
    }
}
