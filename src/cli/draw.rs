//! How the command line draws a run (build, test, push): live bars on a
//! terminal, plain timestamped lines otherwise, and the summary table at
//! the end.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::run::{CheckFailure, Event, Outcome, Reporter, Status, Summary, Work};

/// Live bars when standard error is a terminal, timestamped lines otherwise;
/// `total` sets the overall bar's length when known before the first event.
#[must_use]
pub fn progress(total: Option<usize>) -> Arc<dyn Reporter> {
    if !std::io::stderr().is_terminal() {
        return Arc::new(Lines);
    }
    let bars = Bars::new();
    if let Some(total) = total {
        bars.total(total);
    }
    Arc::new(bars)
}

/// Plain lines on standard error, one per start and end of each item.
pub struct Lines;

fn finished_line(outcome: &Outcome) -> String {
    if let Some(reference) = &outcome.reference {
        return push_line(outcome, reference);
    }
    let mut line = format!("{} {}", outcome.status.as_str(), outcome.target);
    if outcome.status == Status::Built || outcome.status == Status::Failed {
        let _ = write!(line, " ({:.1} s)", outcome.seconds);
    }
    if let Some(reason) = &outcome.reason
        && outcome.status != Status::Built
    {
        let _ = write!(line, ": {reason}");
    }
    if outcome.status == Status::Failed {
        for tail in &outcome.log_tail {
            let _ = write!(line, "\n    | {tail}");
        }
        if let Some(log) = &outcome.log {
            let _ = write!(line, "\n    full log: {}", log.display());
        }
    }
    line
}

impl Reporter for Lines {
    fn event(&self, event: Event<'_>) {
        let now = jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ");
        let line = match event {
            Event::Begin {
                work: Work::Push,
                total,
            } => format!("{total} pushes"),
            Event::Begin { total, .. } => format!("{total} targets"),
            Event::Pulling { target, image } => format!("pulling {image} for {target}"),
            Event::Building { target } => format!("started {target}"),
            Event::Testing { target, command } => format!("testing {target}: {command}"),
            Event::Checking {
                registry,
                repository,
            } => checking_line(registry, repository),
            Event::CheckFailed { failure, pushes } => check_line(failure, pushes),
            Event::Pushing { target, reference } => format!("pushing {target} -> {reference}"),
            Event::Finished { outcome } => finished_line(outcome),
            Event::Step { .. } | Event::Checked { .. } => return,
        };
        let _ = writeln!(std::io::stderr().lock(), "{now} {line}");
    }
}

/// The line of a running build: target, step (or what it waits for), elapsed.
const BUILDING: &str = "{spinner} {prefix} {msg} {elapsed}";

/// Live progress on a terminal: a line per running item (a build with its
/// step, a test, a push, a credential check; elapsed) above an overall bar.
pub struct Bars {
    multi: MultiProgress,
    overall: ProgressBar,
    running: Mutex<HashMap<String, ProgressBar>>,
}

