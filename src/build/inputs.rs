//! What an image is made of, as one hash: its Dockerfile, the context files
//! it copies, its build arguments and what it is built FROM. An image whose
//! label carries the current hash is up to date.
//!
//! The hash chains through the graph: a base built from this plan counts by
//! its own inputs hash (not by the ID of the image it became), an external
//! base by its image ID. So every hash of a plan is known before anything
//! is built, and an engine that builds the whole graph in one call can be
//! handed exactly the stale targets.

use std::fmt::Write as _;
use std::fs;

use sha2::{Digest, Sha256};

use crate::context::Context;
use crate::dockerfile::{self, SourcePattern};

/// The label that carries the inputs hash.
pub const LABEL: &str = "org.bentoml.docker.inputs";

/// The label that carries the ID of the base image an image was built
/// FROM, where the builder knew it: a base rebuilt since (same inputs, a
/// new image) makes its dependents stale.
pub const BASE_LABEL: &str = "org.bentoml.docker.base";

/// What a base built from this plan counts as in its dependents' hashes.
#[must_use]
pub fn chained(base_inputs: &str) -> String {
    format!("inputs:{base_inputs}")
}

/// The context files an image reads: the sources of its `COPY` and `ADD`
/// instructions (not `--from` another stage, not URLs). `None` when they
/// cannot be known (an unparseable Dockerfile, a source with a variable
/// that is not a build argument): then every file of the context counts.
#[must_use]
pub fn copied_files<'c>(
    dockerfile: &str,
    context: &'c Context,
    build_args: &[(String, String)],
) -> Option<Vec<&'c crate::context::File>> {
    let mut files = Vec::new();
    for source in dockerfile::copied_sources(dockerfile, build_args)? {
        let pattern = SourcePattern::new(&source)?;
        files.extend(context.files().iter().filter(|f| pattern.matches(&f.path)));
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files.dedup_by(|a, b| a.path == b.path);
    Some(files)
}

/// Whether an image whose base label says `recorded` was built FROM
/// another image than its base is `now` (the base rebuilt alone since,
/// with the same inputs). No label, or an empty one (the base's ID was not
/// known when it was built: in one bake graph with its base), is not
/// judged so: its inputs hash, which chains through the base's, says it.
#[must_use]
pub fn base_moved(recorded: Option<&str>, now: &str) -> bool {
    recorded.is_some_and(|recorded| !recorded.is_empty() && recorded != now)
}

