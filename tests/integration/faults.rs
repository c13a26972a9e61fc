//! Registries that misbehave, served here on 127.0.0.1: one that echoes
//! the credentials it receives in every form (bodies and headers of 401,
//! 403 and 500 answers), and one (or a proxy in front of a real registry)
//! that takes the connection and never answers a given kind of request.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use crate::registry::{USER, all_files, cleanup, fixture, registry, run};

/// One request's head.
struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What the server does with a request.
enum Reply {
    /// Holds the connection and never answers.
    Hang,
    /// Answers `status` with these headers and body, then closes.
    Answer(u16, Vec<(String, String)>, Vec<u8>),
    /// Writes these bytes and closes the connection mid-answer.
    Cut(Vec<u8>),
    /// Writes these bytes and then never another.
    Stall(Vec<u8>),
}

/// Reads a request head (and drops its body); `None` when the client left.
fn read_request(stream: &mut impl Read) -> Option<(Request, Vec<u8>)> {
    let mut raw = Vec::new();
    let mut byte = [0; 1];
    while !raw.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).ok()? == 0 {
            return None;
        }
        raw.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&raw).into_owned();
    let mut lines = text.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let (method, path) = (first.next()?.to_string(), first.next()?.to_string());
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let request = Request {
        method,
        path,
        headers,
    };
    if let Some(length) = request
        .header("content-length")
        .and_then(|l| l.parse::<usize>().ok())
    {
        let mut body = vec![0; length];
        let _ = stream.read_exact(&mut body);
    }
    Some((request, raw))
}

fn answer(stream: &mut impl Write, status: u16, headers: &[(String, String)], body: &[u8]) {
    let mut head = format!(
        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        let _ = write!(head, "{name}: {value}\r\n");
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
}

/// Holds `stream` open without a word, long past any test's bound.
fn hang(stream: TcpStream) {
    std::thread::sleep(Duration::from_secs(120));
    drop(stream);
}

/// A server on a free port answering each request as `reply` says.
fn serve(reply: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let reply = std::sync::Arc::new(reply);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let reply = std::sync::Arc::clone(&reply);
            std::thread::spawn(move || handle(stream, &*reply));
        }
    });
    port
}

/// The same on a Unix socket at `path` (the Docker daemon's transport).
fn serve_unix(path: &std::path::Path, reply: impl Fn(&Request) -> Reply + Send + Sync + 'static) {
    let listener = std::os::unix::net::UnixListener::bind(path).unwrap();
    let reply = std::sync::Arc::new(reply);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let reply = std::sync::Arc::clone(&reply);
            std::thread::spawn(move || handle(stream, &*reply));
        }
    });
}

/// Answers one request; every answer closes the connection.
fn handle<S: Read + Write + Send + 'static>(mut stream: S, reply: &dyn Fn(&Request) -> Reply) {
    let Some((request, _)) = read_request(&mut stream) else {
        return;
    };
    match reply(&request) {
        Reply::Hang => std::thread::sleep(Duration::from_secs(120)),
        Reply::Answer(status, headers, body) => answer(&mut stream, status, &headers, &body),
        Reply::Cut(bytes) => {
            let _ = stream.write_all(&bytes);
        }
        Reply::Stall(bytes) => {
            let _ = stream.write_all(&bytes);
            let _ = stream.flush();
            std::thread::sleep(Duration::from_secs(120));
        }
    }
}

/// Picks requests by method and path.
type Picks = fn(&str, &str) -> bool;

/// Forwards to the registry on `upstream`, one request per connection,
/// but never answers the requests `hangs` picks.
fn hanging_proxy(upstream: u16, hangs: Picks) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut client = client;
                let mut raw = Vec::new();
                let mut byte = [0; 1];
                while !raw.ends_with(b"\r\n\r\n") {
                    if client.read(&mut byte).unwrap_or(0) == 0 {
                        return;
                    }
                    raw.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&raw).into_owned();
                let mut first = head.split(' ');
                let (method, path) = (first.next().unwrap_or(""), first.next().unwrap_or(""));
                if hangs(method, path) {
                    hang(client);
                    return;
                }
                // One request per connection: the next one is looked at too.
                let head: String = head
                    .split("\r\n")
                    .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
                    .collect::<Vec<_>>()
                    .join("\r\n");
                let head = head.replacen("\r\n", "\r\nConnection: close\r\n", 1);
                let Ok(mut server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    return;
                };
                let _ = server.write_all(head.as_bytes());
                let (mut client_read, mut server_write) =
                    (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || std::io::copy(&mut client_read, &mut server_write));
                let _ = std::io::copy(&mut server, &mut client);
                let _ = client.shutdown(std::net::Shutdown::Both);
            });
        }
    });
    port
}

