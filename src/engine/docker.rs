//! The Docker daemon, through the Engine API (`bollard`), at whatever API
//! version the daemon speaks (negotiated; Debian's docker.io 20.10 speaks 1.41).

use std::collections::HashMap;

use bollard::Docker as Client;
use bollard::query_parameters::{
    BuildImageOptions, CreateContainerOptions, CreateImageOptions, LogsOptions, PushImageOptions,
    RemoveContainerOptions, StartContainerOptions, TagImageOptions, WaitContainerOptions,
};
use futures_util::StreamExt;

use futures_util::future::BoxFuture;

use super::{BuildOutput, BuildRequest, Engine, Error, Image, Pusher, RunOutput, parse_step};

/// The Docker daemon.
#[derive(Debug, Clone)]
pub struct Docker {
    client: Client,
    /// Runs in containers, removed however they end.
    runs: super::Runs,
    /// How long a push may go without a word from the daemon (a registry
    /// that takes the connection and never answers leaves it silent).
    push_stall: std::time::Duration,
    /// Where the daemon listens, for messages.
    address: String,
}

impl Docker {
    /// Connects to `DOCKER_HOST` or the local socket and agrees on an API version.
    ///
    /// # Errors
    /// When the daemon cannot be reached.
    pub async fn connect() -> Result<Self, Error> {
        let unavailable = |e: bollard::errors::Error| Error::Unavailable {
            engine: "the Docker daemon",
            message: e.to_string(),
        };
        let client = Client::connect_with_local_defaults().map_err(unavailable)?;
        let client = client
            .negotiate_version()
            .await
            .map_err(unavailable)?
            .with_request_modifier(url_safe_registry_auth);
        client.ping().await.map_err(unavailable)?;
        Ok(Self {
            client,
            runs: super::Runs::default(),
            push_stall: std::time::Duration::from_secs(60),
            // As `connect_with_local_defaults` picks it.
            address: std::env::var("DOCKER_HOST")
                .ok()
                .filter(|h| h.starts_with("unix://"))
                .unwrap_or_else(|| "unix:///var/run/docker.sock".to_string()),
        })
    }

    /// The same daemon, each request failing after `limit`: for commands
    /// that make only short requests (`status`), not long builds.
    #[must_use]
    pub fn with_request_timeout(self, limit: std::time::Duration) -> Self {
        Self {
            client: self.client.with_timeout(limit),
            ..self
        }
    }

    /// The same daemon, a push failing after `limit` without progress.
    #[must_use]
    pub fn with_push_stall(self, limit: std::time::Duration) -> Self {
        Self {
            push_stall: limit,
            ..self
        }
    }
}

/// The name the labelled Dockerfile is sent under, beside the context (as
/// the Docker CLI sends a Dockerfile from outside the context).
const LABELLED_DOCKERFILE: &str = ".bentoml-docker.Dockerfile";

/// The Dockerfile with every label in one `LABEL` line at its end.
///
/// The classic builder turns each label of a build request into a `LABEL`
/// step of its own, and each step commits a container: with the vfs storage
/// driver a full copy of the root file system, seconds per step. One line
/// is one step, and it is cached when the labels are the same (see
/// `SOURCE_DATE_EPOCH`). The labels land on the last stage, as the
/// request's would. `None` when the last instruction ends in a line
/// continuation: an appended line would become part of it.
fn labelled_dockerfile(
    dockerfile: &str,
    labels: &[(String, String)],
) -> Result<Option<String>, Error> {
    let mut text = dockerfile.to_string();
    if labels.is_empty() {
        return Ok(Some(text));
    }
    let escape = crate::dockerfile::escape_character(dockerfile);
    if crate::dockerfile::ends_in_continuation(dockerfile) {
        return Ok(None);
    }
    let mut sorted: Vec<&(String, String)> = labels.iter().collect();
    sorted.sort();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str("LABEL");
    for (name, value) in sorted {
        for part in [name, value] {
            if part.chars().any(char::is_control) {
                return Err(Error::Build(format!(
                    "the label `{name}` cannot hold a control character (a line break)"
                )));
            }
        }
        text.push(' ');
        push_quoted(&mut text, name, escape);
        text.push('=');
        push_quoted(&mut text, value, escape);
    }
    text.push('\n');
    Ok(Some(text))
}

