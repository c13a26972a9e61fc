//! Plans for tests, from a few lines of manifest.

use super::{Options, Plan};

/// The plan of a manifest made of a minimal `release_spec` (anchored
/// `*spec`) and `body` (its `packages` and `releases`, which merge the
/// spec), for BentoML 1.3.0 and `python_versions`; with the directory that
/// holds the manifest, which must live as long as the plan is used.
///
/// # Panics
/// When the manifest is invalid or the plan cannot be made.
pub fn plan_of(body: &str, python_versions: &[&str]) -> (tempfile::TempDir, Plan) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("manifest.yml");
    let spec = "release_spec: &spec\n  templates_dir: t\n  base_image: x\n  add_to_tags: x\n  \
                envars: []\n  cuda_prefix_url: \"\"\n";
    std::fs::write(&path, format!("{spec}{body}")).unwrap();
    let manifest = crate::manifest::check(&path).unwrap().manifest.unwrap();
    let options = Options {
        bentoml_version: Some("1.3.0".into()),
        python_versions: python_versions.iter().map(ToString::to_string).collect(),
        ..Options::default()
    };
    (dir, Plan::new(&manifest, &options).unwrap())
}
