//! A daemonless engine: `buildah` (CI runners, Kubernetes pods). It reads
//! the context directory itself, builds an image of several platforms as a
//! manifest list, and pushes with a private auth file. Its storage driver is passed when given
//! (`--storage-driver`, or `STORAGE_DRIVER`: `vfs` where nothing else
//! works); its isolation comes from `BUILDAH_ISOLATION` (`chroot` there).

use std::collections::HashMap;
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use futures_util::future::BoxFuture;

use super::process::{StopOnDrop, forward_lines, last_line, own_group, read_all, stop};
use super::{BuildOutput, BuildRequest, Engine, Error, Image, Pusher, RunOutput, parse_step};

/// `buildah`, run as a program.
#[derive(Debug, Clone)]
pub struct Buildah {
    program: String,
    global: Vec<String>,
    /// Runs in working containers, removed however they end.
    runs: super::Runs,
}

impl Buildah {
    /// Checks that `buildah` runs; `storage_driver` (else `STORAGE_DRIVER`)
    /// picks its storage.
    ///
    /// # Errors
    /// When it cannot be started.
    pub async fn connect(storage_driver: Option<&str>) -> Result<Self, Error> {
        let driver = storage_driver
            .map(String::from)
            .or_else(|| std::env::var("STORAGE_DRIVER").ok())
            .filter(|d| !d.is_empty());
        let engine = Self {
            program: std::env::var("BUILDAH").unwrap_or_else(|_| "buildah".into()),
            global: driver
                .map(|d| vec!["--storage-driver".to_string(), d])
                .unwrap_or_default(),
            runs: super::Runs::default(),
        };
        let output = Command::new(&engine.program)
            .args(&engine.global)
            .arg("version")
            .output()
            .await
            .map_err(|e| Error::Unavailable {
                engine: "buildah",
                message: e.to_string(),
            })?;
        if !output.status.success() {
            return Err(Error::Unavailable {
                engine: "buildah",
                message: String::from_utf8_lossy(&output.stderr).trim().to_string(),
            });
        }
        Ok(engine)
    }

    async fn output(&self, args: &[&str]) -> Result<std::process::Output, Error> {
        // In its own group too: a second Ctrl-C on the terminal must not
        // cut a clean-up's `buildah rm` short.
        own_group(&mut Command::new(&self.program))
            .args(&self.global)
            .args(args)
            .stdin(Stdio::null())
            // Dropped (a query cut off), it stops with the run. Commands
            // that run containers go through `run_in` and builds: they stop
            // buildah more gently.
            .kill_on_drop(true)
            .output()
            .await
            .map_err(|e| Error::Other(format!("cannot run {}: {e}", self.program)))
    }
}

/// The parts of `buildah inspect --type image` we read.
#[derive(serde::Deserialize)]
struct Inspect {
    #[serde(rename = "FromImageID", default)]
    id: String,
    #[serde(rename = "OCIv1", default)]
    oci: OciImage,
}

#[derive(serde::Deserialize, Default)]
struct OciImage {
    #[serde(default)]
    config: OciConfig,
}

#[derive(serde::Deserialize, Default)]
struct OciConfig {
    #[serde(rename = "Labels", default)]
    labels: Option<HashMap<String, String>>,
}

