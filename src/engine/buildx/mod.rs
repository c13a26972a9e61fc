//! BuildKit through `docker buildx bake`: the whole graph of stale targets
//! in one call, on the builder `--builder` names (the Docker daemon's own,
//! a remote `buildkitd`, a Kubernetes deployment) or the current one.
//! Images are inspected, pulled and tested through the Docker daemon the
//! docker CLI talks to (`DOCKER_HOST`), where bake loads what it builds.
//!
//! Bake runs with machine-readable progress (`--progress rawjson`, read by
//! [`progress`]) and a metadata file (each image's digests), both in a
//! private temporary directory removed when the build ends. Default
//! attestations are off (`BUILDX_NO_DEFAULT_ATTESTATIONS`): an image gets
//! provenance or an SBOM only when the manifest's `attest` asks.

mod progress;

use std::collections::HashMap;
use std::process::Stdio;

use futures_util::future::BoxFuture;
use tokio::io::AsyncReadExt;
use tokio::process::Command;

use super::docker::Docker;
use super::process::{StopOnDrop, own_group};
use super::{
    BuildOutput, BuildRequest, Built, Engine, Error, Graph, GraphBuilder, GraphOutput, Image,
    RunOutput,
};

/// How many of bake's closing lines a failure quotes.
const LAST_LINES: usize = 12;

/// What to install when `docker buildx` is missing.
const INSTALL: &str = "install the Docker CLI with its buildx plugin (Debian 13: `apt-get install docker-cli docker-buildx`; elsewhere docker-buildx-plugin from Docker's packages), or build without BuildKit: `--engine docker` or `--engine buildah`";

/// `docker buildx bake`, with the Docker daemon for everything else.
#[derive(Debug, Clone)]
pub struct Buildx {
    docker: Docker,
    program: String,
    builder: Option<String>,
    /// Bake runs that were cut off, stopping.
    runs: super::Runs,
}

impl Buildx {
    /// Checks that the Docker daemon answers, that `docker buildx` runs,
    /// and that `builder` (when given) exists.
    ///
    /// # Errors
    /// When one of them is missing, saying what to install or create.
    pub async fn connect(builder: Option<&str>) -> Result<Self, Error> {
        let engine = Self {
            docker: Docker::connect().await?,
            program: std::env::var("DOCKER_CLI").unwrap_or_else(|_| "docker".into()),
            builder: builder.map(String::from),
            runs: super::Runs::default(),
        };
        let version = engine.output(&["buildx", "version"]).await?;
        if !version.status.success() {
            return Err(Error::Missing {
                what: format!(
                    "`{} buildx` does not run: {}",
                    engine.program,
                    last_line(&version.stderr)
                ),
                install: INSTALL.into(),
            });
        }
        if let Some(name) = &engine.builder {
            let inspect = engine.output(&["buildx", "inspect", name]).await?;
            if !inspect.status.success() {
                return Err(Error::Other(format!(
                    "no buildx builder `{name}`: {} (`docker buildx ls` lists them, `docker buildx create --name {name} ...` makes one)",
                    last_line(&inspect.stderr)
                )));
            }
        }
        Ok(engine)
    }

    async fn output(&self, args: &[&str]) -> Result<std::process::Output, Error> {
        Command::new(&self.program)
            .args(args)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output()
            .await
            .map_err(|e| Error::Missing {
                what: format!("cannot run `{}`: {e}", self.program),
                install: INSTALL.into(),
            })
    }

    /// `docker buildx bake` of `file` in `dir`, with its progress read.
    fn bake_command(&self, dir: &std::path::Path, push: bool) -> Command {
        let mut command = Command::new(&self.program);
        command.arg("buildx").arg("bake");
        if let Some(builder) = &self.builder {
            command.arg("--builder").arg(builder);
        }
        command
            .arg("--file")
            .arg(dir.join("docker-bake.json"))
            .args(["--progress", "rawjson", "--metadata-file"])
            .arg(dir.join("metadata.json"))
            // Loaded into the daemon the images are inspected and tested
            // in (the docker driver's own store; sent there by any other).
            .arg(if push { "--push" } else { "--load" })
            .env("BUILDX_NO_DEFAULT_ATTESTATIONS", "1")
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }
}

/// The last non-blank line of a program's output.
fn last_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .lines()
        .rev()
        .find(|line| !line.trim().is_empty())
        .unwrap_or("no output")
        .trim()
        .to_string()
}

/// The parts of bake's metadata file read, per target.
#[derive(serde::Deserialize)]
struct Metadata {
    #[serde(rename = "containerimage.digest")]
    digest: Option<String>,
    #[serde(rename = "containerimage.config.digest")]
    config: Option<String>,
}

fn read_metadata(path: &std::path::Path) -> Result<HashMap<String, Built>, Error> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Other(format!("bake wrote no metadata file: {e}")))?;
    let entries: HashMap<String, serde_json::Value> = serde_json::from_str(&text)
        .map_err(|e| Error::Other(format!("unexpected bake metadata: {e}")))?;
    Ok(entries
        .into_iter()
        .filter_map(|(name, value)| {
            let metadata: Metadata = serde_json::from_value(value).ok()?;
            Some((
                name,
                Built {
                    digest: metadata.digest,
                    config: metadata.config,
                },
            ))
        })
        .collect())
}

