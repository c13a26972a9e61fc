//! `.ci/setup-docker`: whether its daemon runs is decided by the socket it
//! uses, not by the name of a process.

use std::path::Path;
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

const SETUP_DOCKER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/.ci/setup-docker");

/// A process that is only named `dockerd` (a copy of `sleep`): what a
/// check by process name takes for a daemon.
struct Impostor(Child);

impl Drop for Impostor {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The daemon a test started (detached by the script, so not a child):
/// stopped by the PID of its pidfile, and waited for.
struct Daemon<'a>(&'a Path);

impl Daemon<'_> {
    fn pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.0).ok()?.trim().parse().ok()
    }
}

impl Drop for Daemon<'_> {
    fn drop(&mut self) {
        let Some(pid) = self.pid() else { return };
        let Some(process) = rustix::process::Pid::from_raw(pid) else {
            return;
        };
        let _ = rustix::process::kill_process(process, rustix::process::Signal::TERM);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn setup(socket: &Path, state: &Path) -> Output {
    Command::new("bash")
        .args([SETUP_DOCKER, "daemon"])
        .env("SETUP_DOCKER_SOCKET", socket)
        .env("SETUP_DOCKER_STATE", state)
        .output()
        .unwrap()
}

/// `.ci/setup-docker` took a dockerd serving another socket (any process
/// named `dockerd`) for the one it should start, waited 60 s and failed.
/// The daemon everyone else uses is not touched: this one has a socket,
/// data root and pidfile of its own.
#[test]
#[ignore = "needs root and dockerd (a second daemon is started and stopped); make test runs it"]
fn docker_setup_starts_its_own_daemon_beside_another_dockerd() {
    // A short path: a Unix socket's path is limited to 108 bytes.
    let dir = tempfile::Builder::new()
        .prefix("bd-setup-")
        .tempdir_in("/tmp")
        .unwrap();
    let impostor = dir.path().join("bin/dockerd");
    std::fs::create_dir_all(impostor.parent().unwrap()).unwrap();
    std::fs::copy("/bin/sleep", &impostor).unwrap();
    let _impostor = Impostor(Command::new(&impostor).arg("300").spawn().unwrap());
    let socket = dir.path().join("d.sock");
    let state = dir.path().join("state");
    let daemon = Daemon(&state.join("dockerd.pid"));

    let started = Instant::now();
    let output = setup(&socket, &state);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("starting dockerd on {}", socket.display())),
        "{stderr}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(45),
        "{:?}",
        started.elapsed()
    );
    let pid = daemon.pid().expect("the started daemon's pidfile");
    let version = Command::new("docker")
        .arg("-H")
        .arg(format!("unix://{}", socket.display()))
        .args(["version", "--format", "{{.Server.Version}}"])
        .output()
        .unwrap();
    assert!(
        version.status.success(),
        "{}",
        String::from_utf8_lossy(&version.stderr)
    );

    // Set up already: the socket answers, nothing is started.
    let again = setup(&socket, &state);
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(again.status.success(), "{stderr}");
    assert!(!stderr.contains("starting dockerd"), "{stderr}");
    assert_eq!(daemon.pid(), Some(pid));
}

/// Another socket without a place of its own for that daemon would share
/// the default daemon's pidfile and exec root: refused, before anything.
#[test]
fn setup_docker_refuses_another_socket_without_a_state_directory() {
    let output = Command::new("bash")
        .args([SETUP_DOCKER, "daemon"])
        .env("SETUP_DOCKER_SOCKET", "/tmp/bd-setup-unused.sock")
        .env_remove("SETUP_DOCKER_STATE")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("must run as root") || stderr.contains("needs SETUP_DOCKER_STATE"),
        "{stderr}"
    );
    assert!(!Path::new("/tmp/bd-setup-unused.sock").exists());
}