fn base64_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let values: Vec<u32> = text
        .bytes()
        .filter_map(|b| ALPHABET.iter().position(|&a| a == b))
        .map(|v| u32::try_from(v).unwrap())
        .collect();
    let mut out = Vec::new();
    for chunk in values.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0, |n, (i, v)| n | v << (18 - 6 * i));
        for i in 0..chunk.len().saturating_sub(1) {
            out.push(u8::try_from(n >> (16 - 8 * i) & 0xff).unwrap());
        }
    }
    out
}

/// Every form in which the echoing registry repeats `password`.
fn echoed_forms(password: &str) -> Vec<String> {
    let json = serde_json::to_string(password).unwrap();
    let percent = password.bytes().fold(String::new(), |mut out, b| {
        let _ = write!(out, "%{b:02X}");
        out
    });
    let ascii_json: String = password
        .encode_utf16()
        .map(|u| match u {
            0x22 => "\\\"".to_string(),
            0x5c => "\\\\".to_string(),
            0x20..0x7f => char::from_u32(u.into()).unwrap().to_string(),
            _ => format!("\\u{u:04x}"),
        })
        .collect();
    // Go's html.EscapeString, and HTML's named references.
    let html = password
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;");
    let html_named = html.replace("&#34;", "&quot;");
    let go_bytes: String = password.bytes().fold(String::new(), |mut out, b| {
        let _ = write!(out, "\\x{b:02x}");
        out
    });
    let go_runes: String = password
        .chars()
        .map(|c| match c {
            '"' | '\\' => format!("\\{c}"),
            ' '..='~' => c.to_string(),
            c if u32::from(c) > 0xffff => format!("\\U{:08x}", u32::from(c)),
            c => format!("\\u{:04x}", u32::from(c)),
        })
        .collect();
    // The credentials object of an `X-Registry-Auth` header.
    let auth = base64(
        &serde_json::json!({"username": USER, "password": password, "serveraddress": "r"})
            .to_string(),
    );
    let auth_url_safe = auth
        .trim_end_matches('=')
        .replace('+', "-")
        .replace('/', "_");
    vec![
        password.to_string(),
        json[1..json.len() - 1].to_string(),
        ascii_json,
        percent,
        html,
        html_named,
        go_bytes,
        go_runes,
        auth,
        auth_url_safe,
    ]
}

/// A registry that refuses anonymous requests with a Basic challenge and
/// answers every authenticated one `status`, echoing what it received:
/// the `Authorization` header, and the password decoded from it raw,
/// JSON-escaped (both ways) and percent-encoded, in the body and headers.
/// An upload it starts (202) carries a `_state` token in its URL.
fn echoing_registry(status: u16) -> u16 {
    serve(move |request| {
        let Some(authorization) = request.header("authorization").map(str::to_string) else {
            return Reply::Answer(
                401,
                vec![("WWW-Authenticate".into(), "Basic realm=\"echo\"".into())],
                b"{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":\"log in\"}]}".to_vec(),
            );
        };
        if request.method == "POST" && request.path.contains("/blobs/uploads/") {
            let location = format!(
                "{}u1?_state=STATE-TOKEN-{}",
                request.path.split('?').next().unwrap(),
                authorization.len()
            );
            return Reply::Answer(
                202,
                vec![
                    ("Location".into(), location),
                    ("Docker-Upload-UUID".into(), "u1".into()),
                ],
                Vec::new(),
            );
        }
        let decoded = base64_decode(authorization.trim_start_matches("Basic "));
        let decoded = String::from_utf8_lossy(&decoded).into_owned();
        let password = decoded.split_once(':').map_or("", |(_, p)| p);
        let forms = echoed_forms(password);
        let code = match status {
            401 => "UNAUTHORIZED",
            403 => "DENIED",
            _ => "UNKNOWN",
        };
        let more: String = forms[4..].iter().fold(String::new(), |mut out, f| {
            let _ = write!(out, " [{f}]");
            out
        });
        let body = format!(
            "{{\"errors\":[{{\"code\":\"{code}\",\"message\":\"rejected {decoded} with {authorization} at /v2/x/blobs/uploads/u1?_state=STATE-TOKEN-2\",\"detail\":{{\"raw\":\"{}\",\"json\":\"{}\",\"ascii\":\"{}\",\"url\":\"{}\",\"more\":\"{more}\"}}}}]}}",
            forms[0], forms[1], forms[2], forms[3]
        );
        let mut headers = vec![
            ("Content-Type".to_string(), "application/json".to_string()),
            ("X-Echo-Authorization".to_string(), authorization.clone()),
            ("X-Echo-Password".to_string(), forms[3].clone()),
        ];
        if status == 401 {
            headers.push(("WWW-Authenticate".into(), "Basic realm=\"echo\"".into()));
        }
        Reply::Answer(status, headers, body.into_bytes())
    })
}