impl GraphBuilder for Buildx {
    fn build_graph<'a>(
        &'a self,
        graph: &'a Graph,
        output: &'a (dyn Fn(GraphOutput) + Send + Sync),
    ) -> BoxFuture<'a, Result<HashMap<String, Built>, Error>> {
        Box::pin(async move {
            let temporary = |e: std::io::Error| {
                Error::Other(format!("cannot write a temporary bake file: {e}"))
            };
            // Private (0700), removed when the build ends however it ends.
            let dir = tempfile::Builder::new()
                .prefix("bentoml-docker-bake-")
                .tempdir()
                .map_err(temporary)?;
            std::fs::write(dir.path().join("docker-bake.json"), &graph.file).map_err(temporary)?;
            let mut child = own_group(&mut self.bake_command(dir.path(), graph.push))
                .spawn()
                .map_err(|e| Error::Missing {
                    what: format!("cannot run `{}`: {e}", self.program),
                    install: INSTALL.into(),
                })?;
            // Read in tasks of their own, to their end, even once this
            // build is dropped: buildx stops with its pipes open.
            let (sender, mut chunks) = tokio::sync::mpsc::unbounded_channel();
            tokio::spawn(forward(child.stderr.take().expect("piped"), sender.clone()));
            tokio::spawn(forward(child.stdout.take().expect("piped"), sender));
            let mut running = StopOnDrop {
                child: Some(child),
                runs: self.runs.clone(),
            };
            let mut reader = progress::Reader::default();
            let mut tracker = progress::Tracker::new(&graph.targets);
            let mut text: Vec<String> = Vec::new();
            let mut said = |pieces: Vec<progress::Piece>, tracker: &mut progress::Tracker| {
                for piece in pieces {
                    match piece {
                        progress::Piece::Status(status) => {
                            tracker.on(status).into_iter().for_each(output);
                        }
                        progress::Piece::Text(line) => text.push(line),
                    }
                }
            };
            while let Some(chunk) = chunks.recv().await {
                said(reader.feed(&chunk), &mut tracker);
            }
            said(reader.finish(), &mut tracker);
            let status = running
                .wait()
                .await
                .map_err(|e| Error::Other(format!("docker buildx bake: {e}")))?;
            if !status.success() {
                let start = text.len().saturating_sub(LAST_LINES);
                let said = text[start..].join("\n");
                return Err(Error::Build(if said.is_empty() {
                    format!("docker buildx bake exited with {status}")
                } else {
                    said
                }));
            }
            let built = read_metadata(&dir.path().join("metadata.json"))?;
            // What the stream did not show finished, bake says was built.
            for (name, _) in &graph.targets {
                if !tracker.finished(name) {
                    output(GraphOutput::Finished(name.clone()));
                }
            }
            Ok(built)
        })
    }
}

/// Sends what a pipe gives until it ends.
async fn forward(
    mut pipe: impl tokio::io::AsyncRead + Unpin,
    chunks: tokio::sync::mpsc::UnboundedSender<Vec<u8>>,
) {
    let mut buffer = vec![0u8; 64 * 1024];
    while let Ok(n) = pipe.read(&mut buffer).await {
        if n == 0 {
            break;
        }
        let _ = chunks.send(buffer[..n].to_vec());
    }
}

impl Engine for Buildx {
    fn name(&self) -> &'static str {
        "bake"
    }

    fn inspect<'a>(&'a self, reference: &'a str) -> BoxFuture<'a, Result<Option<Image>, Error>> {
        self.docker.inspect(reference)
    }

    fn pull<'a>(&'a self, reference: &'a str) -> BoxFuture<'a, Result<(), Error>> {
        self.docker.pull(reference)
    }

    /// One image, as a graph of one target.
    fn build<'a>(
        &'a self,
        request: &'a BuildRequest,
        output: &'a (dyn Fn(BuildOutput) + Send + Sync),
    ) -> BoxFuture<'a, Result<String, Error>> {
        Box::pin(async move {
            let graph = single(request)?;
            let forward = |said: GraphOutput| {
                if let GraphOutput::Output(_, said) = said {
                    output(said);
                }
            };
            self.build_graph(&graph, &forward).await?;
            match self.docker.inspect(&request.tag).await? {
                Some(image) => Ok(image.id),
                None => Err(Error::Other(format!(
                    "bake built `{}`, but the daemon does not have it",
                    request.tag
                ))),
            }
        })
    }

    fn run<'a>(
        &'a self,
        image: &'a str,
        command: &'a [String],
    ) -> BoxFuture<'a, Result<RunOutput, Error>> {
        self.docker.run(image, command)
    }

    fn graph(&self) -> Option<&dyn GraphBuilder> {
        Some(self)
    }

    fn clean_up(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {
            self.runs.finish().await;
            self.docker.clean_up().await;
        })
    }
}

/// A bake file of the one target `request` builds, named `image`.
fn single(request: &BuildRequest) -> Result<Graph, Error> {
    let root = request.context.root();
    let context = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    let escape = crate::bake::escape;
    let pairs = |pairs: &[(String, String)]| -> serde_json::Map<String, serde_json::Value> {
        pairs
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(escape(v))))
            .collect()
    };
    let context = context
        .to_str()
        .ok_or_else(|| Error::Other(format!("context `{}` is not UTF-8", context.display())))?;
    let file = serde_json::json!({
        "target": {"image": {
            "context": escape(context),
            "dockerfile": escape(&request.dockerfile),
            "args": pairs(&request.build_args),
            "labels": pairs(&request.labels),
            "tags": [escape(&request.tag)],
        }}
    });
    Ok(Graph {
        file: file.to_string(),
        targets: vec![("image".into(), None)],
        push: false,
    })
}
