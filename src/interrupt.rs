//! What stops a run: Ctrl-C, SIGTERM (a CI job cancelled), SIGHUP (the
//! terminal or session gone) or SIGQUIT, all alike, exiting 130. The async
//! commands (build, test, push) await [`signalled`] and stop what they
//! started; `generate` works synchronously and looks at the flag of
//! [`watch`] between steps, so that a signal never leaves half a tree.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

/// The process's [`Watch`], once [`watch`] started it.
static WATCH: OnceLock<Option<Watch>> = OnceLock::new();

/// Resolves when one of the signals comes, or at once when the [`Watch`]
/// saw one already (between `generate` and the build that follows). The
/// handlers are installed by the call (which must be inside a Tokio
/// runtime), not on first poll, so no signal between the two is lost. A
/// signal that cannot be watched never resolves.
pub fn signalled() -> impl Future<Output = ()> + Send + 'static {
    let mut watched = Signals::new();
    async move {
        let seen = WATCH
            .get()
            .and_then(Option::as_ref)
            .is_some_and(|watch| watch.signalled.load(Ordering::SeqCst));
        if seen {
            return;
        }
        watched.next().await;
    }
}

/// Handlers for the four signals, installed on creation (inside a Tokio
/// runtime); each [`Signals::next`] resolves on the next one that comes.
struct Signals(Vec<tokio::signal::unix::Signal>);

impl Signals {
    fn new() -> Self {
        use tokio::signal::unix::{SignalKind, signal};
        let kinds = [
            SignalKind::interrupt(),
            SignalKind::terminate(),
            SignalKind::hangup(),
            SignalKind::quit(),
        ];
        Self(
            kinds
                .into_iter()
                .filter_map(|kind| signal(kind).ok())
                .collect(),
        )
    }

    /// The next signal; never, when none could be watched.
    async fn next(&mut self) {
        if self.0.is_empty() {
            std::future::pending::<()>().await;
        }
        let waits = self.0.iter_mut().map(|signal| {
            Box::pin(async move {
                signal.recv().await;
            })
        });
        futures_util::future::select_all(waits).await;
    }
}

/// The signals, watched for synchronous work from a thread of their own,
/// from the first call of [`watch`] to the end of the process.
#[derive(Debug)]
pub struct Watch {
    signalled: AtomicBool,
    /// Whether the work looks at `signalled` yet: until then a signal ends
    /// the process at once. A lock, so that the process never ends once the
    /// work has begun writing.
    cooperating: Mutex<bool>,
}

impl Watch {
    /// From now on a signal only sets [`Watch::flag`], and the work stops
    /// itself cleanly where it looks at it.
    pub fn cooperate(&self) {
        *self
            .cooperating
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = true;
    }

    /// Set once a signal came.
    #[must_use]
    pub fn flag(&self) -> &AtomicBool {
        &self.signalled
    }
}

/// Starts watching the signals (once per process). Until
/// [`Watch::cooperate`] a signal exits at once with 130, as nothing has
/// been written yet (a manifest is being read, templates compiled): the
/// default actions would exit 129, 131 or 143 instead. `None` when no
/// watching thread could be started: the signals keep their default actions.
pub fn watch() -> Option<&'static Watch> {
    WATCH
        .get_or_init(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            let mut signals = {
                let _entered = runtime.enter();
                Signals::new()
            };
            std::thread::Builder::new()
                .name("signals".into())
                .spawn(move || {
                    runtime.block_on(signals.next());
                    // Set by the time `watch` returned: this thread is its last step.
                    let Some(watch) = WATCH.wait() else {
                        return;
                    };
                    let cooperating = watch
                        .cooperating
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    watch.signalled.store(true, Ordering::SeqCst);
                    if !*cooperating {
                        interrupted();
                    }
                    drop(cooperating);
                    // A second signal is someone who will not wait for the
                    // work to stop itself (a template still rendering): what
                    // it leaves, a staging tree, the next run removes.
                    runtime.block_on(signals.next());
                    interrupted();
                })
                .ok()?;
            Some(Watch {
                signalled: AtomicBool::new(false),
                cooperating: Mutex::new(false),
            })
        })
        .as_ref()
}

/// From now on a signal no longer ends the process at once (see
/// [`Watch::cooperate`]): for work that stops itself on [`signalled`].
pub fn cooperate() {
    if let Some(watch) = WATCH.get().and_then(Option::as_ref) {
        watch.cooperate();
    }
}

/// A run stopped by a signal, as said when the process ends at once; the
/// command line says the same when the work stopped itself.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("interrupted")]
struct Interrupted;

/// Says so and ends the process with 130.
fn interrupted() -> ! {
    eprintln!("{:?}", miette::Report::new(Interrupted));
    std::process::exit(130);
}
