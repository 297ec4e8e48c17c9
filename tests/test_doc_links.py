"""Every relative link and image in README.md and docs/*.md leads somewhere.

A link's file (or folder) must exist inside the repository, and a `#anchor` must be a heading of
the page it points to, slugged as GitHub slugs headings. Links in code are not links; links
with a scheme (https:, mailto:) are not checked.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

FENCE = re.compile(r"^(```|~~~).*?^\1\s*$", re.S | re.M)
INLINE_CODE = re.compile(r"`[^`\n]*`")
MARKDOWN_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HTML_LINK = re.compile(r"<(?:img|a)\b[^>]*?\b(?:src|href)\s*=\s*\"([^\"]+)\"", re.I)
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$", re.M)
SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:", re.I)


def pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _prose(text: str) -> str:
    """The text without fenced code blocks and inline code, where nothing is a link."""
    return INLINE_CODE.sub("", FENCE.sub("", text))


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: its rendered text, lower-cased, punctuation dropped
    (letters, digits, `_`, `-` and spaces stay), spaces made hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text
    text = re.sub(r"<[^>]+>", "", text).replace("`", "").replace("*", "")
    return re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """The heading anchors of a page, repeated headings numbered as GitHub numbers them."""
    seen: dict[str, int] = {}
    found = set()
    for heading in HEADING.findall(FENCE.sub("", page.read_text())):
        slug = github_slug(heading)
        found.add(f"{slug}-{seen[slug]}" if slug in seen else slug)
        seen[slug] = seen.get(slug, 0) + 1
    return found


def links(page: Path) -> list[str]:
    prose = _prose(page.read_text())
    return [target for pattern in (MARKDOWN_LINK, HTML_LINK) for target in pattern.findall(prose)]


def broken_links(page: Path, root: Path = ROOT) -> list[str]:
    """Each relative link of `page` that leads nowhere, with the reason."""
    broken = []
    for target in links(page):
        if SCHEME.match(target):
            continue
        path_part, _, anchor = target.partition("#")
        where = (page.parent / path_part).resolve() if path_part else page
        if not where.is_relative_to(root.resolve()):
            broken.append(f"{target}: outside the repository")
        elif not where.exists():
            broken.append(f"{target}: no such file or folder")
        elif anchor and (where.suffix != ".md" or anchor not in anchors(where)):
            broken.append(f"{target}: no heading #{anchor} in {where.name}")
    return broken


def test_every_relative_link_and_image_resolves():
    problems = [f"{page.relative_to(ROOT)}: {problem}" for page in pages() for problem in broken_links(page)]
    assert not problems, "broken links:\n" + "\n".join(problems)


def test_the_pages_link_to_something():
    """The check above is not vacuous: the README's links and images are found."""
    found = links(ROOT / "README.md")
    assert "docs/images/fashion_jax_vs_torch.png" in found
    assert any(t.startswith("docs/benchmarks.md") for t in found)


def test_github_slugs():
    assert github_slug("Both backends side by side: `python -m jaxgan.compare`") == \
        "both-backends-side-by-side-python--m-jaxgancompare"
    assert github_slug("Start-up: a cached 202,599-file folder") == "start-up-a-cached-202599-file-folder"
    assert github_slug("Quality at a seed's length: Fashion-MNIST, 50 epochs") == \
        "quality-at-a-seeds-length-fashion-mnist-50-epochs"
    assert github_slug("run_folder and **bold**") == "run_folder-and-bold"


def test_a_missing_file_a_missing_anchor_and_a_link_out_of_the_repository_are_caught(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "other.md").write_text("# Other\n\n## Real heading\n\n## Real heading\n")
    page = tmp_path / "README.md"
    page.write_text(
        "[ok](docs/other.md#real-heading) [ok too](docs/other.md#real-heading-1) [self](#top)\n"
        "[gone](docs/gone.md) ![gone image](docs/images/gone.png) <img src=\"docs/img.png\">\n"
        "[bad anchor](docs/other.md#no-such) [out](../outside.md) [web](https://example.org/x)\n"
        "`[in code](docs/nowhere.md)`\n\n```\n[in a fence](docs/nowhere.md)\n```\n\n# Top\n")
    assert broken_links(page, root=tmp_path) == [
        "docs/gone.md: no such file or folder",
        "docs/images/gone.png: no such file or folder",
        "docs/other.md#no-such: no heading #no-such in other.md",
        "../outside.md: outside the repository",
        "docs/img.png: no such file or folder",
    ]


SUMMARY = re.compile(r"(\d[\d,]*) measurements, (\d[\d,]*) outside tolerance")


def test_the_readme_gives_the_parity_pages_own_count():
    """The README's parity summary is the one docs/parity.md's generated report ends with."""
    readme = SUMMARY.findall((ROOT / "README.md").read_text())
    page = SUMMARY.findall((ROOT / "docs" / "parity.md").read_text())
    assert readme and page, "a parity summary line ('N measurements, M outside tolerance') is missing"
    assert readme[0] == page[-1], f"README says {readme[0]}, docs/parity.md says {page[-1]}"
