//! `metadata.json`, written entry by entry as targets render.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::output::{self, AtomicFile};

/// Streams `metadata.json` entry by entry, so memory does not grow with the
/// matrix; laid out as Python's `json.dumps(indent=2)` laid it out.
pub(super) struct MetadataWriter {
    file: AtomicFile,
    path: PathBuf,
    entries: usize,
}

impl MetadataWriter {
    /// `path` as [`output::resolve_file`] resolved it.
    pub(super) fn new(path: &Path) -> Result<Self, output::Error> {
        Ok(Self {
            file: AtomicFile::at(path.to_path_buf())?,
            path: path.to_path_buf(),
            entries: 0,
        })
    }

    pub(super) fn entry(
        &mut self,
        name: &str,
        metadata: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<(), output::Error> {
        let value = serde_json::to_string_pretty(metadata).unwrap_or_default();
        let key = serde_json::to_string(name).unwrap_or_default();
        let separator = if self.entries == 0 { "{\n" } else { ",\n" };
        self.entries += 1;
        // JSON strings never hold a raw newline, so indenting lines is safe.
        write!(
            self.file,
            "{separator}  {key}: {}",
            value.replace('\n', "\n  ")
        )
        .map_err(|source| output::Error::Io {
            action: "write",
            path: self.path.clone(),
            source,
        })
    }

    pub(super) fn finish(mut self) -> Result<bool, output::Error> {
        let end = if self.entries == 0 { "{}\n" } else { "\n}\n" };
        self.file
            .write_all(end.as_bytes())
            .map_err(|source| output::Error::Io {
                action: "write",
                path: self.path.clone(),
                source,
            })?;
        self.file.commit()
    }
}
