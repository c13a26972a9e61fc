//! Build and test logs. Each run writes its own file beside the log it
//! will replace, `NAME.log.PID-N.partial`, flushed line by line as the
//! builder speaks (so it can be followed with `tail -f`), and renames it
//! to `NAME.log` when the build ends, however it ends. A run that is
//! killed (SIGKILL) leaves the last whole log in place and its partial file
//! beside it, which a later run removes; two runs at once never write into
//! one file, and the log is that of the run that ended last.

use std::fs::File;
use std::io::{self, LineWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

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
        static RUNS: AtomicUsize = AtomicUsize::new(0);
        let dir = path.parent().unwrap_or(Path::new("."));
        check_directory(dir)?;
        std::fs::create_dir_all(dir)?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        remove_abandoned(dir, &name);
        let partial = dir.join(format!(
            "{name}.{}-{}{PARTIAL}",
            std::process::id(),
            RUNS.fetch_add(1, Ordering::Relaxed)
        ));
        let file = File::create_new(&partial)?;
        Ok(Self {
            writer: Some(LineWriter::new(file)),
            partial,
            path: path.to_path_buf(),
        })
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

/// Removes the partial logs of `name` left by runs that are gone (killed).
fn remove_abandoned(dir: &Path, name: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let prefix = format!("{name}.");
    for entry in entries.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        let Some(owner) = file
            .strip_prefix(&prefix)
            .and_then(|rest| rest.strip_suffix(PARTIAL))
            .and_then(|rest| rest.split_once('-'))
            .and_then(|(pid, _)| pid.parse::<i32>().ok())
        else {
            continue;
        };
        if !alive(owner) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Whether process `pid` exists.
fn alive(pid: i32) -> bool {
    let Some(pid) = rustix::process::Pid::from_raw(pid) else {
        return false;
    };
    !matches!(
        rustix::process::test_kill_process(pid),
        Err(rustix::io::Errno::SRCH)
    )
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

    #[test]
    fn partial_logs_of_killed_runs_are_removed_and_live_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        // No process has PID 2^22 + 1 (above Linux's pid_max).
        let dead = dir
            .path()
            .join(format!("app.log.{}-0{PARTIAL}", (1 << 22) + 1));
        let live = dir
            .path()
            .join(format!("app.log.{}-99{PARTIAL}", std::process::id()));
        std::fs::write(&dead, "cut").unwrap();
        std::fs::write(&live, "running").unwrap();
        drop(Log::create(&path).unwrap());
        assert!(!dead.exists());
        assert!(live.exists());
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