/// Passwords with every character that needs escaping somewhere.
const PASSWORDS: [&str; 4] = [
    "pa\"ss\\w0rd",
    "c0l:on/sl'sh$dollar 100% sp ace",
    "ünï€ode-😀-\"mix\\ed\" %41",
    "<ht&ml>'tilde~x'",
];

/// Whether `text` holds `password` in any form the registry echoed it,
/// the `Authorization` value or an upload's `_state` token.
fn leaks(text: &str, password: &str) -> Option<String> {
    let basic = base64(&format!("{USER}:{password}"));
    let mut forms = echoed_forms(password);
    forms.push(basic);
    forms.push("STATE-TOKEN".into());
    forms.into_iter().find(|f| text.contains(f.as_str()))
}

fn base64(text: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in text.as_bytes().chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            out.push(if i <= chunk.len() {
                char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize])
            } else {
                '='
            });
        }
    }
    out
}

/// Every file under the images repo, as text.
fn files_text(test: &crate::test::Test) -> String {
    let mut files = Vec::new();
    all_files(test.path(), &mut files);
    files
        .iter()
        .map(|f| String::from_utf8_lossy(&std::fs::read(f).unwrap()).into_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The bug: a password containing `"` was printed JSON-escaped, and the
/// `Authorization` value (base64 of `user:password`) in the clear, on the
/// terminal and in `--report`.
#[test]
fn status_masks_credentials_a_registry_echoes_in_every_form() {
    for status in [401, 403, 500] {
        let port = echoing_registry(status);
        let test = fixture("bdtest-echo", &[(format!("127.0.0.1:{port}"), "REG")]);
        for password in PASSWORDS {
            let env = [("REG_USER", USER), ("REG_PASSWORD", password)];
            let (code, stdout, stderr) = run(
                &test,
                &["status", "--timeout", "5", "--report", "status.json"],
                &env,
            );
            assert_eq!(code, 1, "{stdout}{stderr}");
            let report = test.read("status.json");
            let all = format!("{stdout}{stderr}{report}{}", files_text(&test));
            assert_eq!(leaks(&all, password), None, "{status}: {all}");
            if status == 500 {
                // The echoed body is shown, masked: the masking was exercised.
                assert!(stdout.contains("rejected pusher:***"), "{stdout}");
                assert!(stdout.contains("Basic ***"), "{stdout}");
            } else {
                assert!(!stdout.contains("rejected"), "in words: {stdout}");
            }
        }
    }
}

#[test]
#[ignore = "needs a Docker daemon; .ci/run sets it up"]
fn registry_push_masks_credentials_a_registry_echoes_in_every_form() {
    for status in [401, 403, 500] {
        let port = echoing_registry(status);
        let test = fixture("bdtest-echo", &[(format!("127.0.0.1:{port}"), "REG")]);
        for password in PASSWORDS {
            let env = [("REG_USER", USER), ("REG_PASSWORD", password)];
            let (code, stdout, stderr) = run(
                &test,
                &[
                    "push",
                    "--attempts",
                    "2",
                    "--timeout",
                    "5",
                    "--report",
                    "push.json",
                ],
                &env,
            );
            assert_eq!(code, 1, "{stdout}{stderr}");
            let report = test.read("push.json");
            let all = format!("{stdout}{stderr}{report}{}", files_text(&test));
            assert_eq!(leaks(&all, password), None, "{status}: {all}");
            if status == 500 {
                // The upload URL is shown without its `_state` query.
                assert!(stdout.contains("/blobs/uploads/u1,"), "{stdout}");
                assert!(stdout.contains("rejected pusher:***"), "{stdout}");
            }
        }
    }
}

/// A registry that answers the ping and the tag list, and never answers
/// the requests `hangs` picks.
fn silent_registry(hangs: Picks) -> u16 {
    serve(move |request| {
        if hangs(&request.method, &request.path) {
            return Reply::Hang;
        }
        let json = |body: String| {
            Reply::Answer(
                200,
                vec![("Content-Type".into(), "application/json".into())],
                body.into_bytes(),
            )
        };
        if request.path.ends_with("/tags/list") {
            let name = request
                .path
                .trim_start_matches("/v2/")
                .trim_end_matches("/tags/list");
            return json(format!(
                "{{\"name\":\"{name}\",\"tags\":[\"base-python3.11-bookworm\",\"devel-python3.11-bookworm\",\"1.3.0-python3.11-bookworm-runtime\"]}}"
            ));
        }
        // Every tag is one image without labels, for `status` to judge.
        if request.path.contains("/blobs/") {
            return json(SILENT_CONFIG.into());
        }
        if request.path.contains("/manifests/") {
            return Reply::Answer(
                200,
                vec![(
                    "Content-Type".into(),
                    "application/vnd.docker.distribution.manifest.v2+json".into(),
                )],
                silent_manifest().into_bytes(),
            );
        }
        json("{}".into())
    })
}

/// The config of the image [`silent_registry`] holds under every tag.
const SILENT_CONFIG: &str =
    r#"{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":[]}}"#;

/// Its manifest.
fn silent_manifest() -> String {
    use sha2::Digest as _;
    use std::fmt::Write as _;
    let mut digest = String::new();
    for byte in sha2::Sha256::digest(SILENT_CONFIG.as_bytes()) {
        let _ = write!(digest, "{byte:02x}");
    }
    format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{{"mediaType":"application/vnd.docker.container.image.v1+json","size":{},"digest":"sha256:{digest}"}},"layers":[]}}"#,
        SILENT_CONFIG.len()
    )
}

