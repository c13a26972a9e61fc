//! Renders the Jinja2 templates of the images repo with minijinja, set up to
//! produce the same bytes Jinja2 did for the original tool: `trim_blocks`,
//! `lstrip_blocks`, no auto-escaping, the final newline dropped, Python's
//! `.items()` and friends, `{% do %}` with in-place list and dict changes,
//! and values printed the way Python prints them (`True`, `None`, `['a']`).
//!
//! Every template in use is compiled once, when the [`Renderer`] is made, so
//! syntax errors in every template are found before anything is written.

mod jinja;
pub mod limits;
pub mod metadata;
pub mod mutable;
mod templates;

use std::collections::HashMap;
use std::path::Path;

use minijinja::{Environment, ErrorKind, Value};

use crate::diagnostic::{Problem, Source};
use crate::manifest::{Manifest, ReleaseType, Spec};
use crate::plan::Target;

pub use limits::Limits;

pub use jinja::python_repr;
pub use templates::TemplateFile;

use jinja::environment;
use templates::{list_templates, select};

/// A loaded template's source, kept to point into it when reporting.
struct Loaded {
    source: Source,
    rewritten: mutable::Rewritten,
}

/// Compiled templates, ready to render targets.
pub struct Renderer {
    env: Environment<'static>,
    sets: HashMap<(String, ReleaseType), Vec<TemplateFile>>,
    loaded: HashMap<String, Loaded>,
    /// The manifest's `readme` template, rendered once per package.
    readme: Option<String>,
    limits: Limits,
    /// Templates that went past a limit, with the problem: a runaway
    /// template is run (and reported) once, not once per target.
    exceeded: std::sync::Mutex<HashMap<String, Problem>>,
}

impl std::fmt::Debug for Renderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Renderer")
            .field("sets", &self.sets)
            .finish_non_exhaustive()
    }
}

impl Renderer {
    /// Finds and compiles the templates of every release type of every
    /// package of the manifest, with the default [`Limits`].
    ///
    /// # Errors
    /// Every missing template directory or template and every template that
    /// does not compile.
    pub fn new(manifest: &Manifest) -> Result<Self, Vec<Problem>> {
        Self::with_limits(manifest, Limits::default())
    }

    /// As [`Renderer::new`], every rendering bounded by `limits`.
    ///
    /// # Errors
    /// As [`Renderer::new`].
    pub fn with_limits(manifest: &Manifest, limits: Limits) -> Result<Self, Vec<Problem>> {
        let mut env = environment();
        env.set_fuel(Some(limits.fuel));
        env.set_recursion_limit(limits.recursion);
        let mut renderer = Self {
            env,
            sets: HashMap::new(),
            loaded: HashMap::new(),
            readme: manifest.readme.clone(),
            limits,
            exceeded: std::sync::Mutex::default(),
        };
        let mut problems = Vec::new();
        let mut listings: HashMap<String, Result<Vec<String>, std::io::Error>> = HashMap::new();
        for package in &manifest.packages {
            for (release_type, distros) in &package.release_types {
                for distro in distros.iter().filter_map(|d| manifest.distro(d)) {
                    for release in &distro.releases {
                        let spec = &release.spec;
                        let key = (spec.templates_dir.clone(), *release_type);
                        if renderer.sets.contains_key(&key) {
                            continue;
                        }
                        let files =
                            listings
                                .entry(spec.templates_dir.clone())
                                .or_insert_with(|| {
                                    list_templates(&manifest.root.join(&spec.templates_dir))
                                });
                        let who = format!(
                            "`{}` `{}` ({} of `{}`)",
                            distro.name, release.version, release_type, package.name
                        );
                        match files {
                            Err(error) => problems.push(
                                manifest
                                    .source
                                    .problem(format!(
                                        "cannot read templates directory `{}`: {error}",
                                        spec.templates_dir
                                    ))
                                    .at(
                                        spec.templates_dir_at.offset,
                                        spec.templates_dir_at.len,
                                        "templates_dir",
                                    )
                                    .help(format!(
                                        "{who} renders from it; create it or fix `templates_dir`"
                                    )),
                            ),
                            Ok(files) => match select(&spec.templates_dir, files, *release_type) {
                                Ok(set) => {
                                    for file in &set {
                                        if let Err(problem) =
                                            renderer.load(&manifest.root, &file.name)
                                        {
                                            problems.push(*problem);
                                        }
                                    }
                                    renderer.sets.insert(key, set);
                                }
                                Err(why) => {
                                    // Reported once per directory and release type.
                                    renderer.sets.insert(key, Vec::new());
                                    problems.push(
                                        manifest
                                            .source
                                            .problem(format!(
                                                "{why} in `{}`, needed by {who}",
                                                spec.templates_dir
                                            ))
                                            .at(
                                                spec.templates_dir_at.offset,
                                                spec.templates_dir_at.len,
                                                "templates_dir",
                                            )
                                            .help(format!(
                                                "add `{}/{release_type}.Dockerfile.j2`",
                                                spec.templates_dir
                                            )),
                                    );
                                }
                            },
                        }
                    }
                }
            }
        }
        if let Some(readme) = &manifest.readme
            && let Err(problem) = renderer.load(&manifest.root, readme)
        {
            problems.push(*problem);
        }
        if problems.is_empty() {
            Ok(renderer)
        } else {
            Err(problems)
        }
    }

