//! Build and test logs. Each run writes its own file beside the log it
//! will replace, `NAME.log.RANDOM.partial`, flushed line by line as the
//! builder speaks (so it can be followed with `tail -f`), and renames it
//! to `NAME.log` when the build ends, however it ends. A run that is
//! killed (SIGKILL) leaves the last whole log in place and its partial file
//! beside it, which the next build or test run removes; two runs at once
//! never write into one file, and the log is that of the run that ended
//! last.
//!
//! A partial file is live while its run holds an advisory lock (`flock`)
//! on it: the kernel drops the lock when the run ends, however it ends.
//! PIDs would not do: runs in containers sharing a checkout each see
//! themselves as PID 1, and one run cannot see another's PID at all.

use std::fs::File;
use std::io::{self, LineWriter, Write};
use std::path::{Path, PathBuf};

use rustix::fs::{FlockOperation, flock};

const PARTIAL: &str = ".partial";

/// A log being written; in place at `path` once dropped.
pub struct Log {
    writer: Option<LineWriter<File>>,
    partial: PathBuf,
    path: PathBuf,
}

impl Log {
    /// Starts the log that will be `path`, creating its directory.
    ///
    /// # Errors
    /// When the directory is not one (`--log-dir FILE`) or cannot be written.
    pub fn create(path: &Path) -> io::Result<Self> {
        let dir = path.parent().unwrap_or(Path::new("."));
        check_directory(dir)?;
        std::fs::create_dir_all(dir)?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (file, partial) = loop {
            let (file, partial) = partial_file(dir, &name)?;
            // Locked once created: a sweep that opened it in between (and
            // so took it for abandoned) may have removed it. Blocking, so
            // that such a sweep is done, and then checked.
            flock(&file, FlockOperation::LockExclusive)?;
            if same_file(&file, &partial) {
                break (file, partial);
            }
        };
        Ok(Self {
            writer: Some(LineWriter::new(file)),
            partial,
            path: path.to_path_buf(),
        })
    }
}

/// A new partial file for the log `name` in `dir`, named uniquely.
fn partial_file(dir: &Path, name: &str) -> io::Result<(File, PathBuf)> {
    use std::os::unix::fs::PermissionsExt;
    tempfile::Builder::new()
        .prefix(&format!("{name}."))
        .suffix(PARTIAL)
        .rand_bytes(10)
        .permissions(std::fs::Permissions::from_mode(0o644))
        .tempfile_in(dir)?
        .keep()
        .map_err(|e| e.error)
}

/// Whether the open `file` is still the one at `path`.
fn same_file(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(open), Ok(named)) => open.dev() == named.dev() && open.ino() == named.ino(),
        _ => false,
    }
}

