#!/usr/bin/env python3
"""Renders an images repo's templates with Jinja2 itself, the way the original
Python release manager did, and compares every file with what bentoml-docker
generated. Exits 1 on the first difference.

usage: jinja2-reference.py IMAGES_REPO PLAN_JSON METADATA_JSON
(PLAN_JSON from `bentoml-docker plan --json`, METADATA_JSON from `-dm`)
"""

import json
import pathlib
import sys

import jinja2


def templates(directory: pathlib.Path, release_type: str):
    for path in sorted(directory.iterdir()):
        name = path.name
        if not name.endswith(".j2") or not path.is_file():
            continue
        cudnn_extra = release_type == "cudnn" and name.startswith(("cuda", "cudnn", "nvidia"))
        if release_type in name or cudnn_extra:
            yield path, "Dockerfile" if name.endswith(".Dockerfile.j2") else name[: -len(".j2")]


def main() -> int:
    repo, plan_path, metadata_path = map(pathlib.Path, sys.argv[1:4])
    plan = json.loads(plan_path.read_text())
    metadata = json.loads(metadata_path.read_text())
    env = jinja2.Environment(extensions=["jinja2.ext.do"], trim_blocks=True, lstrip_blocks=True)
    compared = 0
    for target in plan["targets"]:
        context = metadata[target["name"]]
        build_tag = f"base-python$PYTHON_VERSION-{context['add_to_tags']}"
        for template, output in templates(repo / context["templates_dir"], target["release_type"]):
            expected = env.from_string(template.read_text()).render(metadata=context, build_tag=build_tag)
            generated = (repo / target["directory"] / output).read_text()
            if generated != expected:
                print(f"{target['name']}: {target['directory']}/{output} differs from Jinja2's rendering")
                return 1
            compared += 1
    print(f"{compared} files identical to Jinja2's rendering")
    return 0


if __name__ == "__main__":
    sys.exit(main())
