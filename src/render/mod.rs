//! Renders the Jinja2 templates of the images repo with minijinja, set up to
//! produce the same bytes Jinja2 did for the original tool: `trim_blocks`,
//! `lstrip_blocks`, no auto-escaping, the final newline dropped, Python's
//! `.items()` and friends, `{% do %}` with in-place list and dict changes,
//! and values printed the way Python prints them (`True`, `None`, `['a']`).
//!
//! Every template in use is compiled once, when the [`Renderer`] is made, so
//! syntax errors in every template are found before anything is written.

pub mod limits;
pub mod metadata;
pub mod mutable;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;

use minijinja::value::ValueKind;
use minijinja::{Environment, ErrorKind, UndefinedBehavior, Value};

use crate::diagnostic::{Problem, Source};
use crate::manifest::{Manifest, ReleaseType, Spec};
use crate::plan::Target;

pub use limits::Limits;

/// One template file and the file it renders to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateFile {
    /// The template's name: its path relative to the images repo.
    pub name: String,
    /// The rendered file's name: `Dockerfile` for `*.Dockerfile.j2`, else the
    /// name without `.j2`.
    pub output: String,
}

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
        let (start, end) = match error.range() {
            Some(range) => (
                loaded.rewritten.original_offset(range.start),
                loaded.rewritten.original_offset(range.end),
            ),
            None => {
                let line = error.line().unwrap_or(1);
                let start = text
                    .split_inclusive('\n')
                    .take(line.saturating_sub(1))
                    .map(str::len)
                    .sum();
                (start, start)
            }
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

/// The `.j2` files directly in a templates directory, sorted.
fn list_templates(dir: &Path) -> Result<Vec<String>, std::io::Error> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".j2") && entry.file_type()?.is_file() {
            files.push(name);
        }
    }
    files.sort();
    Ok(files)
}

/// The templates of a release type: the files whose name contains it, and
/// for `cudnn` every file that starts with `cuda`, `cudnn` or `nvidia` (the
/// repository files RHEL-like distros need beside the Dockerfile).
fn select(
    dir: &str,
    files: &[String],
    release_type: ReleaseType,
) -> Result<Vec<TemplateFile>, String> {
    let wanted = |name: &str| {
        name.contains(release_type.as_str())
            || (release_type == ReleaseType::Cudnn
                && ["cuda", "cudnn", "nvidia"]
                    .iter()
                    .any(|p| name.starts_with(p)))
    };
    let mut set: Vec<TemplateFile> = Vec::new();
    for name in files.iter().filter(|n| wanted(n)) {
        let output = if name.ends_with(".Dockerfile.j2") {
            "Dockerfile".to_string()
        } else {
            name.trim_end_matches(".j2").to_string()
        };
        if let Some(other) = set.iter().find(|f| f.output == output) {
            let other = other.name.rsplit('/').next().unwrap_or_default();
            return Err(format!(
                "both `{other}` and `{name}` would render `{output}` for `{release_type}`"
            ));
        }
        set.push(TemplateFile {
            name: format!("{}/{name}", dir.trim_end_matches('/')),
            output,
        });
    }
    if !set.iter().any(|f| f.output == "Dockerfile") {
        return Err(format!(
            "no `{release_type}` template (a `*.Dockerfile.j2` whose name contains `{release_type}`)"
        ));
    }
    Ok(set)
}

fn environment() -> Environment<'static> {
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

    #[test]
    fn select_maps_template_names_to_files() {
        let files: Vec<String> = [
            "base.Dockerfile.j2",
            "cuda.repo.j2",
            "cudnn.Dockerfile.j2",
            "nvidia-ml.repo.j2",
            "runtime.Dockerfile.j2",
        ]
        .map(String::from)
        .to_vec();
        let outputs = |t| {
            select("templates/rhel", &files, t)
                .unwrap()
                .into_iter()
                .map(|f| f.output)
                .collect::<Vec<_>>()
        };
        assert_eq!(outputs(ReleaseType::Base), ["Dockerfile"]);
        assert_eq!(
            outputs(ReleaseType::Cudnn),
            ["cuda.repo", "Dockerfile", "nvidia-ml.repo"]
        );
        assert!(select("templates/rhel", &files, ReleaseType::Devel).is_err());
    }
}
