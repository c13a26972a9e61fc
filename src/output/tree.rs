//! The new contents of the output directory, compared with the old tree
//! file by file and written (only when something differs) into a staging
//! tree that replaces it as a whole.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::Error;
use super::resolve::absolute;
use super::staging::Staging;
use super::writers::{Job, Writers};

/// What committing a [`Tree`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The new tree replaced the old one.
    Replaced,
    /// The old tree already held exactly these files; nothing was touched.
    Unchanged,
    /// A check found that the old tree differs; nothing was touched.
    Stale,
}

/// The new contents of a directory, replacing the old tree as a whole on
/// commit; when every file is the same as before, nothing is written at all
/// (creating files is the slow part of generating, and a rerun after no
/// change should neither pay for it nor touch modification times).
///
/// Files are created by a few writer threads while the caller goes on
/// rendering: creating files and directories is the file system's work,
/// and on a disk it takes longer than rendering them.
#[derive(Debug)]
pub struct Tree {
    target: PathBuf,
    /// Declared before `staging`: writers finish before the staging tree
    /// is removed on drop.
    writers: Option<Writers>,
    staging: Option<Staging>,
    /// Files found identical in the old tree, while nothing differed yet.
    same: Vec<PathBuf>,
    /// Only compare: never write.
    check_only: bool,
    differs: bool,
    /// A write failed: the tree cannot be committed.
    failed: bool,
}

impl Tree {
    /// A tree that is only compared with `target`, never written: its
    /// commit says whether `target` is stale.
    #[must_use]
    pub fn check(target: &Path) -> Self {
        Self {
            target: target.to_path_buf(),
            writers: None,
            staging: None,
            same: Vec::new(),
            check_only: true,
            differs: false,
            failed: false,
        }
    }

    /// A new tree for `target`. What it replaces must look like generated
    /// output: it must not hold the manifest or any of `keep` (the template
    /// directories), and every file in it must be named as generation names
    /// files (`names`, or `*.md`), as `tools/` or the images repo would not be.
    ///
    /// # Errors
    /// When `target` holds something that is not generated.
    pub fn new(
        target: &Path,
        manifest: &Path,
        keep: &[PathBuf],
        names: &[&str],
    ) -> Result<Self, Error> {
        check_replaceable(target, manifest, keep, names)?;
        Ok(Self {
            target: target.to_path_buf(),
            writers: None,
            staging: None,
            same: Vec::new(),
            check_only: false,
            differs: false,
            failed: false,
        })
    }

    /// Adds a file at `relative`. (Adding a directory's files one after
    /// another lets its writer create the directory once.)
    ///
    /// # Errors
    /// When it cannot be written (here or, reported later, by a writer);
    /// the tree cannot be committed then.
    pub fn write(&mut self, relative: &Path, contents: Vec<u8>) -> Result<(), Error> {
        let written = self.add(relative, contents);
        self.failed |= written.is_err();
        written
    }

    fn add(&mut self, relative: &Path, contents: Vec<u8>) -> Result<(), Error> {
        if self.failed {
            return Err(self.failure());
        }
        if self.staging.is_none()
            && fs::read(self.target.join(relative)).is_ok_and(|old| old == contents)
        {
            self.same.push(relative.to_path_buf());
            return Ok(());
        }
        if self.check_only {
            self.differs = true;
            return Ok(());
        }
        let root = self.start()?;
        self.writers(&root)?.send(Job::Write {
            path: root.join(relative),
            contents,
        })
    }

    /// The writer threads, started on first use.
    fn writers(&mut self, root: &Path) -> Result<&mut Writers, Error> {
        let writers = match self.writers.take() {
            Some(writers) => writers,
            None => Writers::new(root)?,
        };
        Ok(self.writers.insert(writers))
    }

    fn failure(&self) -> Error {
        Error::Io {
            action: "write",
            path: self.target.clone(),
            source: io::Error::other("an earlier file could not be written"),
        }
    }

    /// Starts the staging tree (once), with the files found unchanged so
    /// far; returns its root.
    fn start(&mut self) -> Result<PathBuf, Error> {
        if let Some(staging) = &self.staging {
            return Ok(staging.dir.path().to_path_buf());
        }
        let staging = Staging::new(&self.target)?;
        let root = staging.dir.path().to_path_buf();
        self.staging = Some(staging);
        let same = std::mem::take(&mut self.same);
        if !same.is_empty() {
            let target = self.target.clone();
            let writers = self.writers(&root)?;
            for relative in same {
                writers.send(Job::Link {
                    from: target.join(&relative),
                    to: root.join(&relative),
                })?;
            }
        }
        Ok(root)
    }

    /// Puts the new tree in place (or leaves the old one, when identical).
    ///
    /// # Errors
    /// When a file could not be written or the swap fails; the old tree is
    /// then untouched.
    pub fn commit(self) -> Result<Outcome, Error> {
        self.commit_with(&mut || Ok(()))
    }

