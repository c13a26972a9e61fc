use std::path::Path;

use super::*;
use crate::manifest::{self, Attest, Cache, CacheMode, Provenance};

/// The plan of the small build fixture: `app` base, runtime and devel on
/// Debian 12, Python 3.11 and 3.13.
fn fixture_plan() -> Plan {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/build/manifest.yml");
    let manifest = manifest::load(&file).unwrap();
    let options = crate::plan::Options {
        output_dir: "generated".into(),
        ..Default::default()
    };
    Plan::new(&manifest, &options).unwrap()
}

/// What a caller computes for `target`: its base in the file when the plan
/// has one, made-up labels, the local name and one registry name.
fn given(target: &plan::Target) -> BakeTarget {
    BakeTarget {
        name: target.name.clone(),
        context: ".".into(),
        dockerfile: target.dockerfile.clone(),
        args: target.build_args.clone(),
        labels: IndexMap::from([
            (
                "org.opencontainers.image.title".to_string(),
                target.package.clone(),
            ),
            (
                "io.bentoml.docker.inputs".to_string(),
                format!("sha256:{}", target.tag),
            ),
        ]),
        tags: vec![
            target.name.clone(),
            format!("registry.example/{}", target.name),
        ],
        platforms: Vec::new(),
        base: target.depends_on.clone().map(Base::InFile),
    }
}

fn all_given(plan: &Plan) -> Vec<BakeTarget> {
    plan.build_order
        .iter()
        .map(|name| given(plan.target(name).unwrap()))
        .collect()
}

#[test]
fn the_build_fixture_as_a_bake_file() {
    let plan = fixture_plan();
    let file = bake_file(&plan, &all_given(&plan)).unwrap();
    insta::assert_snapshot!(file.to_json());
}

#[test]
fn a_target_is_named_after_package_and_tag_lower_cased_with_underscores() {
    assert_eq!(
        names::target_name("model-server:1.3.0-python3.11-Slim"),
        "model-server_1_3_0-python3_11-slim"
    );
    assert_eq!(names::target_name("a_b:x+y"), "a_b_x_y");
    assert!(names::is_valid(&names::target_name("Ünï:cödé")));
}

#[test]
fn every_name_of_the_fixture_file_is_one_bake_accepts() {
    let plan = fixture_plan();
    let file = bake_file(&plan, &all_given(&plan)).unwrap();
    assert_eq!(file.target.len(), plan.targets.len());
    for name in file.target.keys().chain(file.group.keys()) {
        assert!(names::is_valid(name), "{name}");
    }
}

#[test]
fn no_group_is_named_like_a_target() {
    let plan = fixture_plan();
    let file = bake_file(&plan, &all_given(&plan)).unwrap();
    for group in file.group.keys() {
        assert!(!group.contains('_'), "{group}");
        assert!(!file.target.contains_key(group), "{group}");
    }
    for target in file.target.keys() {
        assert!(target.contains('_'), "{target}");
    }
    assert_eq!(names::package_group("My_Package.x"), "package-my-package-x");
}

#[test]
fn groups_are_default_then_each_package_release_type_and_distro() {
    let plan = fixture_plan();
    let file = bake_file(&plan, &all_given(&plan)).unwrap();
    let groups: Vec<&str> = file.group.keys().map(String::as_str).collect();
    assert_eq!(
        groups,
        [
            "default",
            "package-app",
            "release-type-base",
            "release-type-runtime",
            "release-type-devel",
            "distro-debian"
        ]
    );
    let all: Vec<&String> = file.target.keys().collect();
    assert_eq!(
        file.group["default"].targets.iter().collect::<Vec<_>>(),
        all
    );
    assert_eq!(file.group["distro-debian"].targets.len(), all.len());
    let devel = &file.group["release-type-devel"].targets;
    assert_eq!(
        devel,
        &[
            "app_devel-python3_11-bookworm",
            "app_devel-python3_13-bookworm"
        ]
    );
}

#[test]
fn tags_that_differ_only_in_case_or_punctuation_are_a_collision_naming_both() {
    let mut plan = fixture_plan();
    let mut twin = plan.targets[0].clone();
    twin.name = twin.name.replace("base-", "Base-");
    plan.targets.push(twin.clone());
    let first = plan.targets[0].name.clone();
    let targets = [given(&plan.targets[0]), given(&twin)];
    let error = bake_file(&plan, &targets).unwrap_err();
    assert!(
        matches!(&error, Error::TargetCollision { first: f, second, name }
            if *f == first && *second == twin.name && *name == names::target_name(&first)),
        "{error:?}"
    );
    assert_eq!(error.exit_code(), 2);
    let message = error.to_string();
    assert!(
        message.contains(&first) && message.contains(&twin.name),
        "{message}"
    );
}