/// `text` in double quotes, with what the builder would expand or end the
/// quote at (`"`, `$`, the escape character) escaped.
fn push_quoted(out: &mut String, text: &str, escape: char) {
    out.push('"');
    for c in text.chars() {
        if c == '"' || c == '$' || c == escape {
            out.push(escape);
        }
        out.push(c);
    }
    out.push('"');
}

/// The context tar with one more file at its end, as a stream of two
/// chunks: the packed context is shared by every build and not copied.
fn with_file(
    context: &bytes::Bytes,
    name: &str,
    data: &[u8],
) -> Result<impl futures_util::Stream<Item = bytes::Bytes> + Send + 'static, Error> {
    // A tar ends with two zero blocks; the new entry replaces them and
    // brings its own.
    const END: usize = 1024;
    let Some(entries) = context.len().checked_sub(END) else {
        return Err(Error::Other("the packed build context is not a tar".into()));
    };
    if context[entries..].iter().any(|&b| b != 0) {
        return Err(Error::Other("the packed build context is not a tar".into()));
    }
    let mut extra = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_size(data.len() as u64);
    extra
        .append_data(&mut header, name, data)
        .and_then(|()| extra.into_inner())
        .map(|extra| {
            futures_util::stream::iter([context.slice(..entries), bytes::Bytes::from(extra)])
        })
        .map_err(|e| Error::Other(format!("cannot pack the labelled Dockerfile: {e}")))
}

/// The registry credentials of a request in the URL-safe base64 the
/// daemon decodes them with.
///
/// bollard encodes `X-Registry-Auth` in standard base64; the daemon reads
/// it as URL-safe base64 and, when that fails (a `+` or `/` in the
/// encoding, which ordinary passwords produce), pushes without
/// credentials: the registry then answers `no basic auth credentials`.
/// The two alphabets differ only in those two characters.
fn url_safe_registry_auth(mut request: bollard::BollardRequest) -> bollard::BollardRequest {
    for name in ["x-registry-auth", "x-registry-config"] {
        let Some(value) = request.headers().get(name) else {
            continue;
        };
        let Ok(text) = value.to_str() else {
            continue;
        };
        let url_safe = text.replace('+', "-").replace('/', "_");
        if let Ok(value) = http::HeaderValue::from_str(&url_safe) {
            request.headers_mut().insert(name, value);
        }
    }
    request
}

fn other(e: &bollard::errors::Error) -> Error {
    Error::Other(e.to_string())
}

impl Docker {
    /// An error of a request's answer: a daemon that went away mid-way
    /// (killed, restarted) is named, rather than the HTTP client's words.
    fn lost(&self, e: &bollard::errors::Error) -> Error {
        use bollard::errors::Error as E;
        match e {
            E::RequestTimeoutError => Error::Other(format!(
                "the Docker daemon at {} did not answer within {} s: is it stalled (paused, overloaded)?",
                self.address,
                self.client.timeout().as_secs()
            )),
            E::HyperResponseError { .. } | E::HyperLegacyError { .. } | E::IOError { .. } => {
                Error::Other(format!(
                    "the Docker daemon at {} closed the connection: is it running? ({e})",
                    self.address
                ))
            }
            e => other(e),
        }
    }
}