    /// Renders the manifest's `readme` template (when it names one) for a
    /// package: `README.md` of `generated/<package>/`.
    ///
    /// # Errors
    /// When the template fails.
    pub fn render_docs(
        &self,
        matrix: &crate::plan::Matrix,
        manifest: &Manifest,
        package: &str,
    ) -> Result<Option<String>, Box<Problem>> {
        let Some(readme) = self.readme.as_deref() else {
            return Ok(None);
        };
        let targets: Vec<Target> = matrix.targets_of(manifest, package).collect();
        let mut release_types: Vec<&str> = Vec::new();
        for target in &targets {
            if !release_types.contains(&target.release_type.as_str()) {
                release_types.push(target.release_type.as_str());
            }
        }
        let registries: Vec<String> = manifest
            .registries
            .iter()
            .flat_map(|r| &r.repositories)
            .filter(|(p, _)| p == package)
            .map(|(_, path)| path.clone())
            .collect();
        let context = minijinja::context! {
            package => package.to_string(),
            bentoml_version => matrix.bentoml_version.clone(),
            python_versions => matrix.python_versions.clone(),
            release_types => release_types,
            registries => registries,
            targets => Value::from(minijinja::value::Serde(&targets)),
        };
        self.render_one(readme, context, None).map(Some)
    }

    /// Renders one template within the limits: its output may not grow
    /// past `limits.output` bytes.
    fn render_one(
        &self,
        name: &str,
        context: Value,
        target: Option<&Target>,
    ) -> Result<String, Box<Problem>> {
        let exceeded = |problem: Problem| {
            let mut exceeded = self
                .exceeded
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            exceeded.insert(name.to_string(), problem.clone());
            Box::new(problem)
        };
        if let Some(problem) = self
            .exceeded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(name)
        {
            return Err(Box::new(problem.clone()));
        }
        let template = self
            .env
            .get_template(name)
            .map_err(|e| Box::new(self.problem(&e, target)))?;
        let mut output = limits::Bounded::new(self.limits.output);
        match template.render_captured_to(context, &mut output) {
            Ok(_) => Ok(output.into_string()),
            Err(_) if output.overflowed() => Err(exceeded(self.too_much_output(name, target))),
            Err(e) if is_limit(&e) => Err(exceeded(self.problem(&e, target))),
            Err(e) => Err(Box::new(self.problem(&e, target))),
        }
    }

    fn too_much_output(&self, name: &str, target: Option<&Target>) -> Problem {
        Problem::plain(format!(
            "template `{name}` wrote more than {} bytes{}",
            self.limits.output,
            while_rendering_tail(target)
        ))
        .help(format!(
            "a loop writes more than any Dockerfile needs; if the output is meant to be that large, raise `{}`",
            limits::OUTPUT_VARIABLE
        ))
    }

    /// Reads, rewrites and compiles one template.
    fn load(&mut self, root: &Path, name: &str) -> Result<(), Box<Problem>> {
        if self.loaded.contains_key(name) {
            return Ok(());
        }
        let text = std::fs::read_to_string(root.join(name)).map_err(|error| {
            Box::new(Problem::plain(format!(
                "cannot read template `{name}`: {error}"
            )))
        })?;
        let rewritten = mutable::rewrite(&text);
        let compiled = self
            .env
            .add_template_owned(name.to_string(), rewritten.text.clone());
        self.loaded.insert(
            name.to_string(),
            Loaded {
                source: Source::new(name, text),
                rewritten,
            },
        );
        compiled.map_err(|error| Box::new(self.problem(&error, None)))
    }

