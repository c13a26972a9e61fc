//! `validate` finds what `generate` would reject, and templates render
//! within bounds; the original tool's images repos keep working.

use crate::test::Test;

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