impl Engine for Buildah {
    fn name(&self) -> &'static str {
        "buildah"
    }

    fn pull<'a>(&'a self, reference: &'a str) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move {
            let reference = crate::registry::reference::with_tag(reference);
            let output = self.output(&["pull", "--quiet", &reference]).await?;
            if output.status.success() {
                return Ok(());
            }
            Err(Error::Other(last_line(
                &output.stderr,
                "buildah pull failed",
            )))
        })
    }

    fn inspect<'a>(&'a self, reference: &'a str) -> BoxFuture<'a, Result<Option<Image>, Error>> {
        Box::pin(async move {
            let output = self
                .output(&["inspect", "--type", "image", reference])
                .await?;
            if !output.status.success() {
                return Ok(None);
            }
            let inspect: Inspect = serde_json::from_slice(&output.stdout)
                .map_err(|e| Error::Other(format!("unexpected `buildah inspect` output: {e}")))?;
            let id = if inspect.id.starts_with("sha256:") {
                inspect.id
            } else {
                format!("sha256:{}", inspect.id)
            };
            Ok(Some(Image {
                id,
                labels: inspect.oci.config.labels.unwrap_or_default(),
                repo_digests: Vec::new(),
            }))
        })
    }

    fn build<'a>(
        &'a self,
        request: &'a BuildRequest,
        output: &'a (dyn Fn(BuildOutput) + Send + Sync),
    ) -> BoxFuture<'a, Result<String, Error>> {
        Box::pin(async move {
            let iidfile = tempfile::NamedTempFile::new()
                .map_err(|e| Error::Other(format!("cannot create a temporary file: {e}")))?;
            let several = request.platforms.len() > 1;
            if several {
                // `--manifest` adds to a list that exists: a stale one (or
                // a single-platform image of the name) goes first.
                let _ = self.output(&["manifest", "rm", &request.tag]).await;
                let _ = self.output(&["rmi", &request.tag]).await;
            }
            let mut command = Command::new(&self.program);
            command
                .args(&self.global)
                .arg("bud")
                .arg("--pull=false")
                .arg("--file")
                .arg(request.context.root().join(&request.dockerfile));
            if several {
                // One image per platform, under one manifest list.
                command.arg("--manifest").arg(&request.tag);
            } else {
                command.arg("--iidfile").arg(iidfile.path());
                command.arg("--tag").arg(&request.tag);
            }
            if !request.platforms.is_empty() {
                command.arg("--platform").arg(request.platforms.join(","));
            }
            for (name, value) in &request.build_args {
                command.arg("--build-arg").arg(format!("{name}={value}"));
            }
            for (name, value) in &request.labels {
                command.arg("--label").arg(format!("{name}={value}"));
            }
            // Also the time stamp of every file of the new layers: the
            // same inputs give the same image.
            if let Some(time) = request.timestamp {
                command.arg("--timestamp").arg(time.as_second().to_string());
            }
            if let Some(network) = &request.network {
                command.arg("--network").arg(network);
            }
            command
                .arg(request.context.root())
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            let mut child = own_group(&mut command)
                .spawn()
                .map_err(|e| Error::Other(format!("cannot run {}: {e}", self.program)))?;
            // Read in tasks of their own, which outlive a cut-off: buildah
            // stops with its pipes open (a write to a closed one could kill
            // it before it has stopped its RUN containers).
            let (sender, mut lines) = tokio::sync::mpsc::unbounded_channel();
            let stdout = BufReader::new(child.stdout.take().expect("piped")).split(b'\n');
            let stderr = BufReader::new(child.stderr.take().expect("piped")).split(b'\n');
            tokio::spawn(forward_lines(stdout, sender.clone()));
            tokio::spawn(forward_lines(stderr, sender));
            // Dropped (a timeout, Ctrl-C), it stops buildah in a task of its own.
            let mut running = StopOnDrop {
                child: Some(child),
                runs: self.runs.clone(),
            };
            let mut last = String::new();
            while let Some(line) = lines.recv().await {
                if let Some(step) = parse_step(&line) {
                    output(step);
                }
                last.clone_from(&line);
                output(BuildOutput::Line(line));
            }
            let status = running.wait().await;
            let status = status.map_err(|e| Error::Other(format!("buildah: {e}")))?;
            if !status.success() {
                return Err(Error::Build(if last.is_empty() {
                    format!("buildah exited with {status}")
                } else {
                    last
                }));
            }
            if several {
                // The list's image for this machine's platform, as
                // `inspect` sees it.
                return match self.inspect(&request.tag).await? {
                    Some(image) => Ok(image.id),
                    None => Err(Error::Other(format!(
                        "buildah built `{}` but does not have it",
                        request.tag
                    ))),
                };
            }
            let id = std::fs::read_to_string(iidfile.path())
                .map_err(|e| Error::Other(format!("buildah wrote no image ID: {e}")))?;
            Ok(id.trim().to_string())
        })
    }

    fn run<'a>(
        &'a self,
        image: &'a str,
        platform: Option<&'a str>,
        command: &'a [String],
    ) -> BoxFuture<'a, Result<RunOutput, Error>> {
        let engine = self.clone();
        let image = image.to_string();
        let platform = platform.map(String::from);
        let command = command.to_vec();
        Box::pin(self.runs.run(move |cut_off| async move {
            let name = super::container_name();
            let mut args = vec!["from", "--pull=never", "--name", &name];
            if let Some(platform) = &platform {
                args.extend(["--platform", platform]);
            }
            args.push(&image);
            let from = engine.output(&args).await;
            let result = match from {
                Ok(_) if cut_off.is_cancelled() => Err(Error::Other("cut off".into())),
                Ok(from) if from.status.success() => engine.run_in(&name, &command, &cut_off).await,
                Ok(from) => Err(Error::Other(
                    String::from_utf8_lossy(&from.stderr).trim().to_string(),
                )),
                Err(e) => Err(e),
            };
            let _ = engine.output(&["rm", &name]).await;
            result
        }))
    }

    fn clean_up(&self) -> BoxFuture<'_, ()> {
        Box::pin(self.runs.finish())
    }

    /// Credentials go in an auth file of the request's own, never in an
    /// argument; a loopback registry is spoken to over plain HTTP, as
    /// Docker does.
    fn fetch_as<'a>(
        &'a self,
        remote: &'a str,
        local: &'a str,
        credentials: Option<&'a crate::registry::Credentials>,
    ) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move {
            let host = crate::registry::reference::host(remote);
            let auth = auth_file(host, credentials)?;
            let mut args: Vec<&str> = vec!["pull", "--quiet"];
            registry_args(&mut args, host, auth.as_ref());
            args.push(remote);
            let pulled = self.output(&args).await?;
            drop(auth);
            if !pulled.status.success() {
                return Err(Error::Other(last_line(
                    &pulled.stderr,
                    "buildah pull failed",
                )));
            }
            let tagged = self.output(&["tag", remote, local]).await?;
            if tagged.status.success() {
                Ok(())
            } else {
                Err(Error::Other(
                    String::from_utf8_lossy(&tagged.stderr).trim().to_string(),
                ))
            }
        })
    }
}

