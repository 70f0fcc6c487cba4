"""The image build: what the Dockerfile copies is enough for cargo to resolve the workspace."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def copied_paths():
    """Source paths of the build stage's COPY instructions (not those from another stage)."""
    paths = set()
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        m = re.match(r"COPY\s+(?!--from)(.+)", line.strip())
        if m:
            *sources, _dest = m.group(1).split()
            paths.update(s.rstrip("/") for s in sources)
    return paths


def test_every_workspace_member_and_path_dependency_is_copied():
    manifest = tomllib.loads((ROOT / "Cargo.toml").read_text())
    needed = {m for m in manifest["workspace"]["members"] if m != "."}
    for table in ("dependencies", "dev-dependencies", "build-dependencies"):
        for dep in manifest.get(table, {}).values():
            if isinstance(dep, dict) and "path" in dep:
                needed.add(dep["path"].rstrip("/"))
    assert needed, "the workspace has no other member: this test checks nothing"
    copied = copied_paths()
    assert {"Cargo.toml", "Cargo.lock", "src"} <= copied, copied
    missing = {n for n in needed if not any(n == c or n.startswith(f"{c}/") for c in copied)}
    assert not missing, f"the image build does not copy {sorted(missing)}"
