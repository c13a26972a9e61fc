//! `validate` finds what `generate` would reject, and templates render
//! within bounds; the original tool's images repos keep working.

use std::process::Command;

use crate::test::Test;

/// Runs the binary with `args` in the test's images repo: exit code, stderr.
fn run(test: &Test, args: &[&str]) -> (i32, String) {
    let output = test.command(args).output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8(output.stderr).unwrap(),
    )
}

/// The original's images repo has a docs template written for a context it
/// never gave: only a template the manifest names under `readme` is rendered.
#[test]
fn a_docs_template_the_manifest_does_not_name_is_not_rendered() {
    let docs =
        "# {{ metadata.targeted_directory }}\n{% for t in metadata.tags %}{{ t }}{% endfor %}\n";
    let original = Test::fixture("seed")
        .file("templates/docs/README.md.j2", docs)
        .args(&["-bv", "0.13.0", "-dm", "-sag"]);
    original.success();
    let plain = Test::fixture("seed").args(&["-bv", "0.13.0", "-dm", "-sag"]);
    plain.success();
    assert_eq!(original.tree("generated"), plain.tree("generated"));
    assert_eq!(original.read("metadata.json"), plain.read("metadata.json"));
    assert!(!original.tree("generated").contains("README.md"));
    Test::fixture("seed")
        .file("templates/docs/README.md.j2", docs)
        .args(&["validate"])
        .success();
}

#[test]
fn a_docs_template_named_by_readme_is_rendered_per_package() {
    let test = Test::fixture("seed");
    let manifest = format!(
        "{}\nreadme: templates/docs/README.md.j2\n",
        test.read("manifest.yml")
    );
    let test = test
        .manifest(&manifest)
        .file(
            "templates/docs/README.md.j2",
            "# {{ package }} {{ bentoml_version }}\n",
        )
        .args(&["generate", "-b", "0.13.0"]);
    test.success();
    assert_eq!(
        test.read("generated/model-server/README.md"),
        "# model-server 0.13.0"
    );
}

/// Runs `validate` and `generate` on the same images repo: both fail, with
/// the same report, and nothing is written. (`validate` renders with
/// BentoML `0.0.0` when the manifest names no version.)
#[track_caller]
fn validate_fails_as_generate_does(test: &Test) -> String {
    let (validate_code, validate) = run(test, &["validate"]);
    let (generate_code, generate) = run(test, &["generate", "-b", "0.0.0"]);
    assert_eq!(validate_code, 2, "{validate}");
    assert_eq!(generate_code, 2, "{generate}");
    assert_eq!(validate, generate);
    assert!(!test.path().join("generated").exists());
    validate
}

#[test]
fn validate_fails_on_an_undefined_template_variable_as_generate_does() {
    let test = Test::fixture("seed");
    let template = test.read("templates/debian/runtime.Dockerfile.j2");
    let test = test.file(
        "templates/debian/runtime.Dockerfile.j2",
        &format!("{template}\nLABEL x={{{{ metadata.targeted_directory }}}}\n"),
    );
    let stderr = validate_fails_as_generate_does(&test);
    assert!(
        stderr.contains("undefined variable `metadata.targeted_directory`"),
        "{stderr}"
    );
    assert!(stderr.contains("runtime.Dockerfile.j2:"), "{stderr}");
}

#[test]
fn validate_fails_on_a_template_that_renders_per_python_version_as_generate_does() {
    let test = Test::fixture("seed");
    let template = test.read("templates/debian/base.Dockerfile.j2");
    let test = test.file(
        "templates/debian/base.Dockerfile.j2",
        &format!("{template}\n# {{{{ metadata.envars.PYTHON_VERSION }}}}\n"),
    );
    let stderr = validate_fails_as_generate_does(&test);
    assert!(
        stderr.contains("renders differently for Python"),
        "{stderr}"
    );
}