/// Removes every partial log in `dir` whose run is gone (killed): called
/// at the start of each build or test run, so that a target that is not
/// built again does not keep one forever.
pub fn sweep(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        // Only what a run of this tool names so (`--log-dir` may be shared).
        if !file.ends_with(PARTIAL) || !file.contains(".log.") {
            continue;
        }
        let Ok(open) = File::open(entry.path()) else {
            continue;
        };
        // Removed while locked: its owner, if it were starting, waits and
        // then sees that its file is gone.
        if flock(&open, FlockOperation::NonBlockingLockExclusive).is_ok()
            && entry.file_type().is_ok_and(|t| t.is_file())
        {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

impl Write for Log {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.writer {
            Some(writer) => writer.write(buf),
            None => Ok(buf.len()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.writer {
            Some(writer) => writer.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for Log {
    /// The build ended (done, failed, timed out or cancelled): its log
    /// replaces the previous one.
    fn drop(&mut self) {
        if let Some(mut writer) = self.writer.take() {
            let _ = writer.flush();
            drop(writer);
            let _ = std::fs::rename(&self.partial, &self.path);
        }
    }
}

/// `dir` may be created or used as the log directory: an error naming it
/// when it, or a parent of it, is a file.
///
/// # Errors
/// When it is not a directory.
pub fn check_directory(dir: &Path) -> io::Result<()> {
    for ancestor in dir.ancestors().filter(|a| !a.as_os_str().is_empty()) {
        match std::fs::metadata(ancestor) {
            Ok(metadata) if metadata.is_dir() => return Ok(()),
            Ok(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::NotADirectory,
                    format!("`{}` is not a directory", ancestor.display()),
                ));
            }
            Err(_) => {}
        }
    }
    Ok(())
}

/// Lines of a failed build or test kept in the summary.
pub(super) const TAIL_LINES: usize = 30;

/// The build log's file name for a target (`PACKAGE_TAG.log`, any character
/// a file name should not hold replaced).
pub(super) fn file_name(target: &str) -> String {
    let safe: String = target
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{safe}.log")
}

/// The test log's file name for a target.
pub(super) fn test_file_name(target: &str) -> String {
    file_name(target).replace(".log", ".test.log")
}

/// The last `n` lines of `text`.
pub(super) fn last_lines(text: &str, n: usize) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bug: a log was written only when its build ended, and a new run
    /// truncated the previous log first, so a killed run left it empty.
    #[test]
    fn a_log_streams_beside_the_previous_one_and_replaces_it_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs/app.log");
        drop(Log::create(&path).unwrap());
        std::fs::write(&path, "the previous run\n").unwrap();
        let mut log = Log::create(&path).unwrap();
        writeln!(log, "step 1").unwrap();
        // Streamed: on disk before the build ends, the old log untouched.
        let partial: Vec<PathBuf> = std::fs::read_dir(dir.path().join("logs"))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.to_string_lossy().ends_with(PARTIAL))
            .collect();
        assert_eq!(partial.len(), 1);
        assert_eq!(std::fs::read_to_string(&partial[0]).unwrap(), "step 1\n");
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "the previous run\n"
        );
        drop(log);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "step 1\n");
        assert!(!partial[0].exists());
    }

    #[test]
    fn two_runs_at_once_each_write_a_whole_log() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        let mut first = Log::create(&path).unwrap();
        let mut second = Log::create(&path).unwrap();
        writeln!(first, "first 1").unwrap();
        writeln!(second, "second 1").unwrap();
        writeln!(first, "first 2").unwrap();
        drop(first);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "first 1\nfirst 2\n"
        );
        writeln!(second, "second 2").unwrap();
        drop(second);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "second 1\nsecond 2\n"
        );
    }

    /// The bug: liveness was judged by PID, and runs in other PID
    /// namespaces (containers sharing a checkout) have PIDs that mean
    /// nothing here: a live run's partial log was removed, or a dead one's
    /// kept because PID 1 is always alive. The lock decides now.
    #[test]
    fn a_partial_log_is_live_while_its_run_holds_it_whatever_its_pid() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        let mut live = Log::create(&path).unwrap();
        writeln!(live, "running").unwrap();
        // Left by runs killed with SIGKILL, named by PIDs that are alive.
        let dead = [
            dir.path().join(format!("app.log.1-0{PARTIAL}")),
            dir.path()
                .join(format!("other.log.{}-0{PARTIAL}", std::process::id())),
            dir.path().join(format!("app.log.Xy7Qa9{PARTIAL}")),
        ];
        for file in &dead {
            std::fs::write(file, "cut").unwrap();
        }
        let unrelated = dir.path().join(format!("notes{PARTIAL}"));
        std::fs::write(&unrelated, "mine").unwrap();
        sweep(dir.path());
        for file in &dead {
            assert!(!file.exists(), "{}", file.display());
        }
        assert!(unrelated.exists());
        assert!(live.partial.exists());
        drop(live);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "running\n");
    }

    /// The bug: two runs that are both PID 1 (containers sharing a
    /// checkout) named their partial logs alike, and the second failed
    /// with `File exists`.
    #[test]
    fn a_partial_log_named_by_another_run_with_the_same_pid_does_not_stop_a_log() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        for n in 0..64 {
            let other = dir
                .path()
                .join(format!("app.log.{}-{n}{PARTIAL}", std::process::id()));
            std::fs::write(other, "another namespace's run").unwrap();
        }
        let mut log = Log::create(&path).unwrap();
        writeln!(log, "mine").unwrap();
        drop(log);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "mine\n");
    }

    /// The bug: `--log-dir FILE` failed with "File exists".
    #[test]
    fn a_log_directory_that_is_a_file_is_named_as_not_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, "").unwrap();
        for path in [file.join("app.log"), file.join("deeper/app.log")] {
            let Err(error) = Log::create(&path) else {
                panic!("a log under a file");
            };
            assert_eq!(
                error.to_string(),
                format!("`{}` is not a directory", file.display())
            );
        }
    }
}
