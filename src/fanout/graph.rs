//! The plan's graph drawn for a reader: Mermaid (for a README on a forge)
//! or Graphviz dot. Targets are grouped by package and distro release,
//! edges go FROM a base to what is built on it, and each chain of
//! [`super::chains`] (the job `export github-matrix` makes of it) has a
//! colour of its own.

use std::fmt::Write as _;

use indexmap::IndexMap;

use crate::plan::Target;

/// Fill colours of the chains, in turn: light, so the labels stay legible.
const PALETTE: [&str; 8] = [
    "#dbeafe", "#dcfce7", "#fef9c3", "#fce7f3", "#ede9fe", "#ffedd5", "#cffafe", "#e5e7eb",
];

/// How the graph is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// A Mermaid `flowchart`, drawn by GitHub and GitLab in Markdown.
    Mermaid,
    /// Graphviz `digraph`.
    Dot,
}

/// The graph of `targets` (in build order, with what they are built FROM).
#[must_use]
pub fn draw(targets: &[&Target], format: Format) -> String {
    let graph = Graph::of(targets);
    match format {
        Format::Mermaid => graph.mermaid(),
        Format::Dot => graph.dot(),
    }
}

/// What both formats draw.
struct Graph<'p> {
    /// Targets by `PACKAGE DISTRORELEASE`, in build order.
    groups: IndexMap<String, Vec<&'p Target>>,
    /// Each target's node id and chain number, by name.
    nodes: IndexMap<&'p str, (String, usize)>,
    /// `(base, dependent)` names.
    edges: Vec<(&'p str, &'p str)>,
    /// Each chain's job title in `export github-matrix`.
    chains: Vec<String>,
}

