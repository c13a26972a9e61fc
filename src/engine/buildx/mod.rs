//! BuildKit through `docker buildx bake`: the whole graph of stale targets
//! in one call, on the builder `--builder` names (the Docker daemon's own,
//! a remote `buildkitd`, a Kubernetes deployment) or the current one.
//! Images are inspected, pulled and tested through the Docker daemon the
//! docker CLI talks to (`DOCKER_HOST`), where bake loads what it builds.
//!
//! Bake runs with machine-readable progress (`--progress rawjson`, read by
//! `progress`) and a metadata file (each image's digests), both in a
//! private temporary directory removed when the build ends. Default
//! attestations are off (`BUILDX_NO_DEFAULT_ATTESTATIONS`): an image gets
//! provenance or an SBOM only when the manifest's `attest` asks.

mod progress;

mod config;

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use futures_util::future::BoxFuture;
use tokio::io::AsyncReadExt;
use tokio::process::Command;

use super::docker::Docker;
use super::process::{StopOnDrop, last_line, own_group};
use super::{
    BuildOutput, BuildRequest, Built, Engine, Error, Graph, GraphBuilder, GraphOutput, GraphTarget,
    Image, Pusher, RunOutput,
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
    /// What bake pushed in this run: `repository:tag` to manifest digest.
    pushed: Arc<Mutex<HashMap<String, String>>>,
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
            pushed: Arc::default(),
        };
        let version = engine.output(&["buildx", "version"]).await?;
        if !version.status.success() {
            return Err(Error::Missing {
                what: format!(
                    "`{} buildx` does not run: {}",
                    engine.program,
                    last_line(&version.stderr, "no output")
                ),
                install: INSTALL.into(),
            });
        }
        if let Some(name) = &engine.builder {
            let inspect = engine.output(&["buildx", "inspect", name]).await?;
            if !inspect.status.success() {
                return Err(Error::Other(format!(
                    "no buildx builder `{name}`: {} (`docker buildx ls` lists them, `docker buildx create --name {name} ...` makes one)",
                    last_line(&inspect.stderr, "no output")
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

    /// `docker buildx bake` of `dir`'s bake file, with its progress read;
    /// `config` is the private Docker configuration of a push.
    fn bake_command(&self, dir: &std::path::Path, config: Option<&std::path::Path>) -> Command {
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
            .env("BUILDX_NO_DEFAULT_ATTESTATIONS", "1")
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        match config {
            // Each target's `output` says where it goes.
            Some(config) => command.env("DOCKER_CONFIG", config),
            // Loaded into the daemon the images are inspected and tested
            // in (the docker driver's own store; sent there by any other).
            None => command.arg("--load"),
        };
        command
    }

    /// After a push, the image under its local name too, for its tests and
    /// dependents (when the builder's images land in the daemon: the
    /// docker driver; elsewhere there is nothing to name).
    async fn name_locally(&self, target: &GraphTarget) {
        let (repository, tag) = crate::registry::reference::split_tag(&target.local);
        if let Some(first) = target.tags.first() {
            let _ = self.docker.tag(first, repository, tag).await;
        }
    }

    /// What went where, for [`Pusher::push`]: every tag of `target` at
    /// the digest bake reported.
    fn record_pushed(&self, target: &GraphTarget, built: Option<&Built>) {
        if let Some(digest) = built.and_then(|b| b.digest.clone()) {
            let mut pushed = self
                .pushed
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for reference in &target.tags {
                pushed.insert(reference.clone(), digest.clone());
            }
        }
    }
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
            let config = match &graph.push {
                Some(credentials) => Some(
                    config::private(&dir.path().join("config"), credentials).map_err(temporary)?,
                ),
                None => None,
            };
            let mut child = own_group(&mut self.bake_command(dir.path(), config.as_deref()))
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
            let (text, tracker) = self.follow(graph, &mut chunks, output).await;
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
                    scrubbed(graph, &said)
                }));
            }
            let built = read_metadata(&dir.path().join("metadata.json"))?;
            for target in &graph.targets {
                // What the stream did not show finished, bake says was built.
                let unsaid = !tracker.finished(&target.name);
                if graph.push.is_some() {
                    if unsaid {
                        self.name_locally(target).await;
                    }
                    self.record_pushed(target, built.get(&target.name));
                }
                if unsaid {
                    output(GraphOutput::Finished(target.name.clone()));
                }
            }
            Ok(built)
        })
    }
}