#[test]
fn two_packages_that_map_to_one_group_are_a_collision_naming_both() {
    let mut plan = fixture_plan();
    let mut other = plan.targets[0].clone();
    other.package = "App".into();
    other.name = "other:tag".into();
    plan.targets.push(other.clone());
    let targets = [given(&plan.targets[0]), given(&other)];
    let error = bake_file(&plan, &targets).unwrap_err();
    assert!(
        matches!(&error, Error::GroupCollision { kind: "package", first, second, name }
            if first == "app" && second == "App" && name == "package-app"),
        "{error:?}"
    );
}

#[test]
fn a_target_given_twice_is_an_error() {
    let plan = fixture_plan();
    let one = given(&plan.targets[0]);
    let error = bake_file(&plan, &[one.clone(), one]).unwrap_err();
    assert!(matches!(error, Error::Duplicate { .. }), "{error:?}");
}

#[test]
fn a_target_outside_the_plan_is_an_error() {
    let plan = fixture_plan();
    let mut stranger = given(&plan.targets[0]);
    stranger.name = "app:nowhere".into();
    let error = bake_file(&plan, &[stranger]).unwrap_err();
    assert!(
        matches!(&error, Error::NotInPlan { name } if name == "app:nowhere"),
        "{error:?}"
    );
}

#[test]
fn a_dependent_maps_its_from_reference_to_its_base_target() {
    let plan = fixture_plan();
    let file = bake_file(&plan, &all_given(&plan)).unwrap();
    let runtime = &file.target["app_1_3_0-python3_11-bookworm-runtime"];
    assert_eq!(
        runtime.contexts,
        IndexMap::from([(
            "app:base-python3.11-bookworm".to_string(),
            "target:app_base-python3_11-bookworm".to_string()
        )])
    );
    assert!(
        file.target["app_base-python3_11-bookworm"]
            .contexts
            .is_empty()
    );
}

#[test]
fn a_dependent_whose_base_is_local_has_no_contexts() {
    let plan = fixture_plan();
    let runtime = plan
        .targets
        .iter()
        .find(|t| t.depends_on.is_some())
        .unwrap();
    let mut alone = given(runtime);
    alone.base = Some(Base::Local);
    let file = bake_file(&plan, &[alone]).unwrap();
    let entry = file.target.values().next().unwrap();
    assert!(entry.contexts.is_empty());
    assert!(!file.to_json().contains("contexts"));
}

#[test]
fn a_base_in_the_file_that_is_not_given_is_an_error() {
    let plan = fixture_plan();
    let runtime = plan
        .targets
        .iter()
        .find(|t| t.depends_on.is_some())
        .unwrap();
    let error = bake_file(&plan, &[given(runtime)]).unwrap_err();
    assert!(
        matches!(&error, Error::BaseNotInFile { target, base }
            if *target == runtime.name && Some(base) == runtime.depends_on.as_ref()),
        "{error:?}"
    );
}

#[test]
fn a_base_that_is_not_what_the_plan_builds_from_is_an_error() {
    let plan = fixture_plan();
    let mut targets = all_given(&plan);
    let dependent = targets.iter_mut().find(|t| t.base.is_some()).unwrap();
    let from = plan.target(&dependent.name).unwrap().depends_on.clone();
    // The base of the other Python version.
    let other = plan
        .targets
        .iter()
        .find(|t| t.depends_on.is_none() && Some(&t.name) != from.as_ref())
        .unwrap();
    dependent.base = Some(Base::InFile(other.name.clone()));
    let error = bake_file(&plan, &targets).unwrap_err();
    assert!(
        matches!(&error, Error::WrongBase { base, .. } if *base == other.name),
        "{error:?}"
    );
}

#[test]
fn a_literal_dollar_or_percent_brace_is_escaped_in_every_value() {
    assert_eq!(escape("a${b}%{c}$${d}"), "a$${b}%%{c}$$${d}");
    assert_eq!(escape("$5 {x} 100%"), "$5 {x} 100%");
    let mut plan = fixture_plan();
    let index = plan
        .targets
        .iter()
        .position(|t| t.depends_on.is_some())
        .unwrap();
    plan.targets[index].from = "app:${X}".into();
    let base = plan
        .target(plan.targets[index].depends_on.as_deref().unwrap())
        .unwrap();
    let mut dependent = given(&plan.targets[index]);
    dependent.context = "ctx${X}".into();
    dependent.dockerfile = "d${X}/Dockerfile".into();
    dependent.args.insert("NOTE".into(), "${X}".into());
    dependent.labels.insert("note${X}".into(), "%{X}".into());
    dependent.tags.push("registry.example/a:${X}".into());
    dependent.platforms.push("linux/${X}".into());
    let file = bake_file(&plan, &[given(base), dependent]).unwrap();
    let json = file.to_json();
    assert!(!json.replace("$${", "").contains("${"), "{json}");
    assert!(!json.replace("%%{", "").contains("%{"), "{json}");
    let entry = &file.target[1];
    assert_eq!(entry.context, "ctx$${X}");
    assert_eq!(entry.dockerfile, "d$${X}/Dockerfile");
    assert_eq!(entry.args["NOTE"], "$${X}");
    assert_eq!(entry.labels["note$${X}"], "%%{X}");
    assert_eq!(entry.tags.last().unwrap(), "registry.example/a:$${X}");
    assert_eq!(entry.platforms, ["linux/$${X}"]);
    assert!(entry.contexts.contains_key("app:$${X}"));
}

