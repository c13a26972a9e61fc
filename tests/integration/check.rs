//! `check`: what generation wrote must be current, parse, and name only
//! images and files that exist.

use crate::test::Test;

fn generated(test: Test) -> Test {
    let test = test.args(&["generate", "-b", "0.13.0"]);
    test.success();
    test.args(&["check", "-b", "0.13.0"])
}

#[test]
fn check_passes_on_the_seed_fixture() {
    let output = generated(Test::fixture("seed")).success();
    assert_eq!(
        output.stdout,
        "`./generated` is up to date; its 22 Dockerfiles parse, and every FROM and COPY source exists\n"
    );
}

/// BuildKit syntax a template may use: here-documents (`RUN` and `COPY`),
/// the JSON form of `COPY`/`ADD`, `--mount`, a parser directive.
#[test]
fn check_accepts_buildkit_dockerfiles() {
    let test = Test::fixture("seed").file(
        "templates/debian/devel.Dockerfile.j2",
        "# syntax=docker/dockerfile:1\nARG PYTHON_VERSION\nFROM {{ metadata.package }}:{{ build_tag }}\n\
         RUN --mount=type=cache,target=/root/.cache <<EOF\nset -e\necho FROM nowhere\nEOF\n\
         COPY <<EOF /etc/motd\nCOPY missing/file /x\nEOF\n\
         COPY [\"tools/\", \"/usr/local/bin/\"]\n",
    );
    let output = generated(test).success();
    assert!(output.stdout.contains("up to date"), "{}", output.stdout);
}

#[test]
fn check_reports_a_stale_generated_directory() {
    let test = generated(Test::fixture("seed"));
    let template = test.path().join("templates/debian/devel.Dockerfile.j2");
    let text = std::fs::read_to_string(&template).unwrap();
    std::fs::write(&template, format!("{text}\nRUN true")).unwrap();
    let output = test.failure(2);
    assert!(
        output.stderr.contains("`./generated` is stale"),
        "{}",
        output.stderr
    );
}

/// One broken rule per template; each must be reported, at its line.
#[test]
fn check_reports_each_broken_rule() {
    let test = Test::fixture("seed")
        .file("templates/debian/devel.Dockerfile.j2", "ARG PYTHON_VERSION\nFROM {{ metadata.package }}:{{ build_tag }}\nCOPY tools/missing.sh /usr/local/bin/\n")
        .file("templates/rhel/devel.Dockerfile.j2", "FROM almalinux:9\nRUN true\n")
        .file("templates/alpine/runtime.Dockerfile.j2", "FROM {{ metadata.package }}:base-python$PY-alpine\nRUN true\n")
        // An indented here-document end: `<<EOF` needs it at the line start.
        .file("templates/rhel/runtime.Dockerfile.j2", "ARG PYTHON_VERSION\nFROM {{ metadata.package }}:{{ build_tag }}\nRUN <<EOF\n    set -e\n    EOF\n");
    let output = generated(test).failure(2);
    insta::assert_snapshot!("check_broken_rules", output.stderr);
}

/// A source named with `$PYTHON_VERSION` must exist for every Python
/// version sharing the Dockerfile, not only the first.
#[test]
fn check_finds_a_source_missing_for_one_python_version() {
    let test = Test::fixture("seed")
        .file("requirements/3.7.txt", "bentoml\n")
        .file(
            "templates/debian/devel.Dockerfile.j2",
            "ARG PYTHON_VERSION\nFROM {{ metadata.package }}:{{ build_tag }}\nCOPY requirements/$PYTHON_VERSION.txt /r.txt\n",
        );
    let output = generated(test).failure(2);
    assert!(
        output.stderr.contains(
            "`requirements/3.8.txt` is not in the build context (for `model-server:devel-python3.8-slim`)"
        ),
        "{}",
        output.stderr
    );
    assert!(
        !output.stderr.contains("requirements/3.7.txt"),
        "{}",
        output.stderr
    );
}

/// `check` refuses what `validate` refuses: a line break in
/// `cuda_requires` would put an instruction of its own in the Dockerfile.
#[test]
fn check_rejects_a_line_break_in_cuda_requires() {
    let manifest = std::fs::read_to_string(crate::test::fixtures().join("seed/manifest.yml"))
        .unwrap()
        .replacen(
            "cuda_requires: \"cuda>=11.3 ",
            "cuda_requires: \"cuda>=11.3\\nRUN touch /injected ",
            1,
        );
    assert!(manifest.contains("RUN touch /injected"));
    let output = Test::fixture("seed")
        .manifest(&manifest)
        .args(&["check"])
        .failure(2);
    assert!(
        output
            .stderr
            .contains("`cuda_requires` of `release_spec` holds the control character"),
        "{}",
        output.stderr
    );
}