impl Bars {
    /// Bars drawn on standard error.
    #[must_use]
    pub fn new() -> Self {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let overall = multi.add(ProgressBar::new(0));
        overall.set_style(
            ProgressStyle::with_template("{bar:30} {pos}/{len} targets, {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Self {
            multi,
            overall,
            running: Mutex::new(HashMap::new()),
        }
    }

    /// The line of a running target (drawn with `template`), added when it
    /// has none yet.
    fn spinner(&self, target: &str, template: &str) -> ProgressBar {
        self.running()
            .entry(target.to_string())
            .or_insert_with(|| {
                let bar = self
                    .multi
                    .insert_before(&self.overall, ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template(template)
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.set_prefix(target.to_string());
                bar.enable_steady_tick(Duration::from_millis(120));
                bar
            })
            .clone()
    }

    fn running(&self) -> std::sync::MutexGuard<'_, HashMap<String, ProgressBar>> {
        self.running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Default for Bars {
    fn default() -> Self {
        Self::new()
    }
}

impl Reporter for Bars {
    fn event(&self, event: Event<'_>) {
        match event {
            Event::Begin { total, .. } => self.overall.set_length(total as u64),
            Event::Pulling { target, image } => {
                self.spinner(target, BUILDING)
                    .set_message(format!("pulling {image}"));
            }
            Event::Building { target } => self.spinner(target, BUILDING).set_message(""),
            Event::Step {
                target,
                current,
                total,
            } => self.message(target, format!("step {current}/{total}")),
            Event::Testing { target, command } => {
                self.spinner(target, BUILDING)
                    .set_message(format!("testing: {command}"));
            }
            Event::Checking {
                registry,
                repository,
            } => {
                self.spinner(
                    &checking_line(registry, repository),
                    "{spinner} {prefix} {elapsed}",
                );
            }
            Event::Checked {
                registry,
                repository,
            } => self.done(&checking_line(registry, repository)),
            Event::CheckFailed { failure, pushes } => {
                self.overall.inc(pushes as u64);
                let _ = self.multi.println(check_line(failure, pushes));
            }
            Event::Pushing { reference, .. } => {
                self.spinner(reference, "{spinner} pushing {prefix} {elapsed}");
            }
            Event::Finished { outcome } => {
                self.done(outcome.item());
                self.overall.inc(1);
                let _ = self.multi.println(finished_line(outcome));
            }
        }
    }
}

impl Bars {
    /// Sets the message of `item`'s line, if it has one.
    fn message(&self, item: &str, message: String) {
        if let Some(bar) = self.running().get(item) {
            bar.set_message(message);
        }
    }

    /// Removes `item`'s line.
    fn done(&self, item: &str) {
        if let Some(bar) = self.running().remove(item) {
            bar.finish_and_clear();
            self.multi.remove(&bar);
        }
    }
}

impl Drop for Bars {
    fn drop(&mut self) {
        self.overall.finish_and_clear();
    }
}

/// The summary: a table of every item, then the totals.
pub fn summary(summary: &Summary, out: &mut dyn Write) -> std::io::Result<()> {
    match summary.work {
        Work::Build | Work::Test => build_table(summary, out)?,
        Work::Push => push_table(summary, out)?,
    }
    let totals = totals(summary);
    let interrupted = if summary.interrupted {
        " (interrupted)"
    } else {
        ""
    };
    match summary.work {
        Work::Build | Work::Test => writeln!(
            out,
            "{totals} with {} in {:.1} s{interrupted}",
            summary.engine, summary.seconds,
        ),
        Work::Push => writeln!(
            out,
            "{} in {:.1} s{interrupted}",
            if totals.is_empty() {
                "nothing to push"
            } else {
                &totals
            },
            summary.seconds,
        ),
    }
}

/// How many items ended each way, in the order of the work's own words.
fn totals(summary: &Summary) -> String {
    let order: &[Status] = match summary.work {
        Work::Build | Work::Test => &[
            Status::Built,
            Status::UpToDate,
            Status::UpToDateInRegistry,
            Status::Passed,
            Status::WouldBuild,
            Status::Failed,
            Status::Skipped,
            Status::Cancelled,
        ],
        Work::Push => &[
            Status::Pushed,
            Status::Failed,
            Status::Cancelled,
            Status::Skipped,
        ],
    };
    let mut totals = Vec::new();
    for status in order {
        let n = summary.count(status);
        if n > 0 {
            totals.push(format!("{n} {}", status.as_str()));
        }
    }
    totals.join(", ")
}

/// Target, result, time and detail of each target.
fn build_table(summary: &Summary, out: &mut dyn Write) -> std::io::Result<()> {
    let rows: Vec<Vec<String>> = summary
        .targets
        .iter()
        .map(|o| {
            vec![
                o.target.clone(),
                o.status.as_str().to_string(),
                if o.seconds > 0.05 {
                    format!("{:.1} s", o.seconds)
                } else {
                    String::new()
                },
                o.reason.clone().unwrap_or_default(),
            ]
        })
        .collect();
    aligned_table(&["TARGET", "RESULT", "TIME", "DETAIL"], &rows, &[2], out)
}

fn push_line(outcome: &Outcome, reference: &str) -> String {
    let mut line = format!(
        "{} {} -> {reference}",
        outcome.status.as_str(),
        outcome.target,
    );
    if let Some(digest) = &outcome.digest {
        let _ = write!(line, " ({digest})");
    }
    if let Some(reason) = &outcome.reason {
        let _ = write!(line, ": {reason}");
    }
    line
}

/// A credential check starting: said before it, so that a registry that
/// makes it wait is not silence.
fn checking_line(registry: &str, repository: &str) -> String {
    format!("checking credentials for {registry} (push access to {repository})…")
}

/// A failed credential check, with how many pushes it stops (the summary
/// says why, once).
fn check_line(failure: &CheckFailure, pushes: usize) -> String {
    format!(
        "failed the credential check of {}: {pushes} {} not attempted",
        failure.registry,
        if pushes == 1 { "push" } else { "pushes" }
    )
}

impl Bars {
    /// Sets how many items the overall bar counts.
    pub fn total(&self, total: usize) {
        self.overall.set_length(total as u64);
    }
}

/// A table with a header, columns padded but the last.
pub fn table(header: &[&str], rows: &[Vec<String>], out: &mut dyn Write) -> std::io::Result<()> {
    aligned_table(header, rows, &[], out)
}

/// A table whose columns in `right` are right-aligned (numbers, times).
pub fn aligned_table(
    header: &[&str],
    rows: &[Vec<String>],
    right: &[usize],
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let columns = header.len();
    let mut widths = vec![0; columns];
    let header: Vec<String> = header.iter().map(ToString::to_string).collect();
    for row in std::iter::once(&header).chain(rows) {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if right.contains(&i) {
                let _ = write!(line, "{cell:>width$}  ", width = widths[i]);
            } else if i + 1 < columns {
                let _ = write!(line, "{cell:<width$}  ", width = widths[i]);
            } else {
                line.push_str(cell);
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// Target x registry with digest or error; each failed credential check
/// said once below.
fn push_table(summary: &Summary, out: &mut dyn Write) -> std::io::Result<()> {
    let rows: Vec<Vec<String>> = summary
        .targets
        .iter()
        .map(|p| {
            // A failed credential check is said once, below the table.
            let checked = summary
                .checks
                .iter()
                .any(|c| Some(&c.message) == p.reason.as_ref());
            vec![
                p.target.clone(),
                p.registry.clone().unwrap_or_default(),
                p.status.as_str().to_string(),
                if checked {
                    "not pushed: the credential check failed (below)".to_string()
                } else {
                    p.digest
                        .clone()
                        .filter(|_| p.status == Status::Pushed)
                        .or_else(|| p.reason.clone())
                        .unwrap_or_default()
                },
            ]
        })
        .collect();
    table(
        &["TARGET", "REGISTRY", "RESULT", "DIGEST / ERROR"],
        &rows,
        out,
    )?;
    for check in &summary.checks {
        writeln!(out, "error: {}", check.message)?;
    }
    Ok(())
}