impl Engine for Docker {
    fn name(&self) -> &'static str {
        "docker"
    }

    fn pull<'a>(&'a self, reference: &'a str) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move {
            let options = CreateImageOptions {
                from_image: Some(crate::registry::reference::with_tag(reference)),
                ..Default::default()
            };
            let mut stream = self.client.create_image(Some(options), None, None);
            while let Some(item) = stream.next().await {
                item.map_err(|e| other(&e))?;
            }
            Ok(())
        })
    }

    fn inspect<'a>(&'a self, reference: &'a str) -> BoxFuture<'a, Result<Option<Image>, Error>> {
        Box::pin(async move {
            match self.client.inspect_image(reference).await {
                Ok(image) => Ok(Some(Image {
                    id: image.id.unwrap_or_default(),
                    labels: image.config.and_then(|c| c.labels).unwrap_or_default(),
                    repo_digests: image.repo_digests.unwrap_or_default(),
                })),
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => Ok(None),
                Err(e) => Err(self.lost(&e)),
            }
        })
    }

    fn build<'a>(
        &'a self,
        request: &'a BuildRequest,
        output: &'a (dyn Fn(BuildOutput) + Send + Sync),
    ) -> BoxFuture<'a, Result<String, Error>> {
        Box::pin(async move {
            if request.platforms.len() > 1 {
                return Err(Error::Build(multi_platform_refused(
                    &request.tag,
                    &request.platforms,
                )));
            }
            let tar = request
                .context
                .tar()
                .map_err(|e| Error::Other(format!("cannot pack the build context: {e}")))?;
            let (dockerfile, body, labels) =
                match labelled_dockerfile(&request.dockerfile_text, &request.labels)? {
                    Some(labelled) => (
                        LABELLED_DOCKERFILE.to_string(),
                        bollard::body_stream(with_file(
                            &tar,
                            LABELLED_DOCKERFILE,
                            labelled.as_bytes(),
                        )?),
                        None,
                    ),
                    // The builder's own labels: a step each, but right.
                    None => (
                        request.dockerfile.clone(),
                        bollard::body_full(tar),
                        Some(request.labels.iter().cloned().collect::<HashMap<_, _>>()),
                    ),
                };
            let options = BuildImageOptions {
                dockerfile,
                labels,
                t: Some(request.tag.clone()),
                rm: true,
                forcerm: true,
                buildargs: Some(
                    request
                        .build_args
                        .iter()
                        .cloned()
                        .collect::<HashMap<_, _>>(),
                ),
                networkmode: request.network.clone(),
                platform: request.platforms.first().cloned().unwrap_or_default(),
                ..BuildImageOptions::default()
            };
            let mut stream = self.client.build_image(options, None, Some(body));
            let mut id = None;
            let mut pending = String::new();
            while let Some(item) = stream.next().await {
                let info = item.map_err(|e| match e {
                    bollard::errors::Error::DockerStreamError { error } => Error::Build(error),
                    e => self.lost(&e),
                })?;
                if let Some(text) = info.stream {
                    pending.push_str(&text);
                    while let Some(end) = pending.find('\n') {
                        let line: String = pending.drain(..=end).collect();
                        let line = line.trim_end().to_string();
                        if let Some(step) = parse_step(&line) {
                            output(step);
                        }
                        output(BuildOutput::Line(line));
                    }
                }
                if let Some(status) = info.status {
                    output(BuildOutput::Line(status));
                }
                if let Some(detail) = info.error_detail {
                    return Err(Error::Build(detail.message.unwrap_or_default()));
                }
                if let Some(aux) = info.aux.and_then(|a| a.id) {
                    id = Some(aux);
                }
            }
            if !pending.trim().is_empty() {
                output(BuildOutput::Line(pending.trim_end().to_string()));
            }
            match id {
                Some(id) => Ok(id),
                // Older daemons do not send the ID: ask for the tag.
                None => self
                    .inspect(&request.tag)
                    .await?
                    .map(|i| i.id)
                    .ok_or_else(|| Error::Build("the build ended without an image".into())),
            }
        })
    }

    fn run<'a>(
        &'a self,
        image: &'a str,
        platform: Option<&'a str>,
        command: &'a [String],
    ) -> BoxFuture<'a, Result<RunOutput, Error>> {
        let client = self.client.clone();
        let platform = platform.unwrap_or_default().to_string();
        let config = bollard::models::ContainerCreateBody {
            image: Some(image.to_string()),
            cmd: Some(command.to_vec()),
            entrypoint: Some(Vec::new()),
            network_disabled: Some(true),
            host_config: Some(bollard::models::HostConfig {
                network_mode: Some("none".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        Box::pin(self.runs.run(move |cut_off| async move {
            // Named here, so that it can be removed by name whatever
            // became of the create request.
            let name = super::container_name();
            let options = CreateContainerOptions {
                name: Some(name.clone()),
                platform,
            };
            let result = match client.create_container(Some(options), config).await {
                Ok(_) => tokio::select! {
                    biased;
                    () = cut_off.cancelled() => Err(Error::Other("cut off".into())),
                    result = run_container(&client, &name) => result,
                },
                Err(e) => Err(other(&e)),
            };
            let options = RemoveContainerOptions {
                force: true,
                ..Default::default()
            };
            let _ = client.remove_container(&name, Some(options)).await;
            result
        }))
    }

    fn clean_up(&self) -> BoxFuture<'_, ()> {
        Box::pin(self.runs.finish())
    }

    fn fetch_as<'a>(
        &'a self,
        remote: &'a str,
        local: &'a str,
        credentials: Option<&'a crate::registry::Credentials>,
    ) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move {
            let server = crate::registry::reference::host(remote);
            let credentials = credentials.map(|c| docker_credentials(c, server));
            let options = CreateImageOptions {
                from_image: Some(crate::registry::reference::with_tag(remote)),
                ..Default::default()
            };
            let mut stream = self.client.create_image(Some(options), None, credentials);
            while let Some(item) = stream.next().await {
                item.map_err(|e| other(&e))?;
            }
            let (repo, tag) = crate::registry::reference::split_tag(local);
            self.tag(remote, repo, tag).await
        })
    }
}