/// A line break in an `envars` value becomes a Dockerfile instruction of
/// its own: `check` refuses it, even on a tree generated before.
#[test]
fn check_fails_on_an_envars_value_that_injects_an_instruction() {
    let test = Test::fixture("seed");
    assert_eq!(run(&test, &["generate", "-b", "0.13.0"]).0, 0);
    let manifest = test.read("manifest.yml").replace(
        "- LC_ALL=C.UTF-8",
        "- \"LC_ALL=C.UTF-8\\nRUN touch /injected\"",
    );
    let test = test.manifest(&manifest);
    for command in [&["check", "-b", "0.13.0"][..], &["validate"]] {
        let (code, stderr) = run(&test, command);
        assert_eq!(code, 2, "{stderr}");
        assert!(
            stderr.contains("the value of `LC_ALL` holds the control character `\\n`"),
            "{stderr}"
        );
    }
}

/// Tags hold at most 128 characters: a `-b` that makes one longer is
/// refused before anything is written.
#[test]
fn a_bentoml_version_that_makes_a_tag_too_long_is_refused() {
    let test = Test::fixture("seed");
    let version = format!("1.{}", "0".repeat(120));
    let (code, stderr) = run(&test, &["generate", "-b", &version]);
    assert_eq!(code, 2, "{stderr}");
    // The message wraps (inside words too); what it measures is what it
    // quotes: the tag alone.
    let text: String = stderr
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '│')
        .collect();
    let tag = format!("{version}-python3.7-slim-runtime");
    assert_eq!(tag.len(), 145);
    assert!(
        text.contains(&format!("tag`{tag}`of`model-server`is145characterslong")),
        "{stderr}"
    );
    assert!(text.contains("atmost128"), "{stderr}");
    assert!(!test.path().join("generated").exists());
}

/// Runs `validate` and then `generate` with `variables` set: both fail (2),
/// nothing is written, and the report of both is returned.
#[track_caller]
fn bounded(test: &Test, variables: &[(&str, &str)]) -> String {
    let mut reports = String::new();
    for args in [&["validate"][..], &["generate", "-b", "0.13.0"]] {
        let output = test
            .command(args)
            .envs(variables.iter().copied())
            .output()
            .unwrap();
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        reports.push_str(&stderr);
    }
    assert!(!test.path().join("generated").exists());
    reports
}

/// The seed fixture with `text` added to the `base` template of Debian.
fn with_base_template(text: &str) -> Test {
    let test = Test::fixture("seed");
    let template = test.read("templates/debian/base.Dockerfile.j2");
    test.file(
        "templates/debian/base.Dockerfile.j2",
        &format!("{template}\n{text}\n"),
    )
}

#[test]
fn nested_loops_that_never_end_stop_at_the_fuel_bound() {
    let test = with_base_template(
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    );
    let report = bounded(&test, &[("BENTOML_DOCKER_TEMPLATE_FUEL", "100000")]);
    assert!(
        report.contains("template ran out of fuel (100000 steps)"),
        "{report}"
    );
    assert!(
        report.contains("templates/debian/base.Dockerfile.j2:"),
        "{report}"
    );
    assert!(
        report.contains("while rendering `model-server:base-python"),
        "{report}"
    );
    // Reported once per template, not once per target.
    assert_eq!(report.matches("ran out of fuel").count(), 2, "{report}");
}

#[test]
fn an_exponential_macro_stops_at_the_fuel_bound() {
    let test = with_base_template(
        "{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(30) }}",
    );
    let report = bounded(&test, &[("BENTOML_DOCKER_TEMPLATE_FUEL", "1000000")]);
    assert!(
        report.contains("ran out of fuel (1000000 steps)"),
        "{report}"
    );
    // Without the variable, the default bound stops it too.
    let (code, report) = run(&test, &["validate"]);
    assert_eq!(code, 2, "{report}");
    assert!(
        report.contains("ran out of fuel (10000000 steps)"),
        "{report}"
    );
}

#[test]
fn a_macro_that_calls_itself_without_end_stops_at_the_recursion_bound() {
    let test = with_base_template("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}");
    let report = bounded(&test, &[("BENTOML_DOCKER_TEMPLATE_RECURSION", "50")]);
    assert!(
        report.contains("template recursion deeper than 50 levels"),
        "{report}"
    );
    assert!(
        report.contains("templates/debian/base.Dockerfile.j2:"),
        "{report}"
    );
}

