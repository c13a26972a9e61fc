//! Throwaway containers for commands run in images (the targets' tests):
//! each run is a task of its own that removes its container however the
//! caller stopped waiting.

use std::future::Future;

use super::{Error, RunOutput};

/// Runs in throwaway containers, each a task of its own, so that a caller
/// that stops waiting (a timeout, Ctrl-C) does not strand a container: the
/// task sees the cut-off, stops its container and removes it, however far
/// it had got (a create the engine completes after the cut-off included).
#[derive(Clone, Debug, Default)]
pub(crate) struct Runs {
    tasks: tokio_util::task::TaskTracker,
}

impl Runs {
    /// Runs `body` to its end in a task; it is told through its token when
    /// the caller was cut off.
    pub(crate) async fn run<Body, Fut>(&self, body: Body) -> Result<RunOutput, Error>
    where
        Body: FnOnce(tokio_util::sync::CancellationToken) -> Fut,
        Fut: Future<Output = Result<RunOutput, Error>> + Send + 'static,
    {
        let token = tokio_util::sync::CancellationToken::new();
        // Dropped with the caller's future: that is the cut-off.
        let _cut_off = token.clone().drop_guard();
        self.tasks
            .spawn(body(token))
            .await
            .map_err(|e| Error::Other(format!("the run failed: {e}")))?
    }

    /// Runs `work` (a clean-up) to its end in a task `finish` waits for;
    /// outside a runtime (the program ending) there is nothing to run it on.
    pub(crate) fn spawn(&self, work: impl Future<Output = ()> + Send + 'static) {
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            self.tasks.spawn_on(work, &runtime);
        }
    }

    /// Waits for every run, those cut off included, to have removed its container.
    pub(crate) async fn finish(&self) {
        self.tasks.close();
        self.tasks.wait().await;
        self.tasks.reopen();
    }
}

/// A container name no other run, of this process or another, uses.
pub(crate) fn container_name() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("bentoml-docker-run-{}-{nanos:09}-{n}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::time::Duration;

    /// A run cut off stops at once, yet still cleans up after itself, even
    /// from a step it cannot leave (a create the engine completes anyway);
    /// `finish` returns only when it has.
    #[tokio::test]
    async fn a_run_cut_off_cleans_up_and_finish_waits_for_it() {
        let runs = Runs::default();
        let steps = std::sync::Arc::new(Mutex::new(Vec::new()));
        for (name, create) in [("late", 200), ("running", 0)] {
            let log = std::sync::Arc::clone(&steps);
            let run = runs.run(move |cut_off| async move {
                // Not cancellable: the engine finishes it anyway.
                tokio::time::sleep(Duration::from_millis(create)).await;
                log.lock().unwrap().push(format!("{name} created"));
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(600)) => {}
                    () = cut_off.cancelled() => {}
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                log.lock().unwrap().push(format!("{name} removed"));
                Ok(RunOutput {
                    code: 0,
                    output: String::new(),
                })
            });
            let cut = tokio::time::timeout(Duration::from_millis(20), run).await;
            assert!(cut.is_err(), "cut off");
        }
        // Removed at the cut-off, not when the run finishes.
        let removed = async {
            while !steps.lock().unwrap().iter().any(|s| s == "running removed") {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(30), removed)
            .await
            .expect("a run cut off removes its container without waiting for finish");
        tokio::time::timeout(Duration::from_secs(30), runs.finish())
            .await
            .expect("finish returns once every run is done");
        let mut steps = steps.lock().unwrap().clone();
        steps.sort();
        assert_eq!(
            steps,
            [
                "late created",
                "late removed",
                "running created",
                "running removed"
            ]
        );
    }

    #[tokio::test]
    async fn a_run_that_ends_returns_its_output() {
        let runs = Runs::default();
        let output = runs
            .run(|_| async {
                Ok(RunOutput {
                    code: 3,
                    output: "done\n".into(),
                })
            })
            .await
            .unwrap();
        assert_eq!(output.code, 3);
        assert_eq!(output.output, "done\n");
    }
}
