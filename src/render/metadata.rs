//! What a template sees: `build_tag` and `metadata`, built exactly as the
//! original tool built them, map order kept.

use serde_json::{Map, Value as Json};

use crate::manifest::{Cuda, ReleaseType, Spec};
use crate::plan::Target;

const NVIDIA_DOWNLOADS: &str = "https://developer.download.nvidia.com/compute";

/// The `metadata` of a target: the distro release's spec with `package`
/// first, `envars` as a mapping (`BENTOML_VERSION`, the manifest's, then
/// `PYTHON_VERSION`), `cuda` expanded (or every CUDA key removed when the
/// distro has none) and, for `cudnn`, `docker_build_path`.
#[must_use]
pub fn metadata(
    bentoml_version: &str,
    target: &Target,
    spec: &Spec,
    cuda: Option<&Cuda>,
) -> Map<String, Json> {
    let mut metadata = Map::with_capacity(spec.fields.len() + 2);
    metadata.insert("package".into(), Json::String(target.package.clone()));
    for (key, value) in &spec.fields {
        metadata.insert(key.to_string(), Json::clone(value));
    }
    let mut envars = Map::with_capacity(spec.envars.len() + 2);
    envars.insert(
        "BENTOML_VERSION".into(),
        Json::String(bentoml_version.to_string()),
    );
    for (name, value) in spec.envars.iter() {
        envars.insert(name.clone(), Json::String(value.clone()));
    }
    envars.insert(
        "PYTHON_VERSION".into(),
        Json::String(target.python_version.clone()),
    );
    metadata.insert("envars".into(), Json::Object(envars));

    match (&spec.cuda_prefix_url, cuda) {
        (Some(prefix), Some(cuda)) => {
            metadata.insert("cuda".into(), cuda_context(prefix, cuda));
            metadata.shift_remove("cuda_prefix_url");
        }
        _ => metadata.retain(|key, _| {
            !(key.starts_with("cuda") || key.starts_with("cudnn") || key.starts_with("nvidia"))
        }),
    }
    if target.release_type == ReleaseType::Cudnn {
        metadata.insert(
            "docker_build_path".into(),
            Json::String(slash_path(&target.directory)),
        );
    }
    metadata
}

fn cuda_context(prefix: &str, cuda: &Cuda) -> Json {
    let mut version = Map::new();
    version.insert("major".into(), Json::String(cuda.major.clone()));
    version.insert("minor".into(), Json::String(cuda.minor.clone()));
    version.insert(
        "shortened".into(),
        Json::String(format!("{}.{}", cuda.major, cuda.minor)),
    );
    let cudnn = cuda.cudnn.as_ref().map_or(Json::Null, |cudnn| {
        let mut map = Map::new();
        map.insert("version".into(), Json::String(cudnn.version.clone()));
        map.insert(
            "major_version".into(),
            Json::String(cudnn.major_version.clone()),
        );
        Json::Object(map)
    });
    let components = cuda
        .components
        .iter()
        .map(|(name, version)| (name.clone(), Json::String(version.clone())))
        .collect();
    let mut context = Map::new();
    context.insert(
        "ml_repo".into(),
        Json::String(format!(
            "{NVIDIA_DOWNLOADS}/machine-learning/repos/{prefix}/x86_64"
        )),
    );
    context.insert(
        "base_repo".into(),
        Json::String(format!("{NVIDIA_DOWNLOADS}/cuda/repos/{prefix}/x86_64")),
    );
    context.insert("version".into(), Json::Object(version));
    context.insert("cudnn".into(), cudnn);
    context.insert("components".into(), Json::Object(components));
    Json::Object(context)
}

/// A relative path with `/` separators, as Dockerfiles and JSON want it.
#[must_use]
pub fn slash_path(path: &std::path::Path) -> String {
    use std::path::Component;
    let mut out = String::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::RootDir => out.push('/'),
            other => {
                if !out.is_empty() && !out.ends_with('/') {
                    out.push('/');
                }
                out.push_str(&other.as_os_str().to_string_lossy());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::slash_path;
    use std::path::Path;

    #[test]
    fn paths_are_written_as_the_original_wrote_them() {
        assert_eq!(slash_path(Path::new("./generated/a/b")), "generated/a/b");
        assert_eq!(slash_path(Path::new("/abs/generated")), "/abs/generated");
        assert_eq!(slash_path(Path::new("generated")), "generated");
    }
}
