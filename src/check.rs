//! `check`: catches template bugs before any build, on what generation
//! wrote. Every generated Dockerfile must parse; every `FROM` must name a
//! stage of the same file, a base image of the manifest or a target of the
//! plan; every `COPY`/`ADD` source must exist in the build context; the
//! variables of a `FROM` must be declared by an `ARG` before it. A stale
//! `generated/` is reported too.

use std::collections::BTreeMap;
use std::path::Path;

use dockerfile_parser::{Dockerfile, Instruction};

use crate::build::context::Context;
use crate::build::inputs;
use crate::diagnostic::{Problem, Source};
use crate::manifest::Manifest;
use crate::plan::{Plan, Target};
use crate::render::Renderer;
use crate::render::context::slash_path;

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
        let Ok(text) = std::fs::read_to_string(manifest.root.join(path)) else {
            problems.push(
                Problem::plain(format!("`{name}` is missing"))
                    .help("run `bentoml-docker generate`"),
            );
            continue;
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
        let parsed = match Dockerfile::parse(&text) {
            Ok(parsed) => parsed,
            Err(error) => {
                let mut problem = parse_problem(&source, &error);
                if let Some(template) = &template {
                    problem.append(&format!(" (rendered from `{template}`)"));
                }
                problems.push(problem);
                continue;
            }
        };
        check_dockerfile(
            &source,
            &parsed,
            &targets,
            plan,
            &base_images,
            context,
            &mut problems,
        );
        if let Some(template) = template {
            for problem in &mut problems[before..] {
                problem.append(&format!(" (rendered from `{template}`)"));
            }
        }
    }
    problems
}

fn parse_problem(source: &Source, error: &dockerfile_parser::Error) -> Problem {
    if let dockerfile_parser::Error::ParseError { source: pest_error } = error {
        let (start, end) = match pest_error.location {
            pest::error::InputLocation::Pos(at) => (at, at),
            pest::error::InputLocation::Span((start, end)) => (start, end),
        };
        return source
            .problem("this Dockerfile does not parse")
            .at(
                start,
                end - start,
                "not an instruction a Dockerfile may hold here",
            )
            .help("check the template that renders it");
    }
    source.problem(format!("this Dockerfile does not parse: {error}"))
}

fn check_dockerfile(
    source: &Source,
    parsed: &Dockerfile,
    targets: &[&Target],
    plan: &Plan,
    base_images: &[&str],
    context: &Context,
    problems: &mut Vec<Problem>,
) {
    let declared: Vec<(&str, Option<&str>)> = parsed
        .global_args
        .iter()
        .map(|a| {
            (
                a.name.content.as_str(),
                a.value.as_ref().map(|v| v.content.as_str()),
            )
        })
        .collect();
    let mut stages: Vec<&str> = Vec::new();
    for instruction in &parsed.instructions {
        match instruction {
            Instruction::From(from) => {
                let image = from.image.content.as_str();
                let span = (
                    from.image.span.start,
                    from.image.span.end - from.image.span.start,
                );
                for variable in variables(image) {
                    if !declared.iter().any(|(name, _)| *name == variable) {
                        problems.push(
                            source
                                .problem(format!(
                                    "`FROM` uses `${variable}`, which no `ARG` before it declares"
                                ))
                                .at(span.0, span.1, "undeclared variable")
                                .help(format!("add `ARG {variable}` before this `FROM`")),
                        );
                    }
                }
                if !stages.contains(&image) {
                    // Every Python version of the targets sharing this file.
                    for target in targets {
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
                        let Some(resolved) = inputs::substitute(image, &args) else {
                            continue;
                        };
                        let known = base_images.contains(&resolved.as_str())
                            || plan.target(&resolved).is_some();
                        if !known {
                            problems.push(
                                source
                                    .problem(format!(
                                        "`FROM {resolved}` (for `{}`) is neither a base image of the manifest nor a target of the plan",
                                        target.name
                                    ))
                                    .at(span.0, span.1, "unknown image")
                                    .help("build FROM `{{ metadata.base_image }}` or `{{ metadata.package }}:{{ build_tag }}`"),
                            );
                            break;
                        }
                    }
                }
                if let Some(alias) = &from.alias {
                    stages.push(alias.content.as_str());
                }
            }
            other => {
                if let Some(sources) = inputs::context_sources(other, &parsed.content) {
                    check_sources(source, &sources, targets, context, problems);
                }
            }
        }
    }
}

/// One problem per `COPY`/`ADD` whose sources are not all in the context.
fn check_sources(
    source: &Source,
    sources: &[(String, usize, usize)],
    targets: &[&Target],
    context: &Context,
    problems: &mut Vec<Problem>,
) {
    let Some(target) = targets.first() else {
        return;
    };
    let args: Vec<(String, String)> = target
        .build_args
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let missing: Vec<&(String, usize, usize)> = sources
        .iter()
        .filter(|(path, _, _)| {
            inputs::substitute(path, &args)
                .and_then(|path| inputs::matching_files(&path, context))
                .is_some_and(|files| files.is_empty())
        })
        .collect();
    let Some((first, start, end)) = missing.first() else {
        return;
    };
    let name = |path: &str| inputs::substitute(path, &args).unwrap_or_else(|| path.to_string());
    let message = match missing.len() {
        1 => format!("`{}` is not in the build context", name(first)),
        n => format!(
            "`{}` and {} more sources of this instruction are not in the build context",
            name(first),
            n - 1
        ),
    };
    let help = if missing.len() > 2 {
        "a COPY with this many missing sources usually has another line run into it: check the template's whitespace control (`-%}`)"
    } else {
        "the build context is the images repo (less `.dockerignore`): add the file, or fix the path in the template"
    };
    problems.push(
        source
            .problem(message)
            .at(*start, end - start, "copied from here")
            .help(help),
    );
}

/// The variables (`$NAME`, `${NAME}`) in a text.
fn variables(text: &str) -> Vec<&str> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(variable) = inputs::next_variable(rest) {
        // `${NAME:-default}` names NAME.
        let name = variable.name.split(':').next().unwrap_or_default();
        if !name.is_empty() {
            found.push(name);
        }
        rest = variable.after;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::variables;

    #[test]
    fn variables_are_found_in_both_spellings() {
        assert_eq!(
            variables("app:base-python$PYTHON_VERSION-${FLAVOR}"),
            ["PYTHON_VERSION", "FLAVOR"]
        );
        assert!(variables("debian:bookworm").is_empty());
    }
}
