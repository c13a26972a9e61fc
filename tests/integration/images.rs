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

/// The shipped images repo's file at `path`.
fn images_file(path: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("images")
        .join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The shell script of the `RUN` of `dockerfile` that starts with `start`,
/// its continuation lines kept: `sh` joins them as the builder does.
fn run_instruction(dockerfile: &str, start: &str) -> String {
    let mut lines = dockerfile
        .lines()
        .skip_while(|line| !line.starts_with(&format!("RUN {start}")));
    let mut script = String::new();
    for line in lines.by_ref() {
        script.push_str(line);
        script.push('\n');
        if !line.ends_with('\\') {
            break;
        }
    }
    assert!(!script.is_empty(), "no `RUN {start}` in\n{dockerfile}");
    script["RUN ".len()..].to_string()
}

/// What a cudnn image's repository `RUN` did: the commands it ran, whether
/// it succeeded, what it printed to stderr, and the temp dir that stood for
/// `/tmp/` and `/etc/yum.repos.d/`.
struct Ran {
    log: String,
    succeeded: bool,
    stderr: String,
    dir: tempfile::TempDir,
}

/// Runs `script` as if built for `target_arch` (BuildKit's TARGETARCH;
/// empty as under the classic builder) on a machine whose `uname -m` is
/// `machine`, with `cuda_repo` (when given) where COPY put it. curl, dpkg,
/// apt-get, apt-mark, dnf and uname are stubs; the first four log how they
/// were called.
fn run_repository_step(
    script: &str,
    target_arch: &str,
    machine: &str,
    cuda_repo: Option<&str>,
) -> Ran {
    let dir = tempfile::tempdir().unwrap();
    if let Some(cuda_repo) = cuda_repo {
        std::fs::write(dir.path().join("cuda.repo"), cuda_repo).unwrap();
    }
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let log = dir.path().join("log");
    for tool in ["curl", "dpkg", "apt-get", "apt-mark", "dnf"] {
        let stub = bin.join(tool);
        std::fs::write(
            &stub,
            format!("#!/bin/sh\necho \"{tool} $*\" >> '{}'\n", log.display()),
        )
        .unwrap();
        std::fs::set_permissions(&stub, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
    }
    let uname = bin.join("uname");
    std::fs::write(&uname, format!("#!/bin/sh\necho {machine}\n")).unwrap();
    std::fs::set_permissions(&uname, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let root = dir.path().display().to_string();
    std::fs::write(dir.path().join("cuda-keyring.deb"), "").unwrap();
    let script = script
        .replace("/tmp/", &format!("{root}/"))
        .replace("/etc/yum.repos.d/", &format!("{root}/"));
    let output = Command::new("sh")
        .arg("-c")
        .arg(&script)
        .env("TARGETARCH", target_arch)
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .output()
        .unwrap();
    Ran {
        log: std::fs::read_to_string(&log).unwrap_or_default(),
        succeeded: output.status.success(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        dir,
    }
}

#[test]
fn the_debian_cudnn_images_fetch_nvidias_repository_of_the_platform_being_built() {
    let script = run_instruction(
        &images_file("generated/bento-server/ubuntu24.04/cudnn/Dockerfile"),
        "arch=",
    );
    let repos = "https://developer.download.nvidia.com/compute/cuda/repos/ubuntu2404";
    for (target_arch, machine, arch) in [
        ("amd64", "x86_64", "x86_64"),
        ("arm64", "x86_64", "sbsa"),
        // The classic builder sets no TARGETARCH: the machine says.
        ("", "aarch64", "sbsa"),
        ("", "x86_64", "x86_64"),
    ] {
        let ran = run_repository_step(&script, target_arch, machine, None);
        assert!(ran.succeeded, "{target_arch}/{machine}: {}", ran.stderr);
        let keyring = format!("{repos}/{arch}/cuda-keyring_1.1-1_all.deb");
        assert!(
            ran.log.lines().next().unwrap().ends_with(&keyring),
            "{target_arch}/{machine}: {}",
            ran.log
        );
        assert!(
            ran.log.contains("apt-get install") && ran.log.contains("libcudnn9-cuda-12="),
            "{}",
            ran.log
        );
    }
    let ran = run_repository_step(&script, "ppc64le", "x86_64", None);
    assert!(!ran.succeeded);
    assert!(
        ran.stderr
            .contains("NVIDIA publishes no CUDA repository for ppc64le"),
        "{}",
        ran.stderr
    );
    assert_eq!(
        ran.log, "",
        "nothing is fetched for a platform NVIDIA lacks"
    );
}

#[test]
fn the_rhel_cudnn_images_use_nvidias_repository_of_the_platform_being_built() {
    for release in ["ubi9", "amazonlinux2023"] {
        let directory = format!("generated/bento-server/{release}/cudnn");
        let script = run_instruction(&images_file(&format!("{directory}/Dockerfile")), "arch=");
        let rendered = images_file(&format!("{directory}/cuda.repo"));
        for (target_arch, machine, arch) in [
            ("amd64", "x86_64", "x86_64"),
            ("arm64", "x86_64", "sbsa"),
            ("", "aarch64", "sbsa"),
        ] {
            let ran = run_repository_step(&script, target_arch, machine, Some(&rendered));
            assert!(ran.succeeded, "{release} {target_arch}: {}", ran.stderr);
            let repo = std::fs::read_to_string(ran.dir.path().join("cuda.repo")).unwrap();
            assert_eq!(
                repo,
                rendered.replace("/x86_64", &format!("/{arch}")),
                "{release} {target_arch}/{machine}"
            );
            assert!(repo.contains(&format!("/{arch}\n")), "{repo}");
            assert!(repo.contains(&format!("/{arch}/D42D0685.pub")), "{repo}");
            assert!(ran.log.starts_with("dnf install "), "{}", ran.log);
        }
    }
}

#[test]
fn the_images_readme_says_which_platforms_each_tag_has() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("images/manifest.yml");
    let output = crate::test::Test::new()
        .command(&["plan", "--json", "-m", manifest.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let plan: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    // Per distro release, in plan order: its tags with `X.Y` for the Python
    // version, and the platforms of its targets.
    let mut want: Vec<(String, Vec<String>, String)> = Vec::new();
    for target in plan["targets"].as_array().unwrap() {
        let text = |key: &str| target[key].as_str().unwrap().to_string();
        let release = format!("{} {}", text("distro"), text("release"));
        let tag = text("tag").replace(&format!("python{}", text("python_version")), "pythonX.Y");
        let platforms = target["platforms"].as_array().map_or_else(
            || "the builder's".to_string(),
            |p| {
                p.iter()
                    .map(|p| p.as_str().unwrap())
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        );
        match want.iter_mut().find(|(r, _, _)| *r == release) {
            Some((_, tags, had)) => {
                assert_eq!(*had, platforms, "one release, one set of platforms");
                if !tags.contains(&tag) {
                    tags.push(tag);
                }
            }
            None => want.push((release, vec![tag], platforms)),
        }
    }
    let readme = images_file("README.md");
    let rows: Vec<(String, Vec<String>, String)> = readme
        .lines()
        .skip_while(|line| !line.starts_with("| Distro release | Tags | Platforms |"))
        .skip(2)
        .take_while(|line| line.starts_with('|'))
        .map(|line| {
            let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
            let tags = cells[1]
                .split(", ")
                .map(|t| t.trim_matches('`').to_string())
                .collect();
            (cells[0].to_string(), tags, cells[2].to_string())
        })
        .collect();
    assert_eq!(
        rows, want,
        "images/README.md's table of tags and platforms is not what `plan --json` says"
    );
}
