//! `plan`: every target in build order, as a table or as JSON.

use std::io::{self, Write};

use super::Error;
use super::args::PlanArgs;
use super::session::Session;
use crate::plan::{self, Plan};
use crate::render::metadata::slash_path;

/// `plan`.
pub fn run(args: &PlanArgs, out: &mut dyn Write) -> Result<(), Error> {
    let session = Session::open(&args.manifest.manifest)?;
    let output = session.output_dir(args.output.output.as_deref());
    let plan = session.plan(&args.matrix.options(output.relative))?;
    if args.json {
        serde_json::to_writer_pretty(&mut *out, &plan)
            .map_err(io::Error::from)
            .and_then(|()| writeln!(out))
    } else {
        table(&plan, out)
    }
    .map_err(Error::Stdout)
}

/// The plan as a table, in build order.
pub fn table(plan: &Plan, out: &mut dyn Write) -> io::Result<()> {
    let by_name: std::collections::HashMap<&str, &plan::Target> =
        plan.targets.iter().map(|t| (t.name.as_str(), t)).collect();
    // A column of its own once any release declares platforms.
    let multi_platform = plan.targets.iter().any(|t| !t.platforms.is_empty());
    let rows: Vec<Vec<String>> = plan
        .build_order
        .iter()
        .filter_map(|name| by_name.get(name.as_str()).copied())
        .enumerate()
        .map(|(i, t)| {
            let mut row = vec![
                (i + 1).to_string(),
                t.name.clone(),
                t.from.clone(),
                slash_path(&t.dockerfile),
            ];
            if multi_platform {
                row.push(platforms(t));
            }
            row
        })
        .collect();
    let mut header = vec!["#", "TARGET", "FROM", "DOCKERFILE"];
    if multi_platform {
        header.push("PLATFORMS");
    }
    super::draw::aligned_table(&header, &rows, &[0], out)
}

/// A target's platforms for a table: the builder's own when none.
fn platforms(target: &plan::Target) -> String {
    if target.platforms.is_empty() {
        "(builder's own)".to_string()
    } else {
        target.platforms.join(",")
    }
}

#[cfg(test)]
mod tests {
    use crate::plan::testing::plan_of;

    #[test]
    fn every_image_of_a_release_has_its_platforms_and_the_table_shows_them() {
        let (_dir, plan) = plan_of(
            "packages:\n  app:\n    runtime: [debian]\nreleases:\n  debian:\n    \"12\":\n      <<: *spec\n      add_to_tags: bookworm\n      platforms: [linux/amd64, linux/arm64]\n    \"11\":\n      <<: *spec\n",
            &["3.11"],
        );
        for target in &plan.targets {
            let want: &[&str] = if target.release == "12" {
                &["linux/amd64", "linux/arm64"]
            } else {
                &[]
            };
            assert_eq!(target.platforms, want, "{}", target.name);
        }
        let mut out = Vec::new();
        super::table(&plan, &mut out).unwrap();
        let table = String::from_utf8(out).unwrap();
        assert!(
            table.lines().next().unwrap().ends_with("PLATFORMS"),
            "{table}"
        );
        assert!(table.contains("linux/amd64,linux/arm64"), "{table}");
        assert!(table.contains("(builder's own)"), "{table}");
        let json = serde_json::to_value(&plan).unwrap();
        let platforms = |i: usize| json["targets"][i]["platforms"].clone();
        assert!((0..plan.targets.len()).any(|i| platforms(i).is_array()));
    }
}
