//! `check`: catches template bugs before any build, on what generation
//! wrote. Every generated Dockerfile must parse; every `FROM` must name a
//! stage of the same file, a base image of the manifest or a target of the
//! plan; every `COPY`/`ADD` source must exist in the build context; the
//! variables of a `FROM` must be declared by an `ARG` before it. A stale
//! `generated/` is reported too, file by file.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::ops::Range;
use std::path::{Path, PathBuf};

use parse_dockerfile::{Dockerfile, Instruction};

use crate::context::Context;
use crate::diagnostic::{Problem, Source};
use crate::dockerfile::{self, ContextSource, SourcePattern};
use crate::manifest::Manifest;
use crate::plan::{Plan, Target};
use crate::render::Renderer;
use crate::render::metadata::slash_path;

/// How a tree on disk differs from what generation writes now, by path
/// relative to the tree, sorted.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Stale {
    /// Files whose contents are not what the templates render.
    pub differ: Vec<String>,
    /// Files generation writes that the tree lacks.
    pub missing: Vec<String>,
    /// Files of the tree that no template renders.
    pub extra: Vec<String>,
    /// The tree does not exist at all (every file is missing).
    pub absent: bool,
}

impl Stale {
    /// True when the tree is what generation writes.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.differ.is_empty() && self.missing.is_empty() && self.extra.is_empty()
    }
}

/// Compares `actual` (the tree on disk; it may not exist) with `expected`
/// (a fresh generation), file by file.
///
/// # Errors
/// When either tree cannot be read.
pub fn compare(expected: &Path, actual: &Path) -> std::io::Result<Stale> {
    let wanted = files(expected)?;
    let mut stale = Stale {
        absent: !actual.exists(),
        ..Stale::default()
    };
    let found = if stale.absent {
        BTreeSet::new()
    } else {
        files(actual)?
    };
    for file in &wanted {
        if !found.contains(file) {
            stale.missing.push(slash_path(file));
        } else if !std::fs::metadata(actual.join(file)).is_ok_and(|m| m.is_file())
            || std::fs::read(expected.join(file))? != std::fs::read(actual.join(file))?
        {
            // Never opened unless a regular file: a fifo would block the read.
            stale.differ.push(slash_path(file));
        }
    }
    stale.extra = found.difference(&wanted).map(|f| slash_path(f)).collect();
    Ok(stale)
}

/// Every file under `root` (symbolic links included, directories not), relative to it.
fn files(root: &Path) -> std::io::Result<BTreeSet<PathBuf>> {
    let mut found = BTreeSet::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(relative) = pending.pop() {
        for entry in std::fs::read_dir(root.join(&relative))? {
            let entry = entry?;
            let path = relative.join(entry.file_name());
            if entry.file_type()?.is_dir() {
                pending.push(path);
            } else {
                found.insert(path);
            }
        }
    }
    Ok(found)
}

/// The problem a stale tree is: which files, and how to bring it up to date
/// (`regenerate`: the command that does). At most `LISTED` files are named.
#[must_use]
pub fn stale_problem(output: &Path, stale: &Stale, regenerate: &str) -> Option<Problem> {
    const LISTED: usize = 20;
    if stale.is_empty() {
        return None;
    }
    if stale.absent {
        return Some(
            Problem::plain(format!(
                "`{}` does not exist: {} files were never generated",
                output.display(),
                stale.missing.len()
            ))
            .help(format!("run `{regenerate}` and commit the result")),
        );
    }
    let mut counts = Vec::new();
    for (files, one, many) in [
        (&stale.differ, "differs", "differ"),
        (&stale.missing, "is missing", "are missing"),
        (&stale.extra, "is extra", "are extra"),
    ] {
        match files.len() {
            0 => {}
            1 => counts.push(format!("1 file {one}")),
            n => counts.push(format!("{n} files {many}")),
        }
    }
    let mut message = format!("`{}` is stale: {}", output.display(), join_words(&counts));
    let listed = stale
        .differ
        .iter()
        .map(|f| ("differs:", f, ""))
        .chain(stale.missing.iter().map(|f| ("missing:", f, "")))
        .chain(
            stale
                .extra
                .iter()
                .map(|f| ("extra:  ", f, " (no template renders it)")),
        );
    let total = stale.differ.len() + stale.missing.len() + stale.extra.len();
    for (what, file, why) in listed.take(LISTED) {
        let _ = write!(message, "\n  {what} {file}{why}");
    }
    if total > LISTED {
        let _ = write!(message, "\n  ... and {} more", total - LISTED);
    }
    Some(Problem::plain(message).help(format!(
        "it is not what the manifest and templates generate now (they changed since, or it was \
         edited by hand): run `{regenerate}` and commit the result"
    )))
}