#[test]
fn the_json_keeps_its_key_order_and_reads_back_the_same() {
    let plan = fixture_plan();
    let file = bake_file(&plan, &all_given(&plan)).unwrap();
    let json = file.to_json();
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    let top: Vec<&String> = value.as_object().unwrap().keys().collect();
    assert_eq!(top, ["group", "target"]);
    let keys: Vec<&String> = value["target"]["app_1_3_0-python3_11-bookworm-runtime"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(
        keys,
        [
            "context",
            "dockerfile",
            "args",
            "labels",
            "tags",
            "contexts"
        ]
    );
    let read: BakeFile = serde_json::from_str(&json).unwrap();
    assert_eq!(read, file);
    assert_eq!(bake_file(&plan, &all_given(&plan)).unwrap().to_json(), json);
}

fn cache(from: Option<&str>, to: Option<&str>, mode: Option<CacheMode>) -> Cache {
    Cache {
        from: from.map(String::from),
        to: to.map(String::from),
        mode,
    }
}

#[test]
fn cache_patterns_give_each_target_its_own_registry_cache() {
    let mut plan = fixture_plan();
    plan.cache = Some(cache(
        Some("registry.example/cache/app:{name}"),
        Some("127.0.0.1:5000/cache/{name}:latest"),
        Some(CacheMode::Max),
    ));
    let file = bake_file(&plan, &all_given(&plan)).unwrap();
    let base = &file.target["app_base-python3_11-bookworm"];
    assert_eq!(
        base.cache_from,
        ["type=registry,ref=registry.example/cache/app:app_base-python3_11-bookworm"]
    );
    assert_eq!(
        base.cache_to,
        ["type=registry,ref=127.0.0.1:5000/cache/app_base-python3_11-bookworm:latest,mode=max"]
    );
    let mut refs: Vec<&String> = file.target.values().map(|t| &t.cache_from[0]).collect();
    refs.sort_unstable();
    refs.dedup();
    assert_eq!(refs.len(), file.target.len());
}

#[test]
fn cache_from_alone_exports_nothing_and_no_cache_says_nothing() {
    let mut plan = fixture_plan();
    plan.cache = Some(cache(Some("registry.example/c:{name}"), None, None));
    let file = bake_file(&plan, &all_given(&plan)).unwrap();
    let entry = &file.target[0];
    assert_eq!(entry.cache_from.len(), 1);
    assert!(entry.cache_to.is_empty());
    plan.cache = None;
    let json = bake_file(&plan, &all_given(&plan)).unwrap().to_json();
    assert!(
        !json.contains("cache-from") && !json.contains("cache-to"),
        "{json}"
    );
}

#[test]
fn a_cache_name_too_long_for_a_tag_is_an_error_naming_the_target() {
    let mut plan = fixture_plan();
    let index = plan.targets.len() - 1;
    let long = "x".repeat(130);
    plan.targets[index].name = format!("app:{long}");
    plan.cache = Some(cache(None, Some("registry.example/cache:{name}"), None));
    let target = given(&plan.targets[index]);
    let target = BakeTarget {
        base: None,
        ..target
    };
    let error = bake_file(&plan, &[target]).unwrap_err();
    assert!(
        matches!(&error, Error::BadCacheReference { target, reference, .. }
            if *target == format!("app:{long}") && reference.ends_with(&long)),
        "{error:?}"
    );
}

#[test]
fn attest_maps_to_bake_entries_and_says_what_is_turned_off() {
    let mut plan = fixture_plan();
    let cases = [
        (
            Some(Provenance::Max),
            Some(true),
            vec!["type=provenance,mode=max", "type=sbom"],
        ),
        (
            Some(Provenance::Min),
            None,
            vec!["type=provenance,mode=min"],
        ),
        (Some(Provenance::On), None, vec!["type=provenance"]),
        (
            Some(Provenance::Off),
            Some(false),
            vec!["type=provenance,disabled=true", "type=sbom,disabled=true"],
        ),
        (None, Some(true), vec!["type=sbom"]),
        (None, None, vec![]),
    ];
    for (provenance, sbom, expected) in cases {
        plan.attest = Some(Attest { provenance, sbom });
        let file = bake_file(&plan, &all_given(&plan)).unwrap();
        for entry in file.target.values() {
            assert_eq!(entry.attest, expected, "{provenance:?} {sbom:?}");
        }
    }
}
