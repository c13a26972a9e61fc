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

/// A stale tree was reported as "stale" alone, with the exit code of
/// invalid input: which files, and what to run, were left to guess.
#[test]
fn check_names_each_stale_file_and_what_to_run() {
    let test = generated(Test::fixture("seed"));
    let template = test.path().join("templates/debian/devel.Dockerfile.j2");
    let text = std::fs::read_to_string(&template).unwrap();
    std::fs::write(&template, format!("{text}\nRUN true")).unwrap();
    std::fs::remove_file(
        test.path()
            .join("generated/model-server/centos8/Dockerfile"),
    )
    .unwrap();
    std::fs::create_dir_all(test.path().join("generated/old")).unwrap();
    std::fs::write(test.path().join("generated/old/Dockerfile"), "FROM x\n").unwrap();
    let output = test.failure(1);
    for expected in [
        "`./generated` is stale: 1 file differs, 1 file is missing and 1 file is extra",
        "differs: model-server/debian10/devel/Dockerfile",
        "missing: model-server/centos8/Dockerfile",
        "extra:   old/Dockerfile (no template renders it)",
        "run `bentoml-docker generate -b 0.13.0` and commit the result",
    ] {
        assert!(
            output.stderr.contains(expected),
            "{expected}\n{}",
            output.stderr
        );
    }
    // The missing Dockerfile is said once, as part of the stale tree.
    assert_eq!(
        output.stderr.matches("centos8/Dockerfile").count(),
        1,
        "{}",
        output.stderr
    );
}

#[test]
fn check_of_a_tree_never_generated_says_so_with_the_same_selection() {
    let output = Test::fixture("seed")
        .args(&["check", "-b", "0.13.0", "-p", "3.8", "-o", "out dir"])
        .failure(1);
    assert!(
        output
            .stderr
            .contains("`out dir` does not exist: 26 files were never generated"),
        "{}",
        output.stderr
    );
    assert!(
        output
            .stderr
            .contains("run `bentoml-docker generate -b 0.13.0 -p 3.8 -o 'out dir'`"),
        "{}",
        output.stderr
    );
}

#[test]
fn check_cannot_check_an_invalid_manifest_and_says_it_is_invalid_input() {
    let output = Test::fixture("seed")
        .file("manifest.yml", "packages: 1\n")
        .args(&["check", "-b", "0.13.0"])
        .failure(2);
    assert!(
        output.stderr.contains("`packages` must be a mapping"),
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
    let output = generated(test).failure(1);
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
    let output = generated(test).failure(1);
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

/// `check -o FILE` read the file as if it were the tree (exit 1, "cannot
/// read"); a fifo in place of a generated file would block the comparison.
#[test]
fn check_refuses_an_output_that_is_not_a_directory_and_never_reads_a_fifo() {
    use rustix::fs::{FileType, Mode};
    let mut test = Test::fixture("seed").file("file", "precious");
    let fifo = test.path().join("fifo");
    let mode = Mode::from_bits_truncate(0o644);
    rustix::fs::mknodat(rustix::fs::CWD, &fifo, FileType::Fifo, mode, 0).unwrap();
    for (path, named, what) in [
        ("file", "file", "a regular file"),
        ("file/generated", "file", "a regular file"),
        ("fifo", "fifo", "a fifo"),
    ] {
        test = test.args(&["check", "-b", "0.13.0", "-o", path]);
        let output = test.failure(2);
        assert!(
            output
                .stderr
                .contains(&format!("`{named}` is {what}, not a directory")),
            "{path}: {}",
            output.stderr
        );
    }
    assert_eq!(test.read("file"), "precious");

    // A fifo where a Dockerfile belongs: a stale file, never opened.
    let test = generated(Test::fixture("seed"));
    let dockerfile = test
        .path()
        .join("generated/model-server/debian10/Dockerfile");
    std::fs::remove_file(&dockerfile).unwrap();
    rustix::fs::mknodat(rustix::fs::CWD, &dockerfile, FileType::Fifo, mode, 0).unwrap();
    let output = test.failure(1);
    assert!(
        output
            .stderr
            .contains("differs: model-server/debian10/Dockerfile"),
        "{}",
        output.stderr
    );
}