impl<'p> Graph<'p> {
    fn of(targets: &[&'p Target]) -> Self {
        let chains = super::chains(targets);
        let mut nodes = IndexMap::new();
        for (chain, members) in chains.iter().enumerate() {
            for target in members {
                nodes.insert(target.name.as_str(), (String::new(), chain));
            }
        }
        // Ids in build order, whatever the order of chains.
        for (i, target) in targets.iter().enumerate() {
            if let Some(node) = nodes.get_mut(target.name.as_str()) {
                node.0 = format!("t{i}");
            }
        }
        let mut groups: IndexMap<String, Vec<&Target>> = IndexMap::new();
        for target in targets {
            groups
                .entry(format!(
                    "{} {}{}",
                    target.package, target.distro, target.release
                ))
                .or_default()
                .push(target);
        }
        let edges = targets
            .iter()
            .filter_map(|t| {
                let base = t.depends_on.as_deref()?;
                nodes.contains_key(base).then_some((base, t.name.as_str()))
            })
            .collect();
        Self {
            groups,
            nodes,
            edges,
            chains: chains.iter().map(|c| super::chain_name(c[0])).collect(),
        }
    }

    fn id(&self, name: &str) -> &str {
        &self.nodes[name].0
    }

    fn mermaid(&self) -> String {
        let mut out = String::from("flowchart LR\n");
        for (g, (group, targets)) in self.groups.iter().enumerate() {
            let _ = writeln!(out, "  subgraph g{g}[\"{}\"]", mermaid_text(group));
            for target in targets {
                let _ = writeln!(
                    out,
                    "    {}[\"{}\"]",
                    self.id(&target.name),
                    mermaid_text(&target.name)
                );
            }
            out.push_str("  end\n");
        }
        for (base, dependent) in &self.edges {
            let _ = writeln!(out, "  {} --> {}", self.id(base), self.id(dependent));
        }
        for (chain, title) in self.chains.iter().enumerate() {
            let members: Vec<&str> = self
                .nodes
                .values()
                .filter(|(_, c)| *c == chain)
                .map(|(id, _)| id.as_str())
                .collect();
            let _ = writeln!(
                out,
                "  %% chain{chain}: {title}\n  classDef chain{chain} fill:{},stroke:#555\n  class {} chain{chain}",
                PALETTE[chain % PALETTE.len()],
                members.join(",")
            );
        }
        out
    }

    fn dot(&self) -> String {
        let mut out = String::from(
            "digraph plan {\n  rankdir=LR;\n  node [shape=box, style=\"rounded,filled\"];\n",
        );
        for (g, (group, targets)) in self.groups.iter().enumerate() {
            let _ = writeln!(
                out,
                "  subgraph cluster_{g} {{\n    label={};",
                dot_text(group)
            );
            for target in targets {
                let (id, chain) = &self.nodes[target.name.as_str()];
                let _ = writeln!(
                    out,
                    "    {id} [label={}, fillcolor=\"{}\", tooltip={}];",
                    dot_text(&target.name),
                    PALETTE[chain % PALETTE.len()],
                    dot_text(&format!("job: {}", self.chains[*chain]))
                );
            }
            out.push_str("  }\n");
        }
        for (base, dependent) in &self.edges {
            let _ = writeln!(out, "  {} -> {};", self.id(base), self.id(dependent));
        }
        out.push_str("}\n");
        out
    }
}

/// `text` inside a Mermaid `"..."` label.
fn mermaid_text(text: &str) -> String {
    text.replace('"', "#quot;")
}

/// `text` as a dot string, quoted.
fn dot_text(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Plan;

    /// One package, runtime and devel on two Debian releases, two Pythons.
    fn plan() -> (tempfile::TempDir, Plan) {
        crate::plan::testing::plan_of(
            "packages:\n  app:\n    runtime: [debian]\n    devel: [debian]\n\
             releases:\n  debian:\n    \"11\":\n      <<: *spec\n      add_to_tags: bullseye\n    \
             \"12\":\n      <<: *spec\n      add_to_tags: bookworm\n",
            &["3.11", "3.12"],
        )
    }

    fn targets(plan: &Plan) -> Vec<&Target> {
        let all: Vec<&Target> = plan.targets.iter().collect();
        crate::plan::with_dependencies(plan, &all)
    }

    #[test]
    fn edges_go_from_each_base_to_what_is_built_on_it() {
        let (_dir, plan) = plan();
        let targets = targets(&plan);
        let graph = Graph::of(&targets);
        assert_eq!(graph.edges.len(), 8);
        for (base, dependent) in &graph.edges {
            assert_eq!(
                plan.target(dependent).unwrap().depends_on.as_deref(),
                Some(*base)
            );
        }
        let mermaid = draw(&targets, Format::Mermaid);
        let dot = draw(&targets, Format::Dot);
        for (base, dependent) in &graph.edges {
            let (from, to) = (graph.id(base), graph.id(dependent));
            assert!(
                mermaid.contains(&format!("  {from} --> {to}\n")),
                "{mermaid}"
            );
            assert!(dot.contains(&format!("  {from} -> {to};\n")), "{dot}");
        }
    }

    #[test]
    fn every_target_is_drawn_once_in_the_group_of_its_package_and_distro() {
        let (_dir, plan) = plan();
        let targets = targets(&plan);
        let mermaid = draw(&targets, Format::Mermaid);
        let dot = draw(&targets, Format::Dot);
        for target in &plan.targets {
            let label = format!("[\"{}\"]", target.name);
            assert_eq!(mermaid.matches(&label).count(), 1, "{}", target.name);
            assert_eq!(
                dot.matches(&format!("label=\"{}\"", target.name)).count(),
                1
            );
        }
        assert_eq!(mermaid.matches("  subgraph ").count(), 2);
        assert_eq!(dot.matches("subgraph cluster_").count(), 2);
        assert!(
            mermaid.contains("subgraph g1[\"app debian12\"]"),
            "{mermaid}"
        );
    }

    #[test]
    fn each_chain_has_a_class_that_holds_exactly_its_targets() {
        let (_dir, plan) = plan();
        let targets = targets(&plan);
        let graph = Graph::of(&targets);
        let mermaid = draw(&targets, Format::Mermaid);
        let chains = super::super::chains(&targets);
        assert_eq!(chains.len(), 4);
        for (i, chain) in chains.iter().enumerate() {
            let ids: Vec<&str> = chain.iter().map(|t| graph.id(&t.name)).collect();
            let line = format!("  class {} chain{i}\n", ids.join(","));
            assert!(mermaid.contains(&line), "{line} in {mermaid}");
        }
    }

    #[test]
    fn quotes_in_labels_cannot_end_them() {
        assert_eq!(mermaid_text("a \"b\""), "a #quot;b#quot;");
        assert_eq!(dot_text("a \"b\" \\"), r#""a \"b\" \\""#);
    }
}
