//! `graph`: the plan drawn in Mermaid and dot.

use std::path::Path;

use crate::test::Test;

#[test]
fn the_build_fixture_graph_in_mermaid() {
    let output = Test::fixture("build").args(&["graph"]).success();
    insta::assert_snapshot!("graph_mermaid", output.stdout);
}

#[test]
fn the_build_fixture_graph_in_dot() {
    let output = Test::fixture("build")
        .args(&["graph", "--format", "dot"])
        .success();
    insta::assert_snapshot!("graph_dot", output.stdout);
}

#[test]
fn the_graph_takes_the_selection_of_build_with_what_it_is_built_from() {
    let output = Test::fixture("build")
        .args(&[
            "graph",
            "--python-version",
            "3.11",
            "--target",
            "app:devel-python3.11-bookworm",
        ])
        .success();
    assert!(
        output
            .stdout
            .contains("[\"app:devel-python3.11-bookworm\"]")
    );
    assert!(output.stdout.contains("[\"app:base-python3.11-bookworm\"]"));
    assert!(!output.stdout.contains("runtime"), "{}", output.stdout);
}

/// The Mermaid block of `images/README.md`, between its markers.
fn embedded(readme: &str) -> &str {
    let begin = "<!-- begin: bentoml-docker graph -->\n```mermaid\n";
    let start = readme.find(begin).expect("the begin marker") + begin.len();
    let end = readme[start..]
        .find("```\n<!-- end: bentoml-docker graph -->")
        .expect("the end marker");
    &readme[start..start + end]
}

#[test]
fn the_images_readme_embeds_the_current_graph() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("images/README.md")).unwrap();
    let manifest = root.join("images/manifest.yml");
    let output = Test::new()
        .args(&["graph", "-m", manifest.to_str().unwrap()])
        .success();
    assert!(
        embedded(&readme) == output.stdout,
        "images/README.md has an old graph: paste the output of \
         `bentoml-docker graph -m images/manifest.yml` between its markers"
    );
}