/// `a`, `a and b`, `a, b and c`.
fn join_words(parts: &[String]) -> String {
    match parts {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// Checks the generated Dockerfiles of `plan` under the images repo.
#[must_use]
pub fn dockerfiles(
    manifest: &Manifest,
    plan: &Plan,
    context: &Context,
    renderer: &Renderer,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut by_dockerfile: BTreeMap<&Path, Vec<&Target>> = BTreeMap::new();
    for target in &plan.targets {
        by_dockerfile
            .entry(target.dockerfile.as_path())
            .or_default()
            .push(target);
    }
    let base_images: Vec<&str> = manifest
        .distros
        .iter()
        .flat_map(|d| &d.releases)
        .map(|r| r.spec.base_image.as_str())
        .collect();
    for (path, targets) in by_dockerfile {
        let name = slash_path(path);
        let path = manifest.root.join(path);
        // A missing Dockerfile, or one that is not a regular file (never
        // opened: a fifo would block), is a stale tree, which [`compare`]
        // reports.
        if !std::fs::metadata(&path).is_ok_and(|m| m.is_file()) {
            continue;
        }
        let text = match std::fs::read(&path) {
            Ok(bytes) => {
                if let Ok(text) = String::from_utf8(bytes) {
                    text
                } else {
                    problems.push(Problem::plain(format!("`{name}` is not UTF-8 text")));
                    continue;
                }
            }
            Err(e) => {
                problems.push(Problem::plain(format!("cannot read `{name}`: {e}")));
                continue;
            }
        };
        let source = Source::new(&name, text.as_str());
        let before = problems.len();
        let template = targets.first().and_then(|t| {
            let spec = &manifest
                .distro(&t.distro)?
                .releases
                .iter()
                .find(|r| r.version == t.release)?
                .spec;
            renderer
                .templates(spec, t.release_type)
                .iter()
                .find(|f| f.output == "Dockerfile")
                .map(|f| f.name.clone())
        });
        let parsed = match parse_dockerfile::parse(&text) {
            Ok(parsed) => parsed,
            Err(error) => {
                let mut problem = parse_problem(&source, &text, &error);
                if let Some(template) = &template {
                    problem.append(&format!(" (rendered from `{template}`)"));
                }
                problems.push(problem);
                continue;
            }
        };
        Checker {
            source: &source,
            targets: &targets,
            plan,
            base_images: &base_images,
            context,
            problems: &mut problems,
        }
        .check(&parsed);
        if let Some(template) = template {
            for problem in &mut problems[before..] {
                problem.append(&format!(" (rendered from `{template}`)"));
            }
        }
    }
    problems
}

fn parse_problem(source: &Source, text: &str, error: &parse_dockerfile::Error) -> Problem {
    // The parser names a line and a column (1-based, in characters).
    let line_start: usize = text
        .split_inclusive('\n')
        .take(error.line().saturating_sub(1))
        .map(str::len)
        .sum();
    let column: usize = text[line_start..]
        .chars()
        .take_while(|c| *c != '\n')
        .take(error.column().saturating_sub(1))
        .map(char::len_utf8)
        .sum();
    // The message ends with the place, which the report shows itself.
    let message = error.to_string();
    let message = message
        .split(" at line ")
        .next()
        .unwrap_or(&message)
        .trim_end_matches(['.', ' ']);
    // At the end of the file (an unterminated here-document, a missing
    // argument), point at the last thing written.
    let end = text.trim_end().len();
    let at = (line_start + column).min(end.saturating_sub(1));
    source
        .problem("this Dockerfile does not parse")
        .at(at, usize::from(at < end), message)
        .help("check the template that renders it")
}

/// The checks of one Dockerfile, instruction by instruction, and the
/// problems they found.
struct Checker<'a> {
    source: &'a Source,
    /// The targets built from this Dockerfile (one per Python version).
    targets: &'a [&'a Target],
    plan: &'a Plan,
    base_images: &'a [&'a str],
    context: &'a Context,
    problems: &'a mut Vec<Problem>,
}