impl Buildx {
    /// Reads bake's output until it ends, passing on what each target
    /// did; returns the lines that were not progress, and what was seen.
    async fn follow(
        &self,
        graph: &Graph,
        chunks: &mut tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>,
        output: &(dyn Fn(GraphOutput) + Send + Sync),
    ) -> (Vec<String>, progress::Tracker) {
        let pairs: Vec<(String, Option<String>)> = graph
            .targets
            .iter()
            .map(|t| (t.name.clone(), t.base.clone()))
            .collect();
        let mut reader = progress::Reader::default();
        let mut tracker = progress::Tracker::new(&pairs);
        let mut text: Vec<String> = Vec::new();
        let mut open = true;
        while open {
            let pieces = if let Some(chunk) = chunks.recv().await {
                reader.feed(&chunk)
            } else {
                open = false;
                reader.finish()
            };
            for piece in pieces {
                match piece {
                    progress::Piece::Status(status) => {
                        for said in tracker.on(status) {
                            self.said(graph, said, output).await;
                        }
                    }
                    progress::Piece::Text(line) => text.push(line),
                }
            }
        }
        (text, tracker)
    }

    /// Passes on what bake said; a pushed image gets its local name first,
    /// so that what follows (its tests) finds it.
    async fn said(
        &self,
        graph: &Graph,
        said: GraphOutput,
        output: &(dyn Fn(GraphOutput) + Send + Sync),
    ) {
        if let GraphOutput::Finished(name) = &said
            && graph.push.is_some()
            && let Some(target) = graph.targets.iter().find(|t| &t.name == name)
        {
            self.name_locally(target).await;
        }
        let said = match said {
            GraphOutput::Failed(name, why) => GraphOutput::Failed(name, scrubbed(graph, &why)),
            other => other,
        };
        output(said);
    }
}

/// `text` without the credentials of a pushing graph, in any form a
/// registry's answer could quote them.
fn scrubbed(graph: &Graph, text: &str) -> String {
    let Some(credentials) = &graph.push else {
        return text.to_string();
    };
    let registries: Vec<crate::registry::Enabled> = credentials
        .iter()
        .map(|(host, credentials)| crate::registry::Enabled {
            host: host.clone(),
            repositories: Vec::new(),
            credentials: Some(credentials.clone()),
            variables: Vec::new(),
        })
        .collect();
    crate::registry::Scrubber::new(&registries).scrub(text)
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
        platform: Option<&'a str>,
        command: &'a [String],
    ) -> BoxFuture<'a, Result<RunOutput, Error>> {
        self.docker.run(image, platform, command)
    }

    fn graph(&self) -> Option<&dyn GraphBuilder> {
        Some(self)
    }

    /// Into the daemon, where a builder of the docker driver finds it.
    fn fetch_as<'a>(
        &'a self,
        remote: &'a str,
        local: &'a str,
        credentials: Option<&'a crate::registry::Credentials>,
    ) -> BoxFuture<'a, Result<(), Error>> {
        self.docker.fetch_as(remote, local, credentials)
    }

    fn clean_up(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {
            self.runs.finish().await;
            self.docker.clean_up().await;
        })
    }
}

/// What bake pushed in this run is not pushed again: its digest is the one
/// bake reported (which the push stage then checks with each registry).
/// Anything else goes through the Docker daemon.
impl Pusher for Buildx {
    fn push<'a>(
        &'a self,
        local: &'a str,
        repository: &'a str,
        tag: &'a str,
        credentials: Option<&'a crate::registry::Credentials>,
    ) -> BoxFuture<'a, Result<String, Error>> {
        let reference = crate::registry::reference::tagged(repository, tag);
        let known = self
            .pushed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&reference)
            .cloned();
        match known {
            Some(digest) => Box::pin(async move { Ok(digest) }),
            None => self.docker.push(local, repository, tag, credentials),
        }
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
        targets: vec![GraphTarget {
            name: "image".into(),
            base: None,
            local: request.tag.clone(),
            tags: vec![request.tag.clone()],
        }],
        push: None,
    })
}
