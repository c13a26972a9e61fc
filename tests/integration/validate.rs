//! `validate` finds what `generate` would reject, and templates render
//! within bounds; the original tool's images repos keep working.

use std::process::Command;

use crate::test::{BIN, Test};

/// Runs the binary with `args` in the test's images repo: exit code, stderr.
fn run(test: &Test, args: &[&str]) -> (i32, String) {
    let output = Command::new(BIN)
        .args(args)
        .current_dir(test.path())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
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
    assert!(stderr.contains("is 145 characters long"), "{stderr}");
    assert!(stderr.contains("at most 128"), "{stderr}");
    assert!(!test.path().join("generated").exists());
}