    /// [`Tree::commit`], calling `swapped` right after the new tree took
    /// the old one's place and before the old one is removed (what goes
    /// with the tree, `metadata.json`, is put in place there: a kill
    /// during the removal leaves both new). Not called when nothing was
    /// swapped.
    ///
    /// # Errors
    /// As [`Tree::commit`], or what `swapped` returns.
    pub fn commit_with(
        mut self,
        swapped: &mut dyn FnMut() -> Result<(), Error>,
    ) -> Result<Outcome, Error> {
        if self.failed {
            return Err(self.failure());
        }
        if self.staging.is_none() {
            let mut old = 0;
            let same = !self.differs
                && count_files(&self.target, &mut old).is_ok()
                && old == self.same.len()
                && old > 0;
            if same {
                return Ok(Outcome::Unchanged);
            }
            if self.check_only {
                return Ok(Outcome::Stale);
            }
            self.start()?;
        }
        if let Some(writers) = self.writers.take() {
            writers.finish()?;
        }
        match self.staging.take() {
            Some(staging) => staging.commit_with(swapped).map(|()| Outcome::Replaced),
            None => Ok(Outcome::Unchanged),
        }
    }
}

fn count_files(dir: &Path, count: &mut usize) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            count_files(&entry.path(), count)?;
        } else {
            *count += 1;
        }
    }
    Ok(())
}

fn check_replaceable(
    target: &Path,
    manifest: &Path,
    keep: &[PathBuf],
    names: &[&str],
) -> Result<(), Error> {
    let refuse = |reason: String| Error::WouldReplaceRepo {
        path: target.to_path_buf(),
        reason,
    };
    let Ok(absolute_target) = absolute(target) else {
        return Ok(());
    };
    if absolute(manifest).is_ok_and(|m| m.starts_with(&absolute_target)) {
        return Err(refuse("it holds the manifest".into()));
    }
    for dir in keep {
        if absolute(dir).is_ok_and(|d| d.starts_with(&absolute_target)) {
            return Err(refuse(format!(
                "it holds the templates in `{}`",
                dir.display()
            )));
        }
    }
    match foreign_file(target, names) {
        Some(file) => Err(refuse(format!(
            "it holds `{}`, which no template renders (remove it if it is stale)",
            file.strip_prefix(target).unwrap_or(&file).display()
        ))),
        None => Ok(()),
    }
}

