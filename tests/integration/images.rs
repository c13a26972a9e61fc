//! The shipped images repo's entrypoint (`images/tools/entrypoint.sh`), run
//! by `sh` with a `bentoml` on PATH that prints how it was called: what
//! `docker run IMAGE ...` would do in a runtime image.

use std::path::Path;
use std::process::Command;

/// Runs the entrypoint with `args` (and `PORT` when given); returns what
/// reached the stub, or what the command printed.
fn entrypoint(args: &[&str], port: Option<&str>) -> String {
    let dir = tempfile::tempdir().unwrap();
    let stub = dir.path().join("bentoml");
    std::fs::write(&stub, "#!/bin/sh\necho \"bentoml $*\"\n").unwrap();
    std::fs::set_permissions(&stub, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("images/tools/entrypoint.sh");
    let mut command = Command::new("sh");
    command
        .arg(script)
        .args(args)
        .env_remove("PORT")
        .env("PATH", format!("{}:/usr/bin:/bin", dir.path().display()));
    if let Some(port) = port {
        command.env("PORT", port);
    }
    let output = command.output().unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

#[test]
fn the_entrypoint_serves_the_bento_on_port_3000_by_default() {
    assert_eq!(
        entrypoint(&[], None),
        "bentoml serve /bento --host 0.0.0.0 --port 3000"
    );
}

#[test]
fn the_entrypoint_honours_port_and_passes_flags_to_bentoml_serve() {
    assert_eq!(
        entrypoint(&["--workers", "4"], Some("8080")),
        "bentoml serve /bento --host 0.0.0.0 --port 8080 --workers 4"
    );
    assert_eq!(
        entrypoint(&["--help"], None),
        "bentoml serve /bento --host 0.0.0.0 --port 3000 --help"
    );
}

#[test]
fn the_entrypoint_runs_any_other_command_as_given() {
    assert_eq!(entrypoint(&["echo", "hello"], Some("8080")), "hello");
    assert_eq!(
        entrypoint(&["bentoml", "--version"], None),
        "bentoml --version"
    );
}