/// `credentials` for the daemon's request to `server`.
fn docker_credentials(
    credentials: &crate::registry::Credentials,
    server: &str,
) -> bollard::auth::DockerCredentials {
    bollard::auth::DockerCredentials {
        username: Some(credentials.username.clone()),
        password: Some(credentials.password.clone()),
        serveraddress: Some(server.to_string()),
        ..Default::default()
    }
}

/// Why the classic builder does not build `tag` for `platforms`.
#[must_use]
pub fn multi_platform_refused(tag: &str, platforms: &[String]) -> String {
    format!(
        "`{tag}` is built for {}: the Docker daemon's classic builder makes one platform per image; build it with `--engine bake` (BuildKit) or `--engine buildah`",
        platforms.join(", ")
    )
}

impl Docker {
    /// Gives `image` the name `repository:tag` too.
    ///
    /// # Errors
    /// When the daemon lacks `image` or refuses the name.
    pub async fn tag(&self, image: &str, repository: &str, tag: &str) -> Result<(), Error> {
        let options = TagImageOptions {
            repo: Some(repository.to_string()),
            tag: Some(tag.to_string()),
        };
        self.client
            .tag_image(image, Some(options))
            .await
            .map_err(|e| other(&e))
    }
}

impl Pusher for Docker {
    fn push<'a>(
        &'a self,
        local: &'a str,
        repository: &'a str,
        tag: &'a str,
        credentials: Option<&'a crate::registry::Credentials>,
    ) -> BoxFuture<'a, Result<String, Error>> {
        Box::pin(async move {
            let push_error = |message: String| Error::Push {
                transient: crate::registry::classify::transient(&message),
                message,
            };
            self.tag(local, repository, tag).await?;
            let server = crate::registry::reference::host(repository);
            let credentials = credentials.map(|c| docker_credentials(c, server));
            let options = PushImageOptions {
                tag: Some(tag.to_string()),
                ..Default::default()
            };
            let mut stream = self
                .client
                .push_image(repository, Some(options), credentials);
            let mut digest = None;
            loop {
                // Silence is the daemon's: stalled itself, or waiting on a
                // registry (or proxy) that does not answer it.
                let Ok(next) = tokio::time::timeout(self.push_stall, stream.next()).await else {
                    return Err(Error::Push {
                        message: format!(
                            "the Docker daemon at {} stalled pushing to `{server}`: no progress for {} s; check that the daemon answers (`docker info`) and that `{server}` answers it (a proxy in between?)",
                            self.address,
                            self.push_stall.as_secs_f64()
                        ),
                        transient: true,
                    });
                };
                let Some(item) = next else {
                    break;
                };
                let info = item.map_err(|e| match e {
                    bollard::errors::Error::DockerStreamError { error } => push_error(error),
                    e => push_error(e.to_string()),
                })?;
                if let Some(detail) = info.error_detail {
                    return Err(push_error(detail.message.unwrap_or_default()));
                }
                if let Some(status) = info.status
                    && status.contains("digest:")
                    && let Some(found) =
                        status.split_whitespace().find(|w| w.starts_with("sha256:"))
                {
                    digest = Some(found.to_string());
                }
            }
            digest.ok_or_else(|| push_error("the push ended without a digest".into()))
        })
    }
}

