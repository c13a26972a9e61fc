//! Where images are built: the Docker daemon through its Engine API, or a
//! daemonless builder (`buildah`) where no daemon exists. Both sit behind
//! [`Engine`], so the scheduler does not care which, and tests can use a fake.
//! Sending images to a registry is a capability of its own ([`Pusher`]):
//! the Docker daemon takes credentials with each request; buildah reads
//! them from a private auth file of the push's own; bake pushes from the
//! builder as it builds.

pub mod buildah;
pub mod buildx;
pub mod docker;
#[cfg(test)]
pub mod fake;
mod process;
mod runs;

pub(crate) use runs::{Runs, container_name};

use std::collections::HashMap;
use std::sync::Arc;

use futures_util::future::BoxFuture;

/// What to build.
#[derive(Clone, Debug)]
pub struct BuildRequest {
    /// The tag to give the image, `PACKAGE:TAG`.
    pub tag: String,
    /// The Dockerfile, relative to the context, with `/` separators.
    pub dockerfile: String,
    /// Its text, as read for the inputs hash (engines that rewrite it
    /// start from what was hashed, not from a later read).
    pub dockerfile_text: String,
    /// The build context.
    pub context: Arc<crate::context::Context>,
    /// Build arguments.
    pub build_args: Vec<(String, String)>,
    /// Labels to set.
    pub labels: Vec<(String, String)>,
    /// The image's creation time (`SOURCE_DATE_EPOCH`), for engines that
    /// can set it; the time of the build when `None`.
    pub timestamp: Option<jiff::Timestamp>,
    /// The network mode of `RUN` steps (`host` where builds fetch packages
    /// and the daemon has no bridge); the engine's default when `None`.
    pub network: Option<String>,
    /// The platforms to build for (`os/arch[/variant]`); the builder's own
    /// when empty. Several make a multi-platform image (an index).
    pub platforms: Vec<String>,
}

/// An image as the engine holds it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Image {
    /// Its ID (`sha256:...`).
    pub id: String,
    /// Its labels.
    pub labels: HashMap<String, String>,
    /// `repository@digest` for each registry it was pushed to or pulled from.
    pub repo_digests: Vec<String>,
}

/// What a build reports while it runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BuildOutput {
    /// A Dockerfile step started.
    Step {
        /// 1-based.
        current: usize,
        /// Steps in the Dockerfile.
        total: usize,
    },
    /// A line of build output.
    Line(String),
}

/// The output of a command run in an image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunOutput {
    /// Its exit code.
    pub code: i64,
    /// Standard output and error, interleaved.
    pub output: String,
}

/// Why an engine failed.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum Error {
    /// The engine cannot be reached.
    #[error("cannot reach {engine}: {message}")]
    #[diagnostic(help(
        "start the Docker daemon (or set DOCKER_HOST), or build without one: `--engine buildah`"
    ))]
    Unavailable {
        /// Which engine.
        engine: &'static str,
        /// Why.
        message: String,
    },
    /// A program the engine needs is not installed.
    #[error("{what}")]
    #[diagnostic(help("{install}"))]
    Missing {
        /// What is missing, and how it showed.
        what: String,
        /// What to install.
        install: String,
    },
    /// The build failed; its log says why.
    #[error("{0}")]
    Build(String),
    /// A push failed; `transient` when retrying may help (connection
    /// errors, 5xx, 429), not for authentication errors.
    #[error("{message}")]
    Push {
        /// What the registry or daemon said (credentials scrubbed by the caller).
        message: String,
        /// Whether to retry.
        transient: bool,
    },
    /// Any other engine error.
    #[error("{0}")]
    Other(String),
}

impl Error {
    /// 1: the engine failed at its work; the input was fine.
    #[must_use]
    pub fn exit_code(&self) -> u8 {
        1
    }
}

/// Builds and inspects images.
pub trait Engine: Send + Sync {
    /// Its name, for messages.
    fn name(&self) -> &'static str;

    /// The image `reference` points to, if the engine has it.
    fn inspect<'a>(&'a self, reference: &'a str) -> BoxFuture<'a, Result<Option<Image>, Error>>;

    /// Fetches `reference` from its registry, as a build would fetch a
    /// `FROM` image it lacks (a reference without tag or digest means
    /// `:latest`).
    fn pull<'a>(&'a self, reference: &'a str) -> BoxFuture<'a, Result<(), Error>>;

