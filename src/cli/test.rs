//! `test`: runs the manifest's `tests` in the images that are built,
//! building nothing: a build run in [`build::Mode::TestOnly`].

use std::io::Write;
use std::time::Duration;

use super::Error;
use super::args::TestArgs;
use super::build::{self, EngineChoice, Settings};
use super::session::Session;
use crate::build::Mode;

/// The time allowed to the tests of each image, as to a build by default.
const TIMEOUT: Duration = Duration::from_secs(3600);

/// `test`.
pub fn run(args: &TestArgs, out: &mut dyn Write) -> Result<(), Error> {
    let session = Session::open(&args.manifest.manifest)?;
    let output = session.output_dir(args.output.output.as_deref());
    let plan = session.plan(&args.matrix.options(output.relative))?;
    let settings = Settings {
        engine: EngineChoice::of(&args.engine)?,
        jobs: args.jobs,
        // Every image's tests are worth knowing, whatever failed before.
        keep_going: true,
        overwrite: false,
        network: None,
        build_args: Vec::new(),
        timeout: TIMEOUT,
        report: args.report.clone(),
        log_dir: args.log_dir.clone(),
        mode: Mode::TestOnly,
        registries: super::build::RegistryUse::default(),
    };
    build::build(&session, &plan, &args.selection.selection(), &settings, out)
}