/// Starts a created container, waits for it to exit and reads its output.
async fn run_container(client: &bollard::Docker, name: &str) -> Result<RunOutput, Error> {
    client
        .start_container(name, None::<StartContainerOptions>)
        .await
        .map_err(|e| other(&e))?;
    let mut code = 0;
    let mut wait = client.wait_container(name, None::<WaitContainerOptions>);
    while let Some(status) = wait.next().await {
        match status {
            Ok(status) => code = status.status_code,
            Err(bollard::errors::Error::DockerContainerWaitError { code: c, .. }) => code = c,
            Err(e) => return Err(other(&e)),
        }
    }
    let mut output = String::new();
    let options = LogsOptions {
        stdout: true,
        stderr: true,
        ..Default::default()
    };
    let mut logs = client.logs(name, Some(options));
    while let Some(chunk) = logs.next().await {
        output.push_str(&chunk.map_err(|e| other(&e))?.to_string());
    }
    Ok(RunOutput { code, output })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect()
    }

    #[test]
    fn every_label_goes_into_one_line_sorted_at_the_end() {
        let text = labelled_dockerfile(
            "FROM a AS build\nRUN x\nFROM b\nCOPY --from=build /x /x",
            &labels(&[("z.last", "2"), ("a.first", "1")]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            text,
            "FROM a AS build\nRUN x\nFROM b\nCOPY --from=build /x /x\nLABEL \"a.first\"=\"1\" \"z.last\"=\"2\"\n"
        );
    }

    #[test]
    fn what_the_builder_would_expand_or_end_a_quote_at_is_escaped() {
        let text = labelled_dockerfile(
            "FROM a\n",
            &labels(&[("source", r#"https://h/a$HOME"b\c"#)]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            text,
            "FROM a\nLABEL \"source\"=\"https://h/a\\$HOME\\\"b\\\\c\"\n"
        );
    }

    #[test]
    fn the_escape_directive_sets_the_escape_character() {
        let dockerfile = "# syntax=docker/dockerfile:1\n# escape=`\nFROM a\n";
        let text = labelled_dockerfile(dockerfile, &labels(&[("s", r#"$"\`"#)]))
            .unwrap()
            .unwrap();
        assert!(text.ends_with("LABEL \"s\"=\"`$`\"\\``\"\n"), "{text}");
    }

    /// A Dockerfile whose last instruction ends in a continuation (blank
    /// and comment lines after it do not end it) would take an appended
    /// line as part of that instruction: the builder's own labels then.
    #[test]
    fn a_last_line_continuation_keeps_the_labels_out_of_the_dockerfile() {
        let two = labels(&[("a", "1")]);
        for dockerfile in [
            "FROM a\nRUN echo \\",
            "FROM a\nRUN echo \\\n\n# a comment\n",
            "# escape=`\nFROM a\nRUN echo `  \n",
        ] {
            assert_eq!(
                labelled_dockerfile(dockerfile, &two).unwrap(),
                None,
                "{dockerfile}"
            );
        }
        assert!(
            labelled_dockerfile("# escape=`\nFROM a\nRUN echo \\\n", &two)
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn a_label_with_a_line_break_is_refused() {
        let error = labelled_dockerfile("FROM a\n", &labels(&[("s", "a\nRUN rm -rf /")]));
        assert!(matches!(error, Err(Error::Build(m)) if m.contains("`s`")));
    }

    #[tokio::test]
    async fn the_labelled_dockerfile_is_the_last_entry_of_a_whole_tar() {
        let mut context = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(3);
        context
            .append_data(&mut header, "Dockerfile", &b"abc"[..])
            .unwrap();
        let context = bytes::Bytes::from(context.into_inner().unwrap());
        let chunks: Vec<bytes::Bytes> = with_file(&context, LABELLED_DOCKERFILE, b"FROM a\n")
            .unwrap()
            .collect()
            .await;
        let whole = chunks.concat();
        let mut archive = tar::Archive::new(whole.as_slice());
        let names: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(names, ["Dockerfile", LABELLED_DOCKERFILE]);
        assert!(with_file(&bytes::Bytes::from_static(b"not a tar"), "x", b"").is_err());
    }
}
