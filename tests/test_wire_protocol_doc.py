"""Comments cite the wire contract in docs/wire-protocol.md, never a spec outside the repository.

Two checks over the source files (worker/, operator/, tests/, bench/: .py, .lua, .go):
no comment cites the old external specification by number, section or appendix, and every
`wire-protocol.md §N.N` citation (in the sources, docs/ and READMEs) names a section heading
that exists. The page's own `§N.N` cross-references must resolve too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "wire-protocol.md"
SOURCE_DIRS = ("worker", "operator", "tests", "bench")
SOURCE_SUFFIXES = frozenset({".py", ".lua", ".go"})
SKIPPED_DIRS = frozenset({".venv", "node_modules", "__pycache__", ".git"})

# "spec" followed by a number, or by "section"/"appendix": a citation of the external spec
EXTERNAL_SPEC = re.compile(r"\bspec\s+(?:\d|§|(?:section|appendix)\b)", re.IGNORECASE)
EXTERNAL_FILE = re.compile(r"asynq-wire\.md|/work/shared[/]")
HEADING = re.compile(r"^#{2,3}\s+(\d+(?:\.\d+)?)\.?\s", re.MULTILINE)
NUMBER = r"\d+(?:\.\d+)?"
SECTION_LIST = rf"§\s*{NUMBER}(?:\s*(?:[-\u2013,]|and)\s*§?\s*{NUMBER})*"
CITATION = re.compile(rf"wire-protocol\.md\s+({SECTION_LIST})")
SELF_REFERENCE = re.compile(SECTION_LIST)


def _files(roots: tuple[str, ...], suffixes: frozenset[str]) -> Iterator[Path]:
    for root in roots:
        for path in sorted((REPO / root).rglob("*")):
            parts = set(path.relative_to(REPO).parts)
            if path.is_file() and path.suffix in suffixes and not parts & SKIPPED_DIRS:
                yield path


def _source_files() -> Iterator[Path]:
    return _files(SOURCE_DIRS, SOURCE_SUFFIXES)


def _citing_files() -> Iterator[Path]:
    yield from _source_files()
    yield from _files((*SOURCE_DIRS, "docs"), frozenset({".md"}))
    yield REPO / "README.md"


def _sections() -> set[str]:
    return set(HEADING.findall(DOC.read_text("utf-8")))


def _numbers(section_list: str) -> list[str]:
    return re.findall(NUMBER, section_list)


def _where(path: Path, text: str, offset: int) -> str:
    return f"{path.relative_to(REPO)}:{text.count(chr(10), 0, offset) + 1}"


def test_no_source_file_cites_the_external_spec() -> None:
    offenders = []
    for path in _source_files():
        text = path.read_text("utf-8", errors="replace")
        for pattern in (EXTERNAL_SPEC, EXTERNAL_FILE):
            for match in pattern.finditer(text):
                offenders.append(f"{_where(path, text, match.start())}: {match.group(0)!r}")
    assert not offenders, (
        "cite docs/wire-protocol.md sections (wire-protocol.md §N.N) or Go symbols instead:\n"
        + "\n".join(offenders)
    )


def test_the_page_has_numbered_sections() -> None:
    sections = _sections()
    assert {"1", "12", "4.10", "12.1"} <= sections


def test_every_citation_names_an_existing_section() -> None:
    sections = _sections()
    dangling = []
    for path in _citing_files():
        text = path.read_text("utf-8", errors="replace")
        for match in CITATION.finditer(text):
            for number in _numbers(match.group(1)):
                if number not in sections:
                    dangling.append(f"{_where(path, text, match.start())}: §{number}")
    assert not dangling, "citations of missing sections:\n" + "\n".join(dangling)


def test_the_page_cross_references_existing_sections() -> None:
    sections = _sections()
    text = DOC.read_text("utf-8")
    dangling = [
        f"{_where(DOC, text, match.start())}: §{number}"
        for match in SELF_REFERENCE.finditer(text)
        for number in _numbers(match.group(0))
        if number not in sections
    ]
    assert not dangling, "cross-references to missing sections:\n" + "\n".join(dangling)