/// The inputs hash of one image; `base` is what it is built FROM: an
/// external image's ID, or [`chained`] of a plan base's inputs hash;
/// `platforms` what it is built for (none: the builder's own, which adds
/// nothing to the hash, so single-platform images keep their hash).
///
/// # Errors
/// When a copied file cannot be read.
pub fn hash(
    dockerfile: &str,
    context: &Context,
    build_args: &[(String, String)],
    base: &str,
    platforms: &[String],
) -> Result<String, String> {
    let mut hasher = Sha256::new();
    let mut field = |name: &str, value: &[u8]| {
        hasher.update(name.as_bytes());
        hasher.update((value.len() as u64).to_le_bytes());
        hasher.update(value);
    };
    field("dockerfile", dockerfile.as_bytes());
    let mut args = build_args.to_vec();
    args.sort();
    for (name, value) in &args {
        field("arg", format!("{name}={value}").as_bytes());
    }
    field("from", base.as_bytes());
    for platform in platforms {
        field("platform", platform.as_bytes());
    }
    let files = copied_files(dockerfile, context, build_args)
        .unwrap_or_else(|| context.files().iter().collect());
    for file in files {
        field("path", file.path.as_bytes());
        field("mode", &file.mode.to_le_bytes());
        if let Some(link) = &file.link {
            field("link", link.as_os_str().as_encoded_bytes());
        } else {
            let data = fs::read(context.root().join(&file.path))
                .map_err(|e| format!("cannot read `{}`: {e}", file.path))?;
            field("data", &data);
        }
    }
    let digest = hasher.finalize();
    let mut hex = String::with_capacity(71);
    hex.push_str("sha256:");
    for byte in &digest {
        let _ = write!(hex, "{byte:02x}");
    }
    Ok(hex)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(files: &[(&str, &str)]) -> (tempfile::TempDir, Context) {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let path = dir.path().join(path);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, text).unwrap();
        }
        let context = Context::scan(dir.path()).unwrap();
        (dir, context)
    }

    fn paths(files: Option<Vec<&crate::context::File>>) -> Option<Vec<String>> {
        files.map(|f| f.iter().map(|f| f.path.clone()).collect())
    }

    #[test]
    fn copied_files_follow_copy_and_add_sources() {
        let (_dir, ctx) = context(&[
            ("tools/a.sh", "a"),
            ("tools/sub/b.sh", "b"),
            ("generated/x/cuda.repo", "c"),
            ("other", "o"),
            ("py/3.11/req.txt", "r"),
        ]);
        let dockerfile = "ARG PYTHON_VERSION\nFROM x:${PYTHON_VERSION}\nCOPY tools /t\nADD --chown=1 generated/*/cuda.repo /etc/\nCOPY --from=build /x /y\nCOPY py/$PYTHON_VERSION/req.txt /r\nADD https://example.com/f /f\n";
        let args = [("PYTHON_VERSION".to_string(), "3.11".to_string())];
        assert_eq!(
            paths(copied_files(dockerfile, &ctx, &args)).unwrap(),
            [
                "generated/x/cuda.repo",
                "py/3.11/req.txt",
                "tools/a.sh",
                "tools/sub/b.sh"
            ]
        );
        // Here-documents are written in the Dockerfile; the JSON form reads
        // the context like the shell form; `ADD` of a Git repository does not.
        let dockerfile = "FROM x\nCOPY <<EOF /etc/motd\nhello\nEOF\nCOPY [\"other\", \"/o\"]\nADD git@github.com:org/repo.git /src\n";
        assert_eq!(
            paths(copied_files(dockerfile, &ctx, &args)).unwrap(),
            ["other"]
        );
        // A variable that is not a build argument: every file counts.
        assert_eq!(
            paths(copied_files("FROM x\nCOPY $NOPE /x\n", &ctx, &args)),
            None
        );
    }

    #[test]
    fn the_hash_changes_with_each_input_and_only_then() {
        let (dir, ctx) = context(&[("tools/a.sh", "a"), ("unrelated", "u")]);
        let dockerfile = "FROM x\nCOPY tools/a.sh /a\n";
        let args = vec![("PYTHON_VERSION".to_string(), "3.11".to_string())];
        let base = hash(dockerfile, &ctx, &args, "sha256:1", &[]).unwrap();
        assert_eq!(
            base,
            hash(dockerfile, &ctx, &args, "sha256:1", &[]).unwrap()
        );
        assert_ne!(
            base,
            hash("FROM x\nCOPY tools/a.sh /b\n", &ctx, &args, "sha256:1", &[]).unwrap()
        );
        assert_ne!(
            base,
            hash(dockerfile, &ctx, &args, "sha256:2", &[]).unwrap()
        );
        let other_args = vec![("PYTHON_VERSION".to_string(), "3.12".to_string())];
        assert_ne!(
            base,
            hash(dockerfile, &ctx, &other_args, "sha256:1", &[]).unwrap()
        );
        // Platforms count when declared, in their order; none adds nothing.
        let both = ["linux/amd64".to_string(), "linux/arm64".to_string()];
        let multi = hash(dockerfile, &ctx, &args, "sha256:1", &both).unwrap();
        assert_ne!(base, multi);
        let reversed = [both[1].clone(), both[0].clone()];
        assert_ne!(
            multi,
            hash(dockerfile, &ctx, &args, "sha256:1", &reversed).unwrap()
        );
        fs::write(dir.path().join("unrelated"), "changed").unwrap();
        assert_eq!(
            base,
            hash(dockerfile, &ctx, &args, "sha256:1", &[]).unwrap()
        );
        fs::write(dir.path().join("tools/a.sh"), "changed").unwrap();
        assert_ne!(
            base,
            hash(dockerfile, &ctx, &args, "sha256:1", &[]).unwrap()
        );
    }
}
