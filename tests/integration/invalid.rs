//! Every bad manifest under `tests/fixtures/invalid/` gets its exact message.

use crate::test::{Test, copy_dir, fixtures};

#[test]
fn invalid_manifests() {
    insta::glob!("../fixtures/invalid", "*.yml", |path| {
        let test = Test::new().manifest(&std::fs::read_to_string(path).unwrap());
        copy_dir(
            &fixtures().join("seed/templates"),
            &test.path().join("templates"),
        );
        let extra = fixtures().join("invalid/templates");
        if extra.exists() {
            copy_dir(&extra, &test.path().join("templates"));
        }
        let test = test.args(&["validate", "-m", "manifest.yml"]);
        let output = test.failure(2);
        assert!(!test.path().join("generated").exists());
        insta::assert_snapshot!(output.stderr);
    });
}

/// Reports quote the lines around a problem; a secret written where a
/// variable name belongs must not be among them.
#[test]
fn a_secret_in_the_manifest_never_reaches_the_output() {
    let manifest =
        std::fs::read_to_string(fixtures().join("invalid/secret_beside_another_error.yml"))
            .unwrap();
    let test = Test::fixture("seed")
        .manifest(&manifest)
        .args(&["validate"]);
    let output = test.failure(2);
    assert!(
        output.stderr.contains("unknown key `usr`"),
        "{}",
        output.stderr
    );
    assert!(
        !output.stderr.contains("Sup3r") && !output.stdout.contains("Sup3r"),
        "{}",
        output.stderr
    );
}

/// Validates `tests/fixtures/secrets/<name>.yml` (a password beside an
/// unrelated error, so that its lines are quoted) and checks that the
/// password is quoted masked, never as written.
#[track_caller]
fn secret_is_masked(name: &str) {
    let manifest = std::fs::read_to_string(fixtures().join(format!("secrets/{name}.yml"))).unwrap();
    let test = Test::fixture("seed")
        .manifest(&manifest)
        .args(&["validate"]);
    let output = test.failure(2);
    assert!(
        !output.stderr.contains("S3cret") && !output.stdout.contains("S3cret"),
        "{}",
        output.stderr
    );
    // The lines around the problem were quoted: the mask is what hid it.
    assert!(output.stderr.contains("************"), "{}", output.stderr);
}

#[test]
fn a_secret_after_an_anchor_is_masked() {
    secret_is_masked("anchor");
}

#[test]
fn a_secret_under_a_double_quoted_key_is_masked() {
    secret_is_masked("double_quoted_key");
}

#[test]
fn a_secret_under_a_single_quoted_key_is_masked() {
    secret_is_masked("single_quoted_key");
}

#[test]
fn a_secret_after_a_space_before_the_colon_is_masked() {
    secret_is_masked("space_before_colon");
}

#[test]
fn a_secret_on_the_line_after_its_key_is_masked() {
    secret_is_masked("value_on_next_line");
}

#[test]
fn a_secret_in_a_block_scalar_is_masked() {
    secret_is_masked("block_scalar");
}

#[test]
fn a_secret_in_a_folded_scalar_is_masked() {
    secret_is_masked("folded_scalar");
}

#[test]
fn a_secret_under_a_complex_key_is_masked() {
    secret_is_masked("complex_key");
}

#[test]
fn a_secret_in_a_flow_list_is_masked() {
    secret_is_masked("flow_list");
}

#[test]
fn a_secret_as_a_flow_mapping_key_is_masked() {
    secret_is_masked("flow_mapping");
}

#[test]
fn a_secret_reached_through_an_alias_is_masked_at_its_anchor() {
    secret_is_masked("alias_of_an_anchor_elsewhere");
}

#[test]
fn a_user_name_written_in_place_of_its_variable_is_masked() {
    secret_is_masked("user_value");
}

#[test]
fn a_secret_beside_a_yaml_syntax_error_is_masked() {
    secret_is_masked("not_yaml");
}

#[test]
fn a_secret_merged_and_then_overridden_is_masked() {
    secret_is_masked("merged_then_overridden");
}

#[test]
fn a_secret_merged_from_a_flow_mapping_and_overridden_before_it_is_masked() {
    secret_is_masked("merged_flow_mapping_then_overridden");
}

#[test]
fn a_secret_in_a_flow_mapping_of_text_that_is_not_yaml_is_masked() {
    secret_is_masked("flow_mapping_not_yaml");
}

#[test]
fn a_secret_in_a_second_yaml_document_is_masked_and_the_error_is_in_words() {
    secret_is_masked("second_document");
    let manifest = std::fs::read_to_string(fixtures().join("secrets/second_document.yml")).unwrap();
    let output = Test::fixture("seed")
        .manifest(&manifest)
        .args(&["validate"])
        .failure(2);
    assert!(
        output.stderr.contains("more than one YAML document")
            && !output.stderr.contains("from_str"),
        "{}",
        output.stderr
    );
}

#[test]
fn a_secret_in_a_flow_list_continued_below_its_key_in_text_that_is_not_yaml_is_masked() {
    secret_is_masked("flow_list_over_two_lines_not_yaml");
}

#[test]
fn a_double_quoted_secret_over_two_lines_in_text_that_is_not_yaml_is_masked() {
    secret_is_masked("double_quoted_over_two_lines_not_yaml");
}

#[test]
fn a_secret_named_by_a_duplicate_key_error_is_masked_in_the_message() {
    secret_is_masked("duplicate_key_under_pwd");
}

#[test]
fn a_secret_under_a_misspelt_pwd_key_is_masked() {
    secret_is_masked("misspelt_pwd_key");
}