/// The bug: a registry that took the connection and never answered kept
/// the run waiting until killed. Each kind of request `status` makes.
#[test]
fn status_ends_when_a_registry_never_answers_each_kind_of_request() {
    let kinds: [(&str, Picks); 3] = [
        ("the ping", |_, path| path == "/v2/"),
        ("the tag list", |_, path| path.ends_with("/tags/list")),
        ("a manifest", |_, path| path.contains("/manifests/")),
    ];
    for (kind, hangs) in kinds {
        let port = silent_registry(hangs);
        let test = fixture("bdtest-silent", &[(format!("127.0.0.1:{port}"), "REG")]);
        let env = [("REG_USER", USER), ("REG_PASSWORD", "pw")];
        let started = Instant::now();
        let (code, stdout, stderr) = run(&test, &["status", "--timeout", "1"], &env);
        assert_eq!(code, 1, "{kind}: {stdout}{stderr}");
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{kind}: {:?}",
            started.elapsed()
        );
        assert!(
            stdout.contains(&format!("`127.0.0.1:{port}` did not answer within 1 s")),
            "{kind}: {stdout}"
        );
    }
}

/// `status` waiting on a registry that never answers exits 130 on a
/// signal, at once: it writes nothing to clean up.
#[test]
fn status_waiting_on_a_silent_registry_exits_130_on_a_signal() {
    let port = silent_registry(|_, _| true);
    let test = fixture(
        "bdtest-silent-signal",
        &[(format!("127.0.0.1:{port}"), "REG")],
    );
    for signal in [rustix::process::Signal::TERM, rustix::process::Signal::INT] {
        let run = crate::generate::Running::start(
            &test,
            &["status", "--timeout", "60"],
            &[("REG_USER", USER), ("REG_PASSWORD", "pw")],
        );
        std::thread::sleep(Duration::from_millis(300));
        let started = Instant::now();
        let (code, stderr) = crate::generate::signal_once_handled(run, signal);
        assert_eq!(code, Some(130), "{signal:?}: {stderr}");
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}

/// The same for `push`, through a proxy in front of a real registry that
/// never answers one kind of request: the credential check's ping and
/// upload, the daemon's blob check and manifest upload, the verification.
#[test]
#[ignore = "needs a Docker daemon and docker-registry; .ci/run sets them up"]
fn registry_push_ends_when_the_registry_never_answers_each_kind_of_request() {
    let package = "bdtest-silent-push";
    cleanup(package);
    let password = "silent-pass";
    let server = registry(password);
    let built = fixture(package, &[]);
    let (code, stdout, stderr) = run(&built, &["build"], &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let kinds: [(&str, Picks); 5] = [
        ("the ping", |method, path| method == "GET" && path == "/v2/"),
        ("the upload of the check", |method, path| {
            method == "POST" && path.contains("/blobs/uploads/")
        }),
        ("a blob check", |method, path| {
            method == "HEAD" && path.contains("/blobs/")
        }),
        ("the manifest upload", |method, path| {
            method == "PUT" && path.contains("/manifests/")
        }),
        ("the verification", |method, path| {
            method == "HEAD" && path.contains("/manifests/")
        }),
    ];
    for (kind, hangs) in kinds {
        let proxy = hanging_proxy(server.port, hangs);
        let host = format!("127.0.0.1:{proxy}");
        let test = fixture(package, &[(host.clone(), "REG")]);
        let env = [("REG_USER", USER), ("REG_PASSWORD", password)];
        let started = Instant::now();
        let (code, stdout, stderr) = run(
            &test,
            &[
                "push",
                "--timeout",
                "2",
                "--attempts",
                "2",
                "--target",
                &format!("{package}:base-python3.11-bookworm"),
                "--report",
                "push.json",
            ],
            &env,
        );
        assert_eq!(code, 1, "{kind}: {stdout}{stderr}");
        assert!(
            started.elapsed() < Duration::from_secs(40),
            "{kind}: {:?}",
            started.elapsed()
        );
        // Asked by this tool, the registry is silent; asked by the daemon,
        // the daemon is, and both are named as what to check.
        assert!(
            (stdout.contains("did not answer") && stdout.contains("within 2 s"))
                || (stdout.contains("stalled pushing to")
                    && stdout.contains("no progress for 2 s")),
            "{kind}: {stdout}"
        );
        let report: serde_json::Value = serde_json::from_str(&test.read("push.json")).unwrap();
        assert_eq!(report["targets"][0]["status"], "failed", "{kind}: {report}");
    }
    cleanup(package);
}

#[test]
fn the_test_base64_helpers_agree() {
    for text in ["", "a", "ab", "abc", "pusher:pa\"ss"] {
        assert_eq!(base64_decode(&base64(text)), text.as_bytes());
    }
}

/// The bug: `--log-dir FILE` failed each build with "File exists".
#[test]
fn build_with_a_log_dir_that_is_a_file_says_not_a_directory() {
    let test = crate::test::Test::fixture("build").file("logs", "a file\n");
    let (code, stdout, stderr) = run(&test, &["build", "--log-dir", "logs"], &[]);
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(
        stderr.contains("`logs` is not a directory"),
        "{stdout}{stderr}"
    );
    assert!(!stderr.contains("File exists"), "{stderr}");
    assert_eq!(test.read("logs"), "a file\n");
}

/// The bug: `build --dry-run` on a fresh copy without `generated/`
/// reported the base targets as failed and exited 1.
#[test]
#[ignore = "needs a Docker daemon; .ci/run sets it up"]
fn docker_build_dry_run_on_a_fresh_copy_fails_nothing() {
    let test = fixture("bdtest-fresh-dry", &[]);
    assert!(!test.path().join("generated").exists());
    let (code, stdout, stderr) = run(&test, &["build", "--dry-run", "--report", "dry.json"], &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let report: serde_json::Value = serde_json::from_str(&test.read("dry.json")).unwrap();
    let statuses: Vec<&str> = report["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["would-build"; 3], "{report}");
    assert!(
        !test.path().join("generated").exists(),
        "a dry run writes nothing"
    );
}

/// A Docker daemon (Engine API on a Unix socket at `path`) that has the base image, not the
/// target, and dies in the middle of the first build's answer.
fn dying_daemon(path: &std::path::Path) {
    fake_daemon(path, Reply::Cut);
}

/// A JSON answer of a fake daemon.
fn json(status: u16, body: &str) -> Reply {
    Reply::Answer(
        status,
        vec![("Content-Type".into(), "application/json".into())],
        body.as_bytes().to_vec(),
    )
}

/// What every fake daemon answers: `_ping` and `version` (API 1.41).
fn handshake(path: &str) -> Option<Reply> {
    if path.ends_with("/_ping") {
        return Some(Reply::Answer(200, Vec::new(), b"OK".to_vec()));
    }
    path.ends_with("/version")
        .then(|| json(200, r#"{"ApiVersion":"1.41","Version":"20.10.0"}"#))
}

/// A Docker daemon that has the base image, not the target, and answers a
/// build with its first line, then `end` of the answer so far.
fn fake_daemon(path: &std::path::Path, end: fn(Vec<u8>) -> Reply) {
    serve_unix(path, move |request| {
        let path = request.path.split('?').next().unwrap_or_default();
        if let Some(reply) = handshake(path) {
            return reply;
        }
        if path.contains("/images/debian:bookworm-slim/json") {
            return json(200, r#"{"Id":"sha256:0123","RepoDigests":[]}"#);
        }
        if path.contains("/images/") {
            return json(404, r#"{"message":"No such image"}"#);
        }
        if path.ends_with("/build") {
            let chunk = r#"{"stream":"Step 1/3 : FROM debian:bookworm-slim\n"}"#;
            return end(
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{chunk}\r\n",
                    chunk.len()
                )
                .into_bytes(),
            );
        }
        json(404, r#"{"message":"not here"}"#)
    });
}

/// The bug: a daemon that died mid-build gave "error reading a body from
/// connection", with no word of the daemon.
#[test]
fn build_names_the_docker_daemon_that_closes_the_connection_mid_build() {
    let test = fixture("bdtest-dying", &[]);
    let sockets = tempfile::tempdir().unwrap();
    let socket = sockets.path().join("docker.sock");
    dying_daemon(&socket);
    let host = format!("unix://{}", socket.display());
    let (code, stdout, stderr) = run(
        &test,
        &["build", "--target", "bdtest-dying:base-python3.11-bookworm"],
        &[("DOCKER_HOST", host.as_str())],
    );
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!(
            "the Docker daemon at {host} closed the connection: is it running?"
        )),
        "{stdout}{stderr}"
    );
}

/// The bug: a log was written only when its build ended, and a new run
/// truncated the previous log first: killed (SIGKILL) mid-build, a run
/// left an empty log where a good one was.
#[test]
fn build_killed_mid_way_leaves_the_previous_log_whole_after_streaming_its_own() {
    let test = fixture("bdtest-kill", &[]);
    let sockets = tempfile::tempdir().unwrap();
    let stalling = sockets.path().join("stalling.sock");
    fake_daemon(&stalling, Reply::Stall);
    let logs = test.path().join(".bentoml-docker/logs");
    let log = logs.join("bdtest-kill_base-python3.11-bookworm.log");
    std::fs::create_dir_all(&logs).unwrap();
    std::fs::write(&log, "the previous run's whole log\n").unwrap();
    let mut child = test
        .command(&["build", "--target", "bdtest-kill:base-python3.11-bookworm"])
        .env("DOCKER_HOST", format!("unix://{}", stalling.display()))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let partial = || {
        std::fs::read_dir(&logs)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.to_string_lossy().ends_with(".partial"))
    };
    // Streamed: the build's first line is on disk while the build runs.
    let started = Instant::now();
    let streaming = loop {
        if let Some(path) = partial()
            && std::fs::read_to_string(&path)
                .unwrap()
                .contains("Step 1/3 : FROM debian:bookworm-slim")
        {
            break path;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the build's first line never reached the disk"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "the previous run's whole log\n"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "the previous run's whole log\n",
        "SIGKILL left the previous log whole"
    );
    // The next run replaces the log when it ends, and removes the partial
    // log of the killed one.
    let dying = sockets.path().join("dying.sock");
    dying_daemon(&dying);
    let (code, stdout, stderr) = run(
        &test,
        &["build", "--target", "bdtest-kill:base-python3.11-bookworm"],
        &[("DOCKER_HOST", &format!("unix://{}", dying.display()))],
    );
    assert_eq!(code, 1, "{stdout}{stderr}");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("closed the connection"), "{text}");
    assert!(!streaming.exists());
    assert_eq!(partial(), None);
}

/// The bug: Ctrl-C after a target had reached the registry labelled it
/// `skipped: interrupted`. Here the registry takes the push and never
/// answers the verification; Ctrl-C then.
#[test]
#[ignore = "needs a Docker daemon and docker-registry; .ci/run sets them up"]
fn registry_an_interrupted_push_labels_what_the_registry_took_pushed() {
    let package = "bdtest-int-push";
    cleanup(package);
    let password = "interrupted-pass";
    let server = registry(password);
    let built = fixture(package, &[]);
    let (code, stdout, stderr) = run(&built, &["build"], &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let proxy = hanging_proxy(server.port, |method, path| {
        method == "HEAD" && path.contains("/manifests/")
    });
    let test = fixture(package, &[(format!("127.0.0.1:{proxy}"), "REG")])
        .env("REG_USER", USER)
        .env("REG_PASSWORD", password);
    let target = format!("{package}:base-python3.11-bookworm");
    let child = test.spawn(&[
        "push",
        "--target",
        &target,
        "--timeout",
        "60",
        "--report",
        "push.json",
    ]);
    // Pushed: the registry holds the tag (asked directly, not through the proxy).
    let started = Instant::now();
    while crate::registry::tags(server.port, password, &format!("bdtest/{package}")).is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the push never arrived"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_millis(500));
    std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(130), "{stdout}");
    let report: serde_json::Value = serde_json::from_str(&test.read("push.json")).unwrap();
    let push = &report["targets"][0];
    assert_eq!(push["status"], "pushed", "{report}");
    assert!(
        push["digest"]
            .as_str()
            .is_some_and(|d| d.starts_with("sha256:")),
        "{report}"
    );
    assert!(
        stdout.contains("1 pushed") && stdout.contains("(interrupted)"),
        "{stdout}"
    );
    cleanup(package);
}

/// A registry whose token server answers `status` to every request, and
/// how many requests that token server had.
fn registry_with_failing_token_server(
    status: u16,
) -> (u16, u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let asked = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = std::sync::Arc::clone(&asked);
    let token = serve(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
        Reply::Answer(status, Vec::new(), b"busy".to_vec())
    });
    let registry = serve(move |_| {
        Reply::Answer(
            401,
            vec![(
                "WWW-Authenticate".into(),
                format!("Bearer realm=\"http://127.0.0.1:{token}/token\",service=\"fake\""),
            )],
            b"{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":\"log in\"}]}".to_vec(),
        )
    });
    (registry, token, asked)
}

/// The bug: a token server answering 503 or 429 was reported as a wrong
/// password (`authentication ... failed (401)`).
#[test]
fn status_says_a_failing_token_server_failed_rather_than_the_password_was_wrong() {
    for status in [503, 429] {
        let (port, token, _) = registry_with_failing_token_server(status);
        let test = fixture("bdtest-token", &[(format!("127.0.0.1:{port}"), "REG")]);
        let env = [("REG_USER", USER), ("REG_PASSWORD", "right-password")];
        let (code, stdout, stderr) = run(&test, &["status", "--timeout", "5"], &env);
        assert_eq!(code, 1, "{stdout}{stderr}");
        let all = format!("{stdout}{stderr}");
        assert!(
            all.contains(&format!(
                "the token server at http://127.0.0.1:{token}/token failed ({status})"
            )),
            "{all}"
        );
        assert!(!all.contains("authentication to"), "{all}");
    }
}

/// A failing token server is a passing fault: the credential check of
/// `push` retries it, and says what failed.
#[test]
#[ignore = "needs a Docker daemon; .ci/run sets it up"]
fn registry_push_retries_a_failing_token_server_and_names_it() {
    let (port, token, asked) = registry_with_failing_token_server(503);
    let test = fixture("bdtest-token", &[(format!("127.0.0.1:{port}"), "REG")]);
    let env = [("REG_USER", USER), ("REG_PASSWORD", "right-password")];
    let (code, stdout, stderr) = run(
        &test,
        &[
            "push",
            "--attempts",
            "3",
            "--timeout",
            "5",
            "--report",
            "push.json",
        ],
        &env,
    );
    assert_eq!(code, 1, "{stdout}{stderr}");
    let all = format!("{stdout}{stderr}");
    assert!(
        all.contains(&format!(
            "the token server at http://127.0.0.1:{token}/token failed (503) after 3 attempts"
        )),
        "{all}"
    );
    assert!(!all.contains("authentication to"), "{all}");
    // Each attempt asks the token server (the client, then the diagnosis).
    assert!(
        asked.load(std::sync::atomic::Ordering::SeqCst) >= 3,
        "retried"
    );
    let report: serde_json::Value = serde_json::from_str(&test.read("push.json")).unwrap();
    assert!(
        report["targets"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["attempts"] == 3),
        "{report}"
    );
}

/// The bug: `status` waited bollard's own 120 s for a daemon that does not
/// answer, then said `no local image`.
#[test]
fn status_bounds_a_stalled_daemon_by_the_timeout_and_says_so() {
    let port = silent_registry(|_, _| false);
    let test = fixture("bdtest-stalled", &[(format!("127.0.0.1:{port}"), "REG")]);
    let sockets = tempfile::tempdir().unwrap();
    let socket = sockets.path().join("stalled.sock");
    serve_unix(&socket, |request| {
        let path = request.path.split('?').next().unwrap_or_default();
        if let Some(reply) = handshake(path) {
            return reply;
        }
        Reply::Hang
    });
    let host = format!("unix://{}", socket.display());
    let started = Instant::now();
    let (code, stdout, stderr) = run(
        &test,
        &["status", "--timeout", "2", "--report", "status.json"],
        &[
            ("REG_USER", USER),
            ("REG_PASSWORD", "pw-stalled"),
            ("DOCKER_HOST", host.as_str()),
        ],
    );
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    assert!(
        stdout.contains(&format!(
            "the Docker daemon at {host} did not answer within 2 s"
        )),
        "{stdout}"
    );
    assert!(!stdout.contains("no local image"), "{stdout}");
}

/// The bug: a daemon that stalls mid-push was blamed on the registry ("the
/// registry did not answer the daemon within 3 s").
#[test]
#[ignore = "needs docker-registry; .ci/run sets it up"]
fn registry_a_daemon_stalled_mid_push_is_named_with_what_to_check() {
    let password = "stalled-daemon-pw";
    let server = registry(password);
    let host = format!("127.0.0.1:{}", server.port);
    let test = fixture("bdtest-stallpush", &[(host.clone(), "REG")]);
    let sockets = tempfile::tempdir().unwrap();
    let socket = sockets.path().join("stalling.sock");
    serve_unix(&socket, |request| {
        let path = request.path.split('?').next().unwrap_or_default();
        if let Some(reply) = handshake(path) {
            return reply;
        }
        if path.ends_with("/json") {
            return json(200, r#"{"Id":"sha256:0123","RepoDigests":[]}"#);
        }
        if path.ends_with("/tag") {
            return Reply::Answer(201, Vec::new(), Vec::new());
        }
        // The push: its first progress line, then silence.
        let chunk = r#"{"status":"The push refers to repository"}"#;
        Reply::Stall(
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{chunk}\r\n",
                chunk.len()
            )
            .into_bytes(),
        )
    });
    let daemon = format!("unix://{}", socket.display());
    let (code, stdout, stderr) = run(
        &test,
        &[
            "push",
            "--attempts",
            "1",
            "--timeout",
            "2",
            "--target",
            "bdtest-stallpush:base-python3.11-bookworm",
        ],
        &[
            ("REG_USER", USER),
            ("REG_PASSWORD", password),
            ("DOCKER_HOST", daemon.as_str()),
        ],
    );
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!(
            "the Docker daemon at {daemon} stalled pushing to `{host}`"
        )),
        "{stdout}"
    );
    assert!(stdout.contains("`docker info`"), "{stdout}");
    assert!(!stdout.contains("the registry did not answer"), "{stdout}");
}

/// The bug: nothing was said while the credentials were checked, so a
/// registry that made the check wait left the terminal silent.
#[test]
fn push_says_it_checks_credentials_before_the_check_waits() {
    let port = silent_registry(|method, path| method == "POST" && path.contains("/uploads/"));
    let host = format!("127.0.0.1:{port}");
    let test = fixture("bdtest-checking", &[(host.clone(), "REG")]);
    let sockets = tempfile::tempdir().unwrap();
    let socket = sockets.path().join("daemon.sock");
    serve_unix(&socket, |request| {
        let path = request.path.split('?').next().unwrap_or_default();
        if path.ends_with("/_ping") {
            return Reply::Answer(200, Vec::new(), b"OK".to_vec());
        }
        Reply::Answer(
            200,
            vec![("Content-Type".into(), "application/json".into())],
            br#"{"ApiVersion":"1.41","Version":"20.10.0","Id":"sha256:0123","RepoDigests":[]}"#
                .to_vec(),
        )
    });
    let daemon = format!("unix://{}", socket.display());
    let (code, stdout, stderr) = run(
        &test,
        &[
            "push",
            "--attempts",
            "1",
            "--timeout",
            "1",
            "--target",
            "bdtest-checking:base-python3.11-bookworm",
        ],
        &[
            ("REG_USER", USER),
            ("REG_PASSWORD", "checking-pw"),
            ("DOCKER_HOST", daemon.as_str()),
        ],
    );
    assert_eq!(code, 1, "{stdout}{stderr}");
    let checking = stderr
        .find(&format!("checking credentials for {host}"))
        .unwrap_or_else(|| panic!("{stderr}"));
    let failed = stderr
        .find("failed the credential check")
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(checking < failed, "{stderr}");
    assert!(!stdout.contains("checking credentials"), "{stdout}");
}

/// The bug: with `http_proxy` pointing at a port where nothing listens,
/// the registry was said to refuse the connection.
#[test]
fn status_names_the_proxy_that_refuses_rather_than_the_registry() {
    let port = silent_registry(|_, _| false);
    let host = format!("127.0.0.1:{port}");
    let test = fixture("bdtest-proxy", &[(host.clone(), "REG")]);
    let dead = crate::registry::free_port();
    let (code, stdout, stderr) = run(
        &test,
        &["status", "--timeout", "5"],
        &[
            ("REG_USER", USER),
            ("REG_PASSWORD", "proxy-pw"),
            ("http_proxy", &format!("http://127.0.0.1:{dead}")),
            ("no_proxy", ""),
            ("NO_PROXY", ""),
        ],
    );
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!(
            "the proxy `http://127.0.0.1:{dead}` (from `http_proxy`) refused the connection on the way to `{host}`"
        )),
        "{stdout}"
    );
    assert!(
        !stdout.contains(&format!("`{host}` refused the connection")),
        "{stdout}"
    );
}