/// The first file under `dir` that generation would not have written.
fn foreign_file(dir: &Path, names: &[&str]) -> Option<PathBuf> {
    for entry in fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            if let Some(found) = foreign_file(&path, names) {
                return Some(found);
            }
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        if !(name.ends_with(".md") || names.contains(&name.as_str())) {
            return Some(path);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_goes_with_the_tree_is_put_in_place_before_the_old_tree_is_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("generated");
        let manifest = tmp.path().join("manifest.yml");
        let mut tree = Tree::new(&target, &manifest, &[], &["Dockerfile"]).unwrap();
        tree.write(Path::new("a/Dockerfile"), b"old".to_vec())
            .unwrap();
        tree.commit().unwrap();
        let mut tree = Tree::new(&target, &manifest, &[], &["Dockerfile"]).unwrap();
        tree.write(Path::new("a/Dockerfile"), b"new".to_vec())
            .unwrap();
        let mut calls = 0;
        let outcome = tree
            .commit_with(&mut || {
                calls += 1;
                assert_eq!(
                    fs::read_to_string(target.join("a/Dockerfile")).unwrap(),
                    "new"
                );
                // The old tree is still there, beside the new one.
                assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 2);
                Ok(())
            })
            .unwrap();
        assert_eq!((outcome, calls), (Outcome::Replaced, 1));
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 1);
    }
    #[test]
    fn an_identical_tree_is_not_rewritten() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("generated");
        let manifest = tmp.path().join("manifest.yml");
        let write = |contents: &[u8]| {
            let mut tree = Tree::new(&target, &manifest, &[], &["Dockerfile", "extra"]).unwrap();
            tree.write(Path::new("a/Dockerfile"), b"a".to_vec())
                .unwrap();
            tree.write(Path::new("b/Dockerfile"), contents.to_vec())
                .unwrap();
            tree.commit().unwrap()
        };
        assert_eq!(write(b"b"), Outcome::Replaced);
        let inode =
            |p: &str| std::os::unix::fs::MetadataExt::ino(&fs::metadata(target.join(p)).unwrap());
        let before = inode("a/Dockerfile");
        assert_eq!(write(b"b"), Outcome::Unchanged);
        assert_eq!(inode("a/Dockerfile"), before);
        assert_eq!(write(b"changed"), Outcome::Replaced);
        assert_eq!(
            fs::read_to_string(target.join("a/Dockerfile")).unwrap(),
            "a"
        );
        assert_eq!(
            fs::read_to_string(target.join("b/Dockerfile")).unwrap(),
            "changed"
        );
        // An extra file in the old tree is a difference too.
        fs::write(target.join("a/extra"), "x").unwrap();
        assert_eq!(write(b"changed"), Outcome::Replaced);
        assert!(!target.join("a/extra").exists());
    }

    #[test]
    fn the_images_repo_itself_is_never_replaced() {
        let tmp = tempfile::tempdir().unwrap();
        let manifest = tmp.path().join("manifest.yml");
        fs::write(&manifest, "").unwrap();
        let error = Tree::new(tmp.path(), &manifest, &[], &["Dockerfile"]).unwrap_err();
        assert!(matches!(error, Error::WouldReplaceRepo { .. }));
        // Nor a directory of the repo that is not generated output.
        let tools = tmp.path().join("tools");
        fs::create_dir_all(&tools).unwrap();
        fs::write(tools.join("entrypoint.sh"), "#!/bin/sh").unwrap();
        fs::create_dir_all(tools.join("model-server")).unwrap();
        fs::write(tools.join("model-server/run.sh"), "#!/bin/sh").unwrap();
        let error = Tree::new(&tools, &manifest, &[], &["Dockerfile"]).unwrap_err();
        assert!(error.to_string().contains("it holds `"), "{error}");
        let templates = tmp.path().join("out/templates/debian");
        fs::create_dir_all(&templates).unwrap();
        let error = Tree::new(
            &tmp.path().join("out"),
            &manifest,
            &[templates],
            &["Dockerfile"],
        )
        .unwrap_err();
        assert!(
            error.to_string().contains("it holds the templates"),
            "{error}"
        );
    }

    #[test]
    fn writer_threads_write_every_file_in_its_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("generated");
        let manifest = tmp.path().join("manifest.yml");
        let mut tree = Tree::new(&target, &manifest, &[], &["Dockerfile", "run.sh"]).unwrap();
        for i in 0..300 {
            let dir = PathBuf::from(format!("pkg/distro{i}"));
            tree.write(&dir.join("Dockerfile"), format!("FROM {i}").into_bytes())
                .unwrap();
            tree.write(
                &dir.join("runtime/Dockerfile"),
                format!("runtime {i}").into_bytes(),
            )
            .unwrap();
            tree.write(&dir.join("runtime/run.sh"), vec![b'x'; i])
                .unwrap();
        }
        tree.write(Path::new("pkg/README.md"), b"docs".to_vec())
            .unwrap();
        assert_eq!(tree.commit().unwrap(), Outcome::Replaced);
        for i in 0..300 {
            let dir = target.join(format!("pkg/distro{i}"));
            assert_eq!(
                fs::read_to_string(dir.join("Dockerfile")).unwrap(),
                format!("FROM {i}")
            );
            assert_eq!(
                fs::read_to_string(dir.join("runtime/Dockerfile")).unwrap(),
                format!("runtime {i}")
            );
            assert_eq!(fs::read(dir.join("runtime/run.sh")).unwrap().len(), i);
        }
        let mut count = 0;
        count_files(&target, &mut count).unwrap();
        assert_eq!(count, 901);
        // Staging trees are gone: only `generated` is left.
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_file_a_writer_cannot_create_fails_the_commit_and_keeps_the_old_tree() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("generated");
        let manifest = tmp.path().join("manifest.yml");
        let mut tree = Tree::new(&target, &manifest, &[], &["Dockerfile"]).unwrap();
        tree.write(Path::new("a/Dockerfile"), b"old".to_vec())
            .unwrap();
        tree.commit().unwrap();
        let mut tree = Tree::new(&target, &manifest, &[], &["Dockerfile"]).unwrap();
        // `b` is a file, so nothing can be created under it.
        tree.write(Path::new("b"), b"file".to_vec()).unwrap();
        let mut result = Ok(());
        for i in 0..200 {
            // The error surfaces here once the writer stopped, or at commit.
            result = tree.write(
                &Path::new("b").join(format!("{i}/Dockerfile")),
                b"x".to_vec(),
            );
            if result.is_err() {
                break;
            }
        }
        let error = match result {
            Err(error) => {
                // The tree is spoiled: nothing more is written or committed.
                assert!(
                    tree.write(Path::new("c/Dockerfile"), b"c".to_vec())
                        .is_err()
                );
                assert!(tree.commit().is_err());
                error
            }
            Ok(()) => tree.commit().unwrap_err(),
        };
        assert!(matches!(error, Error::Io { .. }), "{error}");
        assert_eq!(
            fs::read_to_string(target.join("a/Dockerfile")).unwrap(),
            "old"
        );
    }
}
