//! An engine in memory, for tests: images are recorded, builds can be made
//! to fail or to take time, and the most builds at once is measured.

#![allow(clippy::missing_panics_doc)]

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::future::BoxFuture;

use super::{BuildOutput, BuildRequest, Engine, Error, Image, Pusher, RunOutput};

/// The fake engine.
#[derive(Default)]
pub struct Fake {
    /// Images by reference.
    pub images: Mutex<HashMap<String, Image>>,
    /// Tags built, in order.
    pub built: Mutex<Vec<String>>,
    /// Tags whose build fails.
    pub failing: Mutex<HashSet<String>>,
    /// Images in which every command fails.
    pub failing_runs: Mutex<Vec<String>>,
    /// Commands run, as `image: command`.
    pub runs: Mutex<Vec<String>>,
    /// Pushes done, as `local -> repository:tag`.
    pub pushed: Mutex<Vec<String>>,
    /// Transient failures still to give, per `repository:tag`.
    pub push_failures: Mutex<HashMap<String, usize>>,
    /// Images a registry holds: pulled by `pull`, and by a build whose
    /// base (its `org.opencontainers.image.base.name`) is missing.
    pub remote: Mutex<HashMap<String, Image>>,
    /// References pulled, in order.
    pub pulled: Mutex<Vec<String>>,
    /// Inspections still to fail, one each, as a daemon that hung up.
    pub inspect_failures: Mutex<usize>,
    /// How long each build takes.
    pub delay: Duration,
    /// How long each pull takes.
    pub pull_delay: Duration,
    /// How long each command run in an image takes.
    pub run_delay: Duration,
    pub running: AtomicUsize,
    /// The most builds that ran at once.
    pub max_running: AtomicUsize,
    pub counter: AtomicUsize,
}

impl Fake {
    /// A fake that holds `images` (e.g. the distros' base images).
    #[must_use]
    pub fn with_images(images: &[&str]) -> Self {
        let fake = Self::default();
        for (i, image) in images.iter().enumerate() {
            fake.images.lock().unwrap().insert(
                (*image).to_string(),
                Image {
                    id: format!("sha256:base{i}"),
                    ..Image::default()
                },
            );
        }
        fake
    }

    /// Tags built so far, and forget them.
    pub fn take_built(&self) -> Vec<String> {
        std::mem::take(&mut *self.built.lock().unwrap())
    }

    fn fetch(&self, reference: &str) -> Result<(), Error> {
        let image = self.remote.lock().unwrap().get(reference).cloned();
        let image =
            image.ok_or_else(|| Error::Other(format!("manifest for {reference} not found")))?;
        self.pulled.lock().unwrap().push(reference.to_string());
        self.images
            .lock()
            .unwrap()
            .insert(reference.to_string(), image);
        Ok(())
    }
}

impl Engine for Fake {
    fn name(&self) -> &'static str {
        "fake"
    }

    fn inspect<'a>(&'a self, reference: &'a str) -> BoxFuture<'a, Result<Option<Image>, Error>> {
        Box::pin(async move {
            let mut failures = self.inspect_failures.lock().unwrap();
            if *failures > 0 {
                *failures -= 1;
                return Err(Error::Other("the daemon hung up".into()));
            }
            drop(failures);
            Ok(self.images.lock().unwrap().get(reference).cloned())
        })
    }

    fn pull<'a>(&'a self, reference: &'a str) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move {
            tokio::time::sleep(self.pull_delay).await;
            self.fetch(reference)
        })
    }

    fn fetch_as<'a>(
        &'a self,
        remote: &'a str,
        local: &'a str,
        _: Option<&'a crate::registry::Credentials>,
    ) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move {
            tokio::time::sleep(self.pull_delay).await;
            self.fetch(remote)?;
            let image = self.images.lock().unwrap().get(remote).cloned();
            if let Some(image) = image {
                self.images.lock().unwrap().insert(local.to_string(), image);
            }
            Ok(())
        })
    }

    fn build<'a>(
        &'a self,
        request: &'a BuildRequest,
        output: &'a (dyn Fn(BuildOutput) + Send + Sync),
    ) -> BoxFuture<'a, Result<String, Error>> {
        Box::pin(async move {
            // A builder fetches a FROM image it lacks.
            let base = request
                .labels
                .iter()
                .find(|(k, _)| k == "org.opencontainers.image.base.name")
                .map(|(_, v)| v.clone());
            if let Some(base) = base
                && !self.images.lock().unwrap().contains_key(&base)
            {
                self.fetch(&base)?;
            }
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.max_running.fetch_max(now, Ordering::SeqCst);
            output(BuildOutput::Step {
                current: 1,
                total: 1,
            });
            output(BuildOutput::Line(format!("building {}", request.tag)));
            tokio::time::sleep(self.delay).await;
            self.running.fetch_sub(1, Ordering::SeqCst);
            self.built.lock().unwrap().push(request.tag.clone());
            if self.failing.lock().unwrap().contains(&request.tag) {
                output(BuildOutput::Line("RUN failed: exit code 1".into()));
                return Err(Error::Build(
                    "The command returned a non-zero code: 1".into(),
                ));
            }
            let id = format!("sha256:{}", self.counter.fetch_add(1, Ordering::SeqCst));
            let image = Image {
                id: id.clone(),
                labels: request.labels.iter().cloned().collect(),
                repo_digests: Vec::new(),
            };
            self.images
                .lock()
                .unwrap()
                .insert(request.tag.clone(), image);
            Ok(id)
        })
    }

    fn run<'a>(
        &'a self,
        image: &'a str,
        platform: Option<&'a str>,
        command: &'a [String],
    ) -> BoxFuture<'a, Result<RunOutput, Error>> {
        Box::pin(async move {
            let on = platform.map(|p| format!(" on {p}")).unwrap_or_default();
            self.runs
                .lock()
                .unwrap()
                .push(format!("{image}{on}: {}", command.join(" ")));
            tokio::time::sleep(self.run_delay).await;
            let code = i64::from(self.failing_runs.lock().unwrap().iter().any(|i| i == image));
            Ok(RunOutput {
                code,
                output: "ran\n".into(),
            })
        })
    }
}

impl Pusher for Fake {
    fn push<'a>(
        &'a self,
        local: &'a str,
        repository: &'a str,
        tag: &'a str,
        _: Option<&'a crate::registry::Credentials>,
    ) -> BoxFuture<'a, Result<String, Error>> {
        Box::pin(async move {
            let remote = format!("{repository}:{tag}");
            tokio::time::sleep(self.delay).await;
            if let Some(left) = self.push_failures.lock().unwrap().get_mut(&remote)
                && *left > 0
            {
                *left -= 1;
                return Err(Error::Push {
                    message: "received unexpected HTTP status: 500 Internal Server Error".into(),
                    transient: true,
                });
            }
            let id = self.images.lock().unwrap().get(local).map(|i| i.id.clone());
            let id = id.ok_or_else(|| Error::Other(format!("no image `{local}`")))?;
            self.pushed
                .lock()
                .unwrap()
                .push(format!("{local} -> {remote}"));
            Ok(id)
        })
    }
}
