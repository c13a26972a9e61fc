//! What a selection needs built: the targets chosen, and every target they
//! are built FROM.

use std::collections::HashMap;

use super::{Plan, Target};

/// The targets of `selected`, with every target they are built FROM, in build order.
#[must_use]
pub fn with_dependencies<'p>(plan: &'p Plan, selected: &[&'p Target]) -> Vec<&'p Target> {
    let mut wanted: Vec<&str> = selected.iter().map(|t| t.name.as_str()).collect();
    for target in selected {
        let mut parent = target.depends_on.as_deref();
        while let Some(name) = parent {
            wanted.push(name);
            parent = plan.target(name).and_then(|t| t.depends_on.as_deref());
        }
    }
    let by_name: HashMap<&str, &Target> =
        plan.targets.iter().map(|t| (t.name.as_str(), t)).collect();
    plan.build_order
        .iter()
        .filter(|n| wanted.contains(&n.as_str()))
        .filter_map(|n| by_name.get(n.as_str()).copied())
        .collect()
}