    /// Builds an image and tags it; returns its ID. The tag is set only when
    /// the whole build succeeded, so a failed or cancelled build leaves no
    /// half-tagged image.
    fn build<'a>(
        &'a self,
        request: &'a BuildRequest,
        output: &'a (dyn Fn(BuildOutput) + Send + Sync),
    ) -> BoxFuture<'a, Result<String, Error>>;

    /// Runs `command` in a throwaway container of `image`, without network;
    /// of its `platform` variant when given (emulated when that is what the
    /// machine has), else of the machine's own.
    fn run<'a>(
        &'a self,
        image: &'a str,
        platform: Option<&'a str>,
        command: &'a [String],
    ) -> BoxFuture<'a, Result<RunOutput, Error>>;

    /// The engine as a builder of whole graphs, when it is one: the build
    /// stage then hands it every stale target in one call.
    fn graph(&self) -> Option<&dyn GraphBuilder> {
        None
    }

    /// Fetches `remote` (`repository:tag` on a registry) with
    /// `credentials` (on this request only) and names it `local` as well,
    /// so that a build whose `FROM` names `local` uses it
    /// (`build --skip-pushed`: a base only the registry holds).
    fn fetch_as<'a>(
        &'a self,
        remote: &'a str,
        local: &'a str,
        credentials: Option<&'a crate::registry::Credentials>,
    ) -> BoxFuture<'a, Result<(), Error>> {
        let _ = (local, credentials);
        Box::pin(async move {
            Err(Error::Other(format!(
                "{} cannot fetch `{remote}` from a registry",
                self.name()
            )))
        })
    }

    /// Waits until the containers of runs that were cut off (a timeout,
    /// Ctrl-C) are gone: each run removes its own at once, and this waits
    /// for those removals before the program ends.
    fn clean_up(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

/// An engine that can send its images to a registry itself; credentials
/// never go in a process argument.
pub trait Pusher: Engine {
    /// Tags `local` as `repository:tag` and pushes it, authenticating with
    /// `credentials` on this request only (no login state is written).
    /// Returns the manifest digest the push reported.
    fn push<'a>(
        &'a self,
        local: &'a str,
        repository: &'a str,
        tag: &'a str,
        credentials: Option<&'a crate::registry::Credentials>,
    ) -> BoxFuture<'a, Result<String, Error>>;
}

/// Targets to build as one graph, in bake's JSON form.
#[derive(Clone, Debug)]
pub struct Graph {
    /// The bake file: each dependent's `contexts` maps the image its
    /// `FROM` names to `target:<base>`.
    pub file: String,
    /// Every target of the file, in build order.
    pub targets: Vec<GraphTarget>,
    /// Send every image to the registries its tags name, from the
    /// builder, with these credentials (by registry host); else load it
    /// into the engine's image store.
    pub push: Option<Vec<(String, crate::registry::Credentials)>>,
}

/// A target of a [`Graph`].
#[derive(Clone, Debug)]
pub struct GraphTarget {
    /// Its bake name.
    pub name: String,
    /// The bake name of its base, when the base is in the file too.
    pub base: Option<String>,
    /// Its local name, `PACKAGE:TAG`: set in the engine's image store from
    /// its first tag when the image is pushed (the file's tags are then
    /// registry names only).
    pub local: String,
    /// Its tags in the file.
    pub tags: Vec<String>,
}

/// What a graph build reports while it runs, by bake target name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GraphOutput {
    /// The target's own first step started.
    Started(String),
    /// A step started, or a line of its output.
    Output(String, BuildOutput),
    /// Its image is exported (in the image store, or pushed).
    Finished(String),
    /// A step of its own failed, saying why.
    Failed(String, String),
}

/// An image a graph build made, as the builder's metadata says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Built {
    /// The manifest (or index) digest.
    pub digest: Option<String>,
    /// The image's config digest (its ID in a Docker image store).
    pub config: Option<String>,
}

/// An engine that builds a whole graph of targets in one call, with its
/// own parallelism and ordering (BuildKit's bake).
pub trait GraphBuilder: Engine {
    /// Builds every target of `graph`; each base before its dependents,
    /// the rest in parallel. Returns what each target made, by bake name.
    /// Dropped before it ends (Ctrl-C, a timeout), it stops the build.
    ///
    /// A failure fails the whole call: targets finished before it keep
    /// their images (their `Finished` was reported).
    fn build_graph<'a>(
        &'a self,
        graph: &'a Graph,
        output: &'a (dyn Fn(GraphOutput) + Send + Sync),
    ) -> BoxFuture<'a, Result<HashMap<String, Built>, Error>>;
}

/// Reads `Step 3/7 : ...` (Docker) or `STEP 3/7: ...` (buildah).
#[must_use]
pub fn parse_step(line: &str) -> Option<BuildOutput> {
    let rest = line
        .strip_prefix("Step ")
        .or_else(|| line.strip_prefix("STEP "))?;
    let (fraction, _) = rest.split_once(':')?;
    let (current, total) = fraction.trim().split_once('/')?;
    Some(BuildOutput::Step {
        current: current.trim().parse().ok()?,
        total: total.trim().parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_of_both_builders_are_read() {
        assert_eq!(
            parse_step("Step 3/7 : RUN apt-get update"),
            Some(BuildOutput::Step {
                current: 3,
                total: 7
            })
        );
        assert_eq!(
            parse_step("STEP 2/4: COPY a b"),
            Some(BuildOutput::Step {
                current: 2,
                total: 4
            })
        );
        assert_eq!(parse_step("Stepping"), None);
    }
}