#[test]
fn a_template_that_writes_too_much_stops_at_the_output_bound() {
    let test = with_base_template("{% for i in range(1000) %}{{ 'x' * 100 }}{% endfor %}");
    let report = bounded(&test, &[("BENTOML_DOCKER_TEMPLATE_MAX_OUTPUT", "50000")]);
    assert!(
        report
            .contains("template `templates/debian/base.Dockerfile.j2` wrote more than 50000 bytes"),
        "{report}"
    );
    assert!(report.contains("`model-server:base-python"), "{report}");
    // The default bound lets it through.
    assert_eq!(run(&test, &["validate"]).0, 0);
}

/// minijinja nests at most 500 deep whatever it is told: a higher bound
/// would be stated and not held, so it is refused.
#[test]
fn a_recursion_bound_above_500_is_a_usage_error_not_silently_capped() {
    let test = Test::fixture("seed");
    let report = bounded(&test, &[("BENTOML_DOCKER_TEMPLATE_RECURSION", "100000")]);
    assert!(
        report.contains("`BENTOML_DOCKER_TEMPLATE_RECURSION` is `100000`, above 500"),
        "{report}"
    );
}

#[test]
fn a_limit_that_is_not_a_number_is_a_usage_error() {
    let test = Test::fixture("seed");
    let report = bounded(&test, &[("BENTOML_DOCKER_TEMPLATE_FUEL", "lots")]);
    assert!(
        report.contains("`BENTOML_DOCKER_TEMPLATE_FUEL` is `lots`"),
        "{report}"
    );
}

/// Reading a fifo waits for a writer forever, and `/dev/zero` never ends:
/// a manifest path that is not a regular file is refused before reading.
#[test]
fn a_manifest_path_that_is_a_fifo_or_a_directory_is_refused_not_read() {
    let test = Test::new();
    let fifo = test.path().join("manifest.fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    std::fs::create_dir(test.path().join("manifest.d")).unwrap();
    for (path, kind) in [("manifest.fifo", "a fifo"), ("manifest.d", "a directory")] {
        for args in [
            &["validate", "-m", path][..],
            &["generate", "-b", "1.0.0", "-m", path],
            &["-bv", "1.0.0", "-sag", "-mf", path],
        ] {
            let Some(output) = test.run_within(args, std::time::Duration::from_secs(20)) else {
                panic!("{args:?} hung on {kind}");
            };
            let stderr = output.stderr;
            assert_eq!(output.code, 2, "{args:?}: {stderr}");
            assert!(
                stderr.contains(&format!("manifest `{path}` is {kind}, not a file")),
                "{args:?}: {stderr}"
            );
        }
    }
}

/// `validate` renders in memory and never looks at `generated/`: a fifo
/// there (which a read would wait on forever) changes nothing.
#[test]
fn validate_does_not_read_generated_so_a_fifo_there_cannot_hang_it() {
    let test = Test::fixture("seed");
    assert_eq!(run(&test, &["generate", "-b", "0.13.0"]).0, 0);
    let dockerfile = test
        .path()
        .join("generated/model-server/debian10/Dockerfile");
    std::fs::remove_file(&dockerfile).unwrap();
    let made = Command::new("mkfifo").arg(&dockerfile).status().unwrap();
    assert!(made.success());
    let output = test
        .run_within(&["validate"], std::time::Duration::from_secs(20))
        .expect("validate hung on a fifo in generated/");
    assert_eq!(output.code, 0, "{}", output.stderr);
}

/// One package pushed to one repository from two registry entries (a
/// mirror under another name, or another set of credentials) is no clash:
/// only two packages in one repository would overwrite each other's tags.
#[test]
fn the_same_package_in_one_repository_from_two_registry_entries_is_valid() {
    let test = Test::fixture("seed");
    let manifest = test.read("manifest.yml").replacen(
        "\ncuda_dependencies:",
        "  mirror:\n    only_if: MIRROR_PASSWORD\n    user: MIRROR_USER\n    pwd: MIRROR_PASSWORD\n    \
         registry:\n      model-server: docker.io/example/model-server\n\ncuda_dependencies:",
        1,
    );
    assert!(manifest.contains("mirror:"));
    let test = test.manifest(&manifest);
    let (code, stderr) = run(&test, &["validate"]);
    assert_eq!(code, 0, "{stderr}");
}
