//! What the plan says each image is made of: its generated Dockerfile, the
//! context files it copies and its build arguments, hashed as `build`
//! labels them ([`crate::build::inputs`]), so that `status` can tell an
//! image in a registry built from other inputs.

use std::path::Path;
use std::sync::Arc;

use crate::build::inputs;
use crate::context::Context;
use crate::plan::Target;

/// The images repo as `build` would hash it now.
#[derive(Clone, Debug)]
pub struct Recipes {
    context: Arc<Context>,
    /// Whether images carry attestations (the manifest's `attest`).
    pub(super) attest: bool,
}

impl Recipes {
    /// The recipes of the images repo scanned as `context`.
    #[must_use]
    pub fn new(context: Arc<Context>) -> Self {
        Self {
            context,
            attest: false,
        }
    }

    /// The same, images carrying attestations when `attest` (an index
    /// then holds attestation manifests beside its platforms).
    #[must_use]
    pub fn with_attestations(self, attest: bool) -> Self {
        Self { attest, ..self }
    }

    /// The inputs hash `target` carries when built FROM `base` (an image
    /// ID, or [`inputs::chained`] of a plan base's hash), with the plan's
    /// build arguments.
    ///
    /// # Errors
    /// When its Dockerfile or a file it copies cannot be read, in words.
    pub fn hash(&self, target: &Target, base: &str) -> Result<String, String> {
        let path = self.context.root().join(&target.dockerfile);
        let dockerfile = std::fs::read_to_string(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                format!(
                    "`{}` is not generated: run `bentoml-docker generate`",
                    Path::new(&target.dockerfile).display()
                )
            } else {
                format!("cannot read `{}`: {e}", path.display())
            }
        })?;
        let build_args: Vec<(String, String)> = target
            .build_args
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        inputs::hash(
            &dockerfile,
            &self.context,
            &build_args,
            base,
            &target.platforms,
        )
    }
}
