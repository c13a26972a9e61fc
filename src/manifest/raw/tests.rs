use super::*;

fn map(node: &Node) -> &[(Key, Node)] {
    match &node.value {
        Value::Map(m) => m,
        other => panic!("expected a mapping, got {other:?}"),
    }
}

fn get<'a>(node: &'a Node, key: &str) -> &'a Node {
    &map(node).iter().find(|(k, _)| &*k.name == key).unwrap().1
}

fn keys(node: &Node) -> Vec<&str> {
    map(node).iter().map(|(k, _)| &*k.name).collect()
}

#[test]
fn keys_and_numbers_keep_their_text() {
    let (root, errors) = parse("3.10: 011\n10: [3.10, 3.9, 1_000]\n").unwrap();
    assert!(errors.is_empty());
    assert_eq!(keys(&root), ["3.10", "10"]);
    assert_eq!(get(&root, "3.10").value, Value::Number("011".into()));
    let Value::Seq(items) = &get(&root, "10").value else {
        panic!()
    };
    let texts: Vec<_> = items
        .iter()
        .map(|n| n.value.scalar_text().unwrap())
        .collect();
    assert_eq!(texts, ["3.10", "3.9", "1_000"]);
}

#[test]
fn merged_keys_come_first_and_explicit_keys_override_in_place() {
    let yaml = "base: &b\n  a: 1\n  b: 2\n  c: 3\nchild:\n  z: 0\n  <<: *b\n  b: 20\n";
    let (root, _) = parse(yaml).unwrap();
    let child = get(&root, "child");
    assert_eq!(keys(child), ["a", "b", "c", "z"]);
    assert_eq!(get(child, "b").value, Value::Number("20".into()));
    assert_eq!(get(child, "b").at.line, 8);
    // A merged value points at its definition and remembers the merge site.
    let a = get(child, "a");
    assert_eq!((a.at.line, a.via.unwrap().line), (2, 7));
}

#[test]
fn chained_merges_resolve_through_every_level() {
    let yaml = "a: &a\n  x: 1\n  y: 1\nb: &b\n  <<: *a\n  y: 2\nc:\n  <<: *b\n  x: 3\n";
    let (root, _) = parse(yaml).unwrap();
    let c = get(&root, "c");
    assert_eq!(keys(c), ["x", "y"]);
    assert_eq!(get(c, "x").value, Value::Number("3".into()));
    assert_eq!(get(c, "y").value, Value::Number("2".into()));
}

#[test]
fn shared_content_names_each_use_where_it_is_used() {
    let yaml = "c: &c {a: x}\nr1: *c\nr2: *c\nm1: {<<: *c}\nm2:\n  <<: *c\n  b: y\n";
    let (root, _) = parse(yaml).unwrap();
    let line = |node: &Node| node.via.map(|v| v.line);
    assert_eq!(line(get(&root, "r1")), Some(2));
    assert_eq!(line(get(&root, "r2")), Some(3));
    // The content is shared: its own nodes name no use.
    assert_eq!(line(get(get(&root, "r2"), "a")), None);
    assert_eq!(line(get(get(&root, "m1"), "a")), Some(4));
    assert_eq!(line(get(get(&root, "m2"), "a")), Some(6));
    assert_eq!(line(get(get(&root, "m2"), "b")), None);
}

#[test]
fn a_chain_of_merges_names_the_merge_in_the_mapping_that_uses_it() {
    let yaml = "a: &a\n  x: 1\nb: &b\n  <<: *a\n  y: 2\nc:\n  <<: *b\nd:\n  <<: *b\n";
    let (root, _) = parse(yaml).unwrap();
    for (mapping, line) in [("b", 4), ("c", 7), ("d", 9)] {
        let x = get(get(&root, mapping), "x");
        assert_eq!(x.via.map(|v| v.line), Some(line), "{mapping}");
        assert_eq!(x.at.line, 2);
    }
    assert_eq!(get(get(&root, "d"), "y").via.map(|v| v.line), Some(9));
}

#[test]
fn merge_lists_let_earlier_mappings_win() {
    let yaml = "a: &a {k: 1, a: 1}\nb: &b {k: 2, b: 2}\nc:\n  <<: [*a, *b]\n";
    let (root, _) = parse(yaml).unwrap();
    let c = get(&root, "c");
    assert_eq!(keys(c), ["k", "b", "a"]);
    assert_eq!(get(c, "k").value, Value::Number("1".into()));
}

#[test]
fn merging_a_scalar_is_reported() {
    let (_, errors) = parse("c:\n  <<: 3\n").unwrap();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].found, "a number");
    assert_eq!(errors[0].at.line, 2);
}

#[test]
fn syntax_errors_carry_a_position() {
    let error = parse("a: [1, 2\nb: 3\n").unwrap_err();
    assert!(error.at.is_some(), "{error:?}");
}

#[test]
fn seed_manifest_loads() {
    let source = include_str!("../../../tests/fixtures/seed/manifest.yml");
    let (root, errors) = parse(source).unwrap();
    assert!(errors.is_empty());
    let centos7 = get(get(get(&root, "releases"), "centos"), "7");
    assert_eq!(
        keys(centos7),
        [
            "templates_dir",
            "base_image",
            "add_to_tags",
            "multistage_image",
            "header",
            "envars",
            "cuda_prefix_url",
            "cuda_requires",
            "cuda"
        ]
    );
    assert_eq!(
        get(centos7, "base_image").value,
        Value::Str("centos:7".into())
    );
    assert_eq!(get(centos7, "templates_dir").at.line, 72);
}
