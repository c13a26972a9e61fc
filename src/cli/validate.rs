//! `validate`: the manifest and its templates checked (every template
//! rendered for every target, nothing written), every problem reported.

use std::io::Write;

use super::Error;
use super::args::ManifestArgs;
use super::session::Session;
use crate::generate;

/// `validate`.
pub fn run(args: &ManifestArgs, out: &mut dyn Write) -> Result<(), Error> {
    let session = Session::open(&args.manifest)?;
    let manifest = &session.manifest;
    generate::render_only(manifest, &session.renderer).map_err(Error::Invalid)?;
    let releases: usize = manifest.distros.iter().map(|d| d.releases.len()).sum();
    writeln!(
        out,
        "`{}` is valid: {}, {}, {}",
        args.manifest.display(),
        count(manifest.packages.len(), "package"),
        count(releases, "distro release"),
        count(manifest.registries.len(), "registry")
    )
    .map_err(Error::Stdout)
}

/// `n` things, in English: `1 package`, `2 registries`.
fn count(n: usize, what: &str) -> String {
    match (n, what.strip_suffix('y')) {
        (1, _) => format!("1 {what}"),
        (n, Some(stem)) => format!("{n} {stem}ies"),
        (n, None) => format!("{n} {what}s"),
    }
}
