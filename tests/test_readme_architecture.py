"""The README's architecture screen names only modules and folders that exist."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOTTED_ROOTS = {"structures": "structures", "analysis": "analysis", "engine": "workflows/engine",
                "backends": "workflows/backends", "fireworks": "workflows/fireworks", "studies": "workflows/studies"}


def _architecture_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Architecture in one screen", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```\n(.*?)```", section, re.S)


def test_every_module_the_architecture_screen_names_exists():
    tree = _architecture_blocks()[0]
    checked = 0
    base = sub = None
    for line in tree.splitlines():
        first = re.split(r"\s{2,}", line.strip())[0]
        if not line.startswith(" "):  # a top folder: structures/, workflows/engine/, nafill/ ...
            base, sub = line.split()[0], None
            assert (ROOT / base).is_dir(), base
            checked += 1
        elif re.fullmatch(r"[\w.]+/", first):  # a subfolder entry: vasp/, cli/
            sub = first
            assert (ROOT / base / sub).is_dir(), base + sub
            checked += 1
        elif re.fullmatch(r"[\w]+\.py", first):
            sub = None
        for name in re.findall(r"\b\w+\.py\b", line):
            where = [ROOT / base / name] + ([ROOT / base / sub / name] if sub else [])
            assert any(p.is_file() for p in where), f"README names {name} under {base}{sub or ''}"
            checked += 1
        for folder in re.findall(r"\b(\w+)/(?=[\s,)]|$)", line.strip()[len(first):]):
            assert (ROOT / base / folder).is_dir() or (ROOT / "workflows" / "backends" / folder).is_dir(), folder
    assert checked > 40
    # the data flow of one Na names modules by dotted path (engine.steps -> workflows/engine/steps.py)
    flow = _architecture_blocks()[1]
    names = re.findall(r"\b(structures|analysis|engine|backends|fireworks|studies)\.(\w+)", flow)
    assert len(names) >= 8
    for root, mod in names:
        assert (ROOT / DOTTED_ROOTS[root] / f"{mod}.py").is_file(), f"{root}.{mod}"