    /// Every file name the templates in use render to.
    #[must_use]
    pub fn output_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .sets
            .values()
            .flatten()
            .map(|f| f.output.as_str())
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    /// The template files of a distro release for a release type.
    #[must_use]
    pub fn templates(&self, spec: &Spec, release_type: ReleaseType) -> &[TemplateFile] {
        self.sets
            .get(&(spec.templates_dir.clone(), release_type))
            .map_or(&[], Vec::as_slice)
    }

    /// Renders every template of a target: `(file name, contents)`.
    ///
    /// # Errors
    /// A template that fails to render (an undefined variable, a failing
    /// filter), pointing at the template line.
    pub fn render(
        &self,
        target: &Target,
        spec: &Spec,
        metadata: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Vec<(String, String)>, Box<Problem>> {
        let context = minijinja::context! {
            build_tag => crate::plan::build_tag(&spec.add_to_tags),
            metadata => Value::from(minijinja::value::Serde(metadata)),
        };
        let mut rendered = Vec::new();
        for file in self.templates(spec, target.release_type) {
            let text = self.render_one(&file.name, context.clone(), Some(target))?;
            rendered.push((file.output.clone(), text));
        }
        Ok(rendered)
    }

    /// A template error as a problem pointing into the template.
    fn problem(&self, error: &minijinja::Error, target: Option<&Target>) -> Problem {
        let detail = error
            .detail()
            .map_or_else(|| error.kind().to_string(), str::to_string);
        let while_rendering = target.map(while_rendering);
        let Some(loaded) = error.name().and_then(|n| self.loaded.get(n)) else {
            return Problem::plain(format!(
                "template error: {detail}{}",
                while_rendering_tail(target)
            ));
        };
        let text = loaded.source.text();
        let (start, end) = if let Some(range) = error.range() {
            (
                loaded.rewritten.original_offset(range.start),
                loaded.rewritten.original_offset(range.end),
            )
        } else {
            let line = error.line().unwrap_or(1);
            let start = text
                .split_inclusive('\n')
                .take(line.saturating_sub(1))
                .map(str::len)
                .sum();
            (start, start)
        };
        let (start, end) = (start.min(text.len()), end.clamp(start, text.len()));
        let expression = text.get(start..end).unwrap_or_default().trim();
        let (message, label, help) = match error.kind() {
            ErrorKind::SyntaxError => (
                format!("syntax error in template: {detail}"),
                "here".to_string(),
                None,
            ),
            ErrorKind::OutOfFuel => (
                format!(
                    "template ran out of fuel ({} steps){}",
                    self.limits.fuel,
                    while_rendering_tail(target)
                ),
                "still running here".to_string(),
                Some(format!(
                    "a loop or macro runs far longer than any Dockerfile needs; if it is meant to, raise `{}`",
                    limits::FUEL_VARIABLE
                )),
            ),
            ErrorKind::InvalidOperation if is_limit(error) => (
                format!(
                    "template recursion deeper than {} levels{}",
                    self.limits.recursion,
                    while_rendering_tail(target)
                ),
                "recursion".to_string(),
                Some(format!(
                    "a macro or include calls itself without end; if it is meant to go that deep, raise `{}`",
                    limits::RECURSION_VARIABLE
                )),
            ),
            ErrorKind::UndefinedError => (
                if expression.is_empty() {
                    "undefined variable in template".to_string()
                } else {
                    format!("undefined variable `{expression}` in template")
                },
                "undefined".to_string(),
                Some(format!(
                    "templates see `build_tag` and `metadata`; test optional keys with `is defined`{}",
                    while_rendering
                        .as_deref()
                        .map(|w| format!(" ({w})"))
                        .unwrap_or_default()
                )),
            ),
            _ => (
                format!("template error: {detail}"),
                detail.clone(),
                while_rendering,
            ),
        };
        loaded
            .source
            .problem(message)
            .at(start, end - start, label)
            .maybe_help(help)
    }
}

/// Whether rendering stopped at a limit (fuel or recursion).
fn is_limit(error: &minijinja::Error) -> bool {
    error.kind() == ErrorKind::OutOfFuel
        || (error.kind() == ErrorKind::InvalidOperation
            && error
                .detail()
                .is_some_and(|d| d.contains("recursion limit")))
}

/// Which target a rendering was for, as messages say it.
fn while_rendering(target: &Target) -> String {
    format!(
        "while rendering `{}` ({} {}, Python {})",
        target.name, target.distro, target.release, target.python_version
    )
}

/// [`while_rendering`] as the end of a message (a space first), or nothing
/// without a target.
fn while_rendering_tail(target: Option<&Target>) -> String {
    target
        .map(|t| format!(" {}", while_rendering(t)))
        .unwrap_or_default()
}
