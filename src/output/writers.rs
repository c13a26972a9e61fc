//! The threads that create a staging tree's files while the caller goes on
//! rendering.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::{Error, io_error};

/// Work for a writer thread.
pub(super) enum Job {
    /// Create `path` with `contents`.
    Write { path: PathBuf, contents: Vec<u8> },
    /// Hard-link (or copy) an unchanged file of the old tree.
    Link { from: PathBuf, to: PathBuf },
}

impl Job {
    fn path(&self) -> &Path {
        match self {
            Self::Write { path, .. } | Self::Link { to: path, .. } => path,
        }
    }

    fn run(self) -> Result<(), Error> {
        match self {
            Self::Write { path, contents } => {
                fs::write(&path, contents).map_err(io_error("write", &path))
            }
            Self::Link { from, to } => {
                if fs::hard_link(&from, &to).is_err() {
                    fs::copy(&from, &to).map_err(io_error("copy", &from))?;
                }
                Ok(())
            }
        }
    }
}

/// Writer threads. A directory's files all go to one thread, in order, so
/// each thread creates the directories of its own files; the first error
/// stops its thread and is reported by [`Writers::finish`].
#[derive(Debug)]
pub(super) struct Writers {
    /// The staging tree, for messages.
    root: PathBuf,
    senders: Vec<std::sync::mpsc::SyncSender<Job>>,
    threads: Vec<std::thread::JoinHandle<Result<(), Error>>>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Job").field(&self.path()).finish()
    }
}

impl Writers {
    /// Two threads at least (the caller renders meanwhile), four at most
    /// (more only contend for the file system's journal).
    /// Fewer start when the system refuses threads; none is an error.
    pub(super) fn new(root: &Path) -> Result<Self, Error> {
        let count = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 4));
        let mut senders = Vec::with_capacity(count);
        let mut threads = Vec::with_capacity(count);
        for _ in 0..count {
            // Bounded: rendering never runs far ahead of the disk, so memory
            // does not grow with the output.
            let (sender, receiver) = std::sync::mpsc::sync_channel::<Job>(64);
            let spawned = std::thread::Builder::new()
                .name("writer".into())
                .spawn(move || {
                    let mut current: Option<PathBuf> = None;
                    for job in receiver {
                        let parent = job.path().parent().map(Path::to_path_buf);
                        if let Some(parent) = parent
                            && current.as_ref() != Some(&parent)
                        {
                            fs::create_dir_all(&parent).map_err(io_error("create", &parent))?;
                            current = Some(parent);
                        }
                        job.run()?;
                    }
                    Ok(())
                });
            match spawned {
                Ok(thread) => {
                    senders.push(sender);
                    threads.push(thread);
                }
                Err(source) if threads.is_empty() => {
                    return Err(Error::Io {
                        action: "start a thread writing into",
                        path: root.to_path_buf(),
                        source,
                    });
                }
                Err(_) => break,
            }
        }
        Ok(Self {
            root: root.to_path_buf(),
            senders,
            threads,
        })
    }

    pub(super) fn send(&mut self, job: Job) -> Result<(), Error> {
        use std::hash::{Hash, Hasher};
        if self.senders.is_empty() {
            return Err(self.stopped("the writer threads stopped"));
        }
        let mut hasher = std::hash::DefaultHasher::new();
        job.path().parent().hash(&mut hasher);
        // The modulo is below the number of threads, which fits in usize.
        #[allow(clippy::cast_possible_truncation)]
        let index = (hasher.finish() % self.senders.len() as u64) as usize;
        if self.senders[index].send(job).is_err() {
            // The thread stopped on an error: report it.
            self.senders.clear();
            self.join()?;
            return Err(self.stopped("a writer thread stopped"));
        }
        Ok(())
    }

    /// Waits for every file to be written.
    pub(super) fn finish(mut self) -> Result<(), Error> {
        self.senders.clear();
        self.join()
    }

    fn stopped(&self, why: &str) -> Error {
        Error::Io {
            action: "write files into",
            path: self.root.clone(),
            source: io::Error::other(why),
        }
    }

    fn join(&mut self) -> Result<(), Error> {
        let mut result = Ok(());
        for thread in std::mem::take(&mut self.threads) {
            let outcome = thread
                .join()
                .unwrap_or_else(|_| Err(self.stopped("a writer thread panicked")));
            if result.is_ok() {
                result = outcome;
            }
        }
        result
    }
}

impl Drop for Writers {
    fn drop(&mut self) {
        self.senders.clear();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}
