"""Docs are part of the feature: every option the CLI offers is in docs/cli.md."""
from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from gaugetest.cli import build_parser

DOCS = Path(__file__).resolve().parents[1] / "docs"


def subcommands():
    p = build_parser()
    action = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices


@pytest.mark.parametrize("name", sorted(subcommands()))
def test_every_option_is_documented(name):
    text = (DOCS / "cli.md").read_text()
    assert f"`gaugetest {name}" in text
    sub = subcommands()[name]
    for action in sub._actions:
        for opt in action.option_strings:
            if opt.startswith("--"):
                assert f"`{opt}" in text, f"{name} {opt} missing from docs/cli.md"


def test_docs_links_resolve():
    for md in list(DOCS.glob("*.md")) + [DOCS.parent / "README.md"]:
        for target in re.findall(r"\]\(([^)#]+\.md)", md.read_text()):
            assert (md.parent / target).exists(), (md, target)


def test_docs_images_exist():
    for md in list(DOCS.glob("*.md")) + [DOCS.parent / "README.md"]:
        for target in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md.read_text()):
            assert (md.parent / target).exists(), (md, target)


def test_tests_readme_cites_only_files_that_exist():
    tests = DOCS.parent / "tests"
    text = (tests / "README.md").read_text()
    for name in re.findall(r"`([\w./-]+\.(?:py|json|R|md|toml))`", text):
        assert (tests / name).exists() or (DOCS.parent / name).exists(), name