impl Checker<'_> {
    fn check(&mut self, parsed: &Dockerfile) {
        let declared = dockerfile::global_args(parsed);
        let mut stages: Vec<&str> = Vec::new();
        for instruction in &parsed.instructions {
            match instruction {
                Instruction::From(from) => {
                    let image: &str = &from.image.value;
                    let span = from.image.span.start..from.image.span.end;
                    self.check_variables(image, &span, &declared);
                    if !stages.contains(&image) {
                        self.check_image(image, &span, &declared);
                    }
                    if let Some((_, alias)) = &from.as_ {
                        stages.push(&alias.value);
                    }
                }
                other => {
                    if let Some(sources) = dockerfile::context_sources(other) {
                        self.check_sources(&sources);
                    }
                }
            }
        }
    }

    /// Every variable of a `FROM` must be declared by an `ARG` before it.
    fn check_variables(
        &mut self,
        image: &str,
        span: &Range<usize>,
        declared: &[(&str, Option<&str>)],
    ) {
        for variable in dockerfile::variables(image) {
            if !declared.iter().any(|(name, _)| *name == variable) {
                self.problems.push(
                    self.source
                        .problem(format!(
                            "`FROM` uses `${variable}`, which no `ARG` before it declares"
                        ))
                        .at(span.start, span.len(), "undeclared variable")
                        .help(format!("add `ARG {variable}` before this `FROM`")),
                );
            }
        }
    }

    /// A `FROM` that is not a stage must name a base image of the manifest
    /// or a target of the plan, for every Python version of the targets
    /// sharing this file; the first that does not is reported.
    fn check_image(&mut self, image: &str, span: &Range<usize>, declared: &[(&str, Option<&str>)]) {
        for target in self.targets {
            let args: Vec<(String, String)> = declared
                .iter()
                .map(|(name, default)| {
                    let value = target
                        .build_args
                        .get(*name)
                        .cloned()
                        .or_else(|| default.map(String::from))
                        .unwrap_or_default();
                    ((*name).to_string(), value)
                })
                .collect();
            let Some(resolved) = dockerfile::substitute(image, &args) else {
                continue;
            };
            let known = self.base_images.contains(&resolved.as_str())
                || self.plan.target(&resolved).is_some();
            if !known {
                self.problems.push(
                    self.source
                        .problem(format!(
                            "`FROM {resolved}` (for `{}`) is neither a base image of the manifest nor a target of the plan",
                            target.name
                        ))
                        .at(span.start, span.len(), "unknown image")
                        .help("build FROM `{{ metadata.base_image }}` or `{{ metadata.package }}:{{ build_tag }}`"),
                );
                break;
            }
        }
    }

    /// Whether no file of the build context matches `pattern`.
    fn copies_nothing(&self, pattern: &SourcePattern) -> bool {
        !self
            .context
            .files()
            .iter()
            .any(|file| pattern.matches(&file.path))
    }

    /// One problem per `COPY`/`ADD` whose sources are not all in the context.
    fn check_sources(&mut self, sources: &[ContextSource]) {
        // Each Python version of the targets sharing this file: a source may
        // name `$PYTHON_VERSION`. The first target missing a source is reported.
        let Some((target, args, missing)) = self.targets.iter().find_map(|target| {
            let args: Vec<(String, String)> = target
                .build_args
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let missing: Vec<&ContextSource> = sources
                .iter()
                .filter(|source| {
                    dockerfile::substitute(&source.path, &args)
                        .and_then(|path| SourcePattern::new(&path))
                        .is_some_and(|pattern| self.copies_nothing(&pattern))
                })
                .collect();
            (!missing.is_empty()).then_some((target, args, missing))
        }) else {
            return;
        };
        let first = missing[0];
        let name =
            |path: &str| dockerfile::substitute(path, &args).unwrap_or_else(|| path.to_string());
        let mut message = match missing.len() {
            1 => format!("`{}` is not in the build context", name(&first.path)),
            n => format!(
                "`{}` and {} more sources of this instruction are not in the build context",
                name(&first.path),
                n - 1
            ),
        };
        if missing.iter().any(|source| source.path.contains('$')) {
            message = format!("{message} (for `{}`)", target.name);
        }
        let help = if missing.len() > 2 {
            "a COPY with this many missing sources usually has another line run into it: check the template's whitespace control (`-%}`)"
        } else {
            "the build context is the images repo (less `.dockerignore`): add the file, or fix the path in the template"
        };
        self.problems.push(
            self.source
                .problem(message)
                .at(first.span.start, first.span.len(), "copied from here")
                .help(help),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::{Stale, stale_problem};
    use std::path::Path;

    #[test]
    fn a_stale_tree_names_twenty_files_and_counts_the_rest() {
        let stale = Stale {
            differ: (0..24).map(|i| format!("p/d{i}/Dockerfile")).collect(),
            missing: vec!["p/new/Dockerfile".into()],
            ..Stale::default()
        };
        let problem = stale_problem(Path::new("generated"), &stale, "bentoml-docker generate")
            .expect("stale");
        let message = problem.message();
        assert!(
            message.starts_with("`generated` is stale: 24 files differ and 1 file is missing\n"),
            "{message}"
        );
        assert_eq!(message.matches("\n  differs: ").count(), 20, "{message}");
        assert!(!message.contains("missing: p/new"), "{message}");
        assert!(message.ends_with("\n  ... and 5 more"), "{message}");
        assert!(stale_problem(Path::new("g"), &Stale::default(), "x").is_none());
    }
}