/// buildah sends its images itself: credentials go in a private auth file
/// of the push's own (0600 in a 0700 directory, removed after it), never
/// in an argument. A manifest list (an image of several platforms) is
/// pushed whole, as one index.
impl Pusher for Buildah {
    fn push<'a>(
        &'a self,
        local: &'a str,
        repository: &'a str,
        tag: &'a str,
        credentials: Option<&'a crate::registry::Credentials>,
    ) -> BoxFuture<'a, Result<String, Error>> {
        Box::pin(async move {
            let reference = format!(
                "docker://{}",
                crate::registry::reference::tagged(repository, tag)
            );
            let host = crate::registry::reference::host(repository);
            let auth = auth_file(host, credentials)?;
            let digest = tempfile::NamedTempFile::new()
                .map_err(|e| Error::Other(format!("cannot create a temporary file: {e}")))?;
            let digest_path = digest.path().to_str().unwrap_or_default().to_string();
            let list = self
                .output(&["inspect", "--type", "manifest", local])
                .await?
                .status
                .success();
            let mut args: Vec<&str> = if list {
                vec!["manifest", "push", "--all", "--quiet"]
            } else {
                vec!["push", "--quiet"]
            };
            args.extend(["--digestfile", &digest_path]);
            registry_args(&mut args, host, auth.as_ref());
            args.extend([local, &reference]);
            let pushed = self.output(&args).await?;
            drop(auth);
            if !pushed.status.success() {
                let message = last_line(&pushed.stderr, "buildah push failed");
                return Err(Error::Push {
                    transient: crate::registry::classify::transient(&message),
                    message,
                });
            }
            let digest = std::fs::read_to_string(digest.path()).unwrap_or_default();
            let digest = digest.trim();
            if digest.starts_with("sha256:") {
                Ok(digest.to_string())
            } else {
                Err(Error::Push {
                    message: "buildah pushed without saying the digest".into(),
                    transient: false,
                })
            }
        })
    }
}

/// A private auth file with `credentials` for `host`, when there are any.
fn auth_file(
    host: &str,
    credentials: Option<&crate::registry::Credentials>,
) -> Result<Option<crate::registry::AuthFile>, Error> {
    credentials
        .map(|c| crate::registry::AuthFile::new(host, c))
        .transpose()
        .map_err(|e| Error::Other(format!("cannot write an auth file: {e}")))
}

/// The arguments of a request to the registry at `host`: its auth file,
/// and plain HTTP for a registry on the loopback (as Docker allows).
fn registry_args<'a>(
    args: &mut Vec<&'a str>,
    host: &str,
    auth: Option<&'a crate::registry::AuthFile>,
) {
    if let Some(auth) = auth {
        args.extend(["--authfile", auth.path().to_str().unwrap_or_default()]);
    }
    if crate::registry::reference::is_loopback(host) {
        args.push("--tls-verify=false");
    }
}

impl Buildah {
    /// `buildah run` in the working container `name`, until it ends or is
    /// cut off: then it is stopped with everything it started ([`stop`]).
    async fn run_in(
        &self,
        name: &str,
        command: &[String],
        cut_off: &tokio_util::sync::CancellationToken,
    ) -> Result<RunOutput, Error> {
        let mut child = own_group(&mut Command::new(&self.program))
            .args(&self.global)
            .args(["run", "--network", "none", name, "--"])
            .args(command)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| Error::Other(format!("cannot run {}: {e}", self.program)))?;
        // Read in tasks of their own, so that the pipes stay open while
        // buildah stops: a write to a closed pipe could kill it first.
        let stdout = tokio::spawn(read_all(child.stdout.take().expect("piped")));
        let stderr = tokio::spawn(read_all(child.stderr.take().expect("piped")));
        let status = tokio::select! {
            biased;
            () = cut_off.cancelled() => None,
            status = child.wait() => Some(status),
        };
        let Some(status) = status else {
            stop(&mut child).await;
            stdout.abort();
            stderr.abort();
            return Err(Error::Other("cut off".into()));
        };
        let status = status.map_err(|e| Error::Other(format!("buildah: {e}")))?;
        let mut output = stdout.await.unwrap_or_default();
        output.push_str(&stderr.await.unwrap_or_default());
        Ok(RunOutput {
            code: i64::from(status.code().unwrap_or(-1)),
            output,
        })
    }
}
