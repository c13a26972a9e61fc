//! The rules every generated Dockerfile keeps: it parses; every `FROM`
//! names a stage of the same file, a base image of the manifest or a target
//! of the plan; its variables are declared by an `ARG` before it; every
//! `COPY`/`ADD` source exists in the build context.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

use parse_dockerfile::{Dockerfile, Instruction};

use crate::context::Context;
use crate::diagnostic::{Problem, Source};
use crate::dockerfile::{self, ContextSource, SourcePattern};
use crate::manifest::Manifest;
use crate::plan::{Plan, Target};
use crate::render::Renderer;
use crate::render::metadata::slash_path;

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
