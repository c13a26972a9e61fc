//! Programs an engine runs (buildah, `docker buildx`): each the leader of
//! a process group of its own ([`own_group`]), stopped as a whole when its
//! work is cut off ([`stop`], [`StopOnDrop`]), its pipes read to their end.

use tokio::process::Command;

/// The last line of a program's output that says something, or `none`
/// when it said nothing.
pub(super) fn last_line(bytes: &[u8], none: &str) -> String {
    String::from_utf8_lossy(bytes)
        .lines()
        .rev()
        .find(|line| !line.trim().is_empty())
        .unwrap_or(none)
        .trim()
        .to_string()
}

/// Everything a child writes on one pipe, as text.
pub(super) async fn read_all(mut pipe: impl tokio::io::AsyncRead + Unpin) -> String {
    let mut bytes = Vec::new();
    let _ = tokio::io::AsyncReadExt::read_to_end(&mut pipe, &mut bytes).await;
    String::from_utf8_lossy(&bytes).into_owned()
}

/// How long a program gets to stop after SIGTERM.
const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// Stops a program and everything it started: its process group (see
/// [`own_group`]) gets SIGTERM, so that it can stop what it runs itself
/// (buildah its OCI runtime's containers, which SIGKILL would strand;
/// buildx its builds on the builder), and what it leaves running (`RUN`
/// steps under buildah's chroot isolation) stops too; whatever is left
/// once it has gone, or after [`STOP_GRACE`], is killed.
pub(super) async fn stop(child: &mut tokio::process::Child) {
    let group = child
        .id()
        .and_then(|p| i32::try_from(p).ok())
        .and_then(rustix::process::Pid::from_raw);
    let signal = |signal| {
        if let Some(group) = group {
            let _ = rustix::process::kill_process_group(group, signal);
        }
    };
    signal(rustix::process::Signal::TERM);
    let _ = tokio::time::timeout(STOP_GRACE, child.wait()).await;
    signal(rustix::process::Signal::KILL);
    let _ = child.wait().await;
}

/// Starts `command` as the leader of a process group of its own, which
/// [`stop`] signals as a whole. Ctrl-C on a terminal then reaches only this
/// program, which stops the child itself.
pub(super) fn own_group(command: &mut Command) -> &mut Command {
    command.process_group(0)
}

/// A child that, dropped before it ended (a build cut off), is
/// stopped by [`stop`] in a task of its own, which `clean_up` waits for.
pub(super) struct StopOnDrop {
    pub(super) child: Option<tokio::process::Child>,
    pub(super) runs: super::Runs,
}

impl StopOnDrop {
    /// Waits for the child to end; it is then not stopped on drop.
    pub(super) async fn wait(&mut self) -> std::io::Result<std::process::ExitStatus> {
        let Some(child) = self.child.as_mut() else {
            return Err(std::io::Error::other("already waited for"));
        };
        let status = child.wait().await;
        self.child = None;
        status
    }
}

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            self.runs.spawn(async move { stop(&mut child).await });
        }
    }
}

/// Sends the lines of a child's pipe to `lines` until the pipe ends, read
/// to its end even when nobody listens any more.
pub(super) async fn forward_lines<R>(
    pipe: tokio::io::Split<R>,
    lines: tokio::sync::mpsc::UnboundedSender<String>,
) where
    R: tokio::io::AsyncBufRead + Unpin,
{
    let mut pipe = std::pin::pin!(tokio_stream_lines(pipe));
    while let Some(line) = futures_util::StreamExt::next(&mut pipe).await {
        let _ = lines.send(line);
    }
}

/// Lines of a child's pipe as a stream; bytes that are not UTF-8 are
/// replaced rather than ending the stream.
fn tokio_stream_lines<R>(lines: tokio::io::Split<R>) -> impl futures_util::Stream<Item = String>
where
    R: tokio::io::AsyncBufRead + Unpin,
{
    futures_util::stream::unfold(lines, |mut lines| async move {
        match lines.next_segment().await {
            Ok(Some(line)) => {
                let text = String::from_utf8_lossy(&line)
                    .trim_end_matches('\r')
                    .to_string();
                Some((text, lines))
            }
            _ => None,
        }
    })
}
