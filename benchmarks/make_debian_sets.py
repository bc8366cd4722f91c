"""Build real retrieval sets from help text shipped in Debian packages (known-item queries).

Sets written (each a directory in gyeol's layout, see benchmarks/retrieval_sets.py):
  gnome_help_ko, gnome_help_en   one document per GNOME help page (Mallard .page files of
        gnome-user-docs and eleven GNOME applications, usr/share/help/{ko,C}/); queries are the
        page's <desc> summary (kind "desc") and its <title> (kind "title"), both removed from
        the document text, so the target is the page.
  libreoffice_help_ko, libreoffice_help_en   one document per section of a LibreOffice help
        page (libreoffice-help-ko / -en-us: an <h1>..<h6> heading and the paragraphs up to the
        next heading); the query is the heading (kind "title" for <h1>, "heading" below it),
        which is removed from the document, so the target is the section the heading names.
In the Korean sets, untranslated (English) paragraphs and headings are left out.

Cleaning, the same for every set: paragraphs equal to one of the document's own queries are
dropped; documents under MIN_DOC_CHARS are dropped; near-identical documents (character
5-gram Jaccard >= NEAR_DUP) are merged into the one with the smallest id; queries under two
words or five characters are dropped; a query text (case and punctuation folded) that names
two different documents is dropped as ambiguous, a repeated one naming the same document is
kept once. Each query has one relevant document. "split" is "tune" or "report" by a hash of
the relevant document's id, so every query of one document lands in the same half.

Needs Debian's apt (`apt-get update` once) and dpkg-deb. Packages are fetched with
`apt-get download NAME=VERSION` at the versions pinned in PACKAGES (sha256 checked) and
unpacked with `dpkg-deb -x` into a temporary folder, never into /. Output is deterministic
for those versions. Usage:
    python benchmarks/make_debian_sets.py [--out benchmarks/data] [--cache DIR] [--sets NAME ...]
"""

from __future__ import annotations

import argparse
import hashlib
import html.parser
import json
import math
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "data"

# package -> (version, sha256 of the .deb): Debian 12 "bookworm" as of 2025.
PACKAGES: dict[str, tuple[str, str]] = {
    "gnome-user-docs": ("43.0-2", "0d635a840747958ca84da778b40d341f1155603851f922c9a171f5a181d6a39f"),
    "baobab": ("43.0-1", "acab793673e0f559080b492a40281c5ea7da04da5830c28c346cca62860fad69"),
    "cheese-common": ("43.0-1", "851b3595fcb7b5dbba1c646bfddd64a56907302e0b85db4c38dda1aa2336bfbb"),
    "eog": ("43.2-1+deb12u1", "986338ef28f9dc57141f11c27df27b453f95bbe460d44f4a9ec6c7d815e9ccc2"),
    "evince-common": ("43.1-2+deb12u1", "777ea7d094db2acd7b385e272b0ba6cf03c7e45d574e6f2c689b507de3d95dbb"),
    "file-roller": ("43.0-1", "2bb8ba003a234b82228154ca5555c55e464b010d1d866605658d1cd510e52de2"),
    "gnome-calculator": ("1:43.0.1-2", "395526cc25086a0ad15cdcd6daf403e5eb542cfe494de743e2e9394c39a0f065"),
    "gnome-clocks": ("43.0-1", "cd92c912a6f69789785b9e898611a6f8ced7659597e000e8f7a92583cf259a46"),
    "gnome-logs": ("43.0-1", "6d64422e389bb6d0a0afc070d7db2c837a0e1269ce11d4f8fb3a7fa9806dc28d"),
    "gnome-system-monitor": ("42.0-2", "fb6f0c54b9af1a17e1d047dccbe4a8df6b54fe2cde4cb6a214d78dabbee3ea68"),
    "gnome-terminal-data": ("3.46.8-1", "7702598bf2f81b6ec713d14867e367d9f5f2f91580c233db0dadc4c31c2f227d"),
    "totem-common": ("43.0-2", "23190cc8726d7b8bfe9a4362260cdb2c98d304b195104ffc7ea382593c991ad8"),
    "libreoffice-help-ko": ("4:7.4.7-1+deb12u14",
                            "7ef2d854e9ed58e6bf861cfa9fa2579555233f9df874baf327fcb07ccd190669"),
    "libreoffice-help-en-us": ("4:7.4.7-1+deb12u14",
                               "8faa840285734d6cfe1ed25537b48f07e74bd6412e3917bf8e5f8a653f7b3712"),
}
GNOME_PACKAGES = tuple(p for p in PACKAGES if not p.startswith("libreoffice"))
LIBREOFFICE_PACKAGES = {"ko": "libreoffice-help-ko", "en-US": "libreoffice-help-en-us"}
# set name -> (packages, builder, language directory, keep only the documents of this language)
SETS: dict[str, tuple[tuple[str, ...], str, str, str | None]] = {
    "gnome_help_ko": (GNOME_PACKAGES, "gnome", "ko", None),
    "gnome_help_en": (GNOME_PACKAGES, "gnome", "C", None),
    "libreoffice_help_ko": (("libreoffice-help-ko",), "libreoffice", "ko", None),
    # the English originals of the sections that libreoffice_help_ko has in Korean
    "libreoffice_help_en": (("libreoffice-help-en-us", "libreoffice-help-ko"), "libreoffice", "en-US", "ko"),
}
LICENCES = {"gnome": "CC-BY-SA-3.0 (as each help directory's legal.xml or <license> states)",
            "libreoffice": "MPL-2.0 (debian/copyright of libreoffice)"}

MIN_DOC_CHARS = 40      # shorter documents carry too little to be a known-item target
NEAR_DUP = 0.9          # character 5-gram Jaccard at or above which two documents are one
SHINGLE = 5
HANGUL = re.compile(r"[\uac00-\ud7a3]")
LATIN = re.compile(r"[A-Za-z]")
MALLARD = "{http://projectmallard.org/1.0/}"


def is_korean(text: str) -> bool:
    """Give back True for text written in Korean: Hangul is at least 30% of its letters."""
    hangul, latin = len(HANGUL.findall(text)), len(LATIN.findall(text))
    return hangul >= 2 and hangul >= 0.3 * (hangul + latin)


def squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def fold(text: str) -> str:
    """Give back the text with case, punctuation and spacing folded away (for comparisons)."""
    return re.sub(r"[\W_]+", "", text.lower())


@dataclass
class Doc:
    id: str
    blocks: list[str]
    queries: list[tuple[str, str]] = field(default_factory=list)  # (kind, text)


# ---------------------------------------------------------------- fetching

def fetch(names: tuple[str, ...], cache: Path, work: Path) -> dict[str, Path]:
    """Give back package -> unpacked tree, downloading pinned .debs into cache when missing."""
    cache.mkdir(parents=True, exist_ok=True)
    trees = {}
    for name in names:
        version, sha256 = PACKAGES[name]
        debs = [p for p in sorted(cache.glob(f"{name}_*.deb")) if _sha256(p) == sha256]
        if not debs:
            subprocess.run(["apt-get", "download", f"{name}={version}"], cwd=cache, check=True)
            debs = [p for p in sorted(cache.glob(f"{name}_*.deb")) if _sha256(p) == sha256]
            if not debs:
                sys.exit(f"{name}={version}: downloaded .deb does not have sha256 {sha256}")
        tree = work / name
        tree.mkdir(parents=True, exist_ok=True)
        subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(tree)], check=True)
        trees[name] = tree
    return trees


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------- GNOME (Mallard)

MALLARD_BLOCKS = {"p", "title", "subtitle", "desc", "code", "screen"}
MALLARD_HIDDEN = {"info", "comment", "links"}


def _mallard_text(element: ET.Element) -> str:
    """Give back an element's text (without its tail) as yelp shows it: keys joined by "+"."""
    if element.tag == MALLARD + "keyseq" and len(element):
        return "+".join(squash(_mallard_text(key)) for key in element)
    parts = [element.text or ""]
    for child in element:
        parts += [_mallard_text(child), child.tail or ""]
    return "".join(parts)


def _mallard_blocks(element: ET.Element, out: list[str]) -> None:
    """Append the text of every paragraph-like block in element, in document order."""
    tag = element.tag.replace(MALLARD, "")
    if tag in MALLARD_HIDDEN:
        return
    if tag in MALLARD_BLOCKS:
        text = squash(_mallard_text(element))
        if text:
            out.append(text)
        return
    for child in element:
        _mallard_blocks(child, out)


def gnome_docs(trees: dict[str, Path], lang: str) -> list[Doc]:
    docs = []
    for package in GNOME_PACKAGES:
        for page_path in sorted((trees[package] / "usr/share/help" / lang).glob("*/*.page")):
            root = ET.parse(page_path).getroot()
            info, title = root.find(MALLARD + "info"), root.find(MALLARD + "title")
            desc = info.find(MALLARD + "desc") if info is not None else None
            blocks: list[str] = []
            for child in root:
                if child is not title:
                    _mallard_blocks(child, blocks)
            doc = Doc(f"{page_path.parent.name}/{page_path.stem}", blocks)
            for kind, element in (("desc", desc), ("title", title)):
                if element is not None:
                    doc.queries.append((kind, squash(_mallard_text(element))))
            docs.append(doc)
    return docs


# ---------------------------------------------------------------- LibreOffice (HTML)

SKIP_DIV_CLASSES = {"howtoget", "relatedtopics", "bascode", "pycode", "noteicon", "debug"}
SKIP_P_CLASSES = {"related", "howtogetheader"}
# The help's script shows one variant of a system switch; Debian's is the default (unnamed)
# one, so the hidden macOS and Windows variants are left out ("Ctrl", not "CommandCtrl").
SKIP_HIDDEN_SPAN_CLASSES = {"MAC", "WIN"}


class _HelpPage(html.parser.HTMLParser):
    """Collect (heading level or 0, anchor id, text) blocks of a help page's DisplayArea.

    Left out: menu paths ("howtoget"), related-topic lists, code listings, macOS/Windows
    variants of system switches, and paragraphs that are nothing but links (lists of pages).
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[tuple[int, str, str]] = []
        self._div_depth = 0       # divs open inside DisplayArea; 0 = outside it
        self._skip_depth = 0      # div depth at which a skipped div opened; 0 = not skipping
        self._current: tuple[int, str, list[str]] | None = None
        self._link_depth = 0      # <a href> elements open
        self._span_skip = 0       # spans open inside a skipped system variant; 0 = not skipping
        self._unlinked = False    # the current block has text outside links

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        classes = set((attributes.get("class") or "").split())
        if tag == "span" and (self._span_skip or ("hidden" in attributes and classes & SKIP_HIDDEN_SPAN_CLASSES)):
            self._span_skip += 1
        elif tag == "div":
            if self._div_depth == 0:
                if attributes.get("id") == "DisplayArea":
                    self._div_depth = 1
                return
            self._div_depth += 1
            if not self._skip_depth and classes & SKIP_DIV_CLASSES:
                self._skip_depth = self._div_depth
        elif tag == "a" and attributes.get("href"):
            self._link_depth += 1
        elif self._div_depth and not self._skip_depth and (tag == "p" or re.fullmatch(r"h[1-6]", tag)):
            self._flush()
            if tag == "p" and classes & SKIP_P_CLASSES:
                return
            level = int(tag[1]) if tag != "p" else 0
            self._current = (level, attributes.get("id") or "", [])
            self._unlinked = False

    def handle_endtag(self, tag: str) -> None:
        if tag == "span" and self._span_skip:
            self._span_skip -= 1
        elif tag == "div" and self._div_depth:
            if self._skip_depth == self._div_depth:
                self._skip_depth = 0
            self._div_depth -= 1
        elif tag == "a" and self._link_depth:
            self._link_depth -= 1
        elif tag == "p" or re.fullmatch(r"h[1-6]", tag):
            self._flush()

    def handle_data(self, data: str) -> None:
        if self._current is not None and not self._span_skip:
            self._current[2].append(data)
            self._unlinked = self._unlinked or (not self._link_depth and bool(data.strip()))

    def _flush(self) -> None:
        if self._current is not None:
            level, anchor, parts = self._current
            text = squash("".join(parts))
            if text and (level or self._unlinked):
                self.blocks.append((level, anchor, text))
            self._current = None


def libreoffice_docs(tree: Path, lang: str) -> list[Doc]:
    base = tree / "usr/share/libreoffice/help" / lang / "text"
    docs = []
    for page_path in sorted(base.rglob("*.html")):
        parser = _HelpPage()
        parser.feed(page_path.read_text(encoding="utf-8"))
        page_id = page_path.relative_to(base).with_suffix("").as_posix()
        doc: Doc | None = None
        seen: set[str] = set()
        for number, (level, anchor, text) in enumerate(parser.blocks):
            if level:
                anchor = anchor if anchor and anchor not in seen else f"b{number}"
                seen.add(anchor)
                doc = Doc(f"{page_id}#{anchor}", [], [("title" if level == 1 else "heading", text)])
                docs.append(doc)
            elif doc is not None:
                doc.blocks.append(text)
    return docs


# ---------------------------------------------------------------- cleaning and writing

def _shingles(text: str) -> set[str]:
    folded = fold(text)
    return {folded[i:i + SHINGLE] for i in range(max(1, len(folded) - SHINGLE + 1))}


def merge_near_duplicates(texts: dict[str, str]) -> dict[str, str]:
    """Give back doc id -> the id it merges into (itself when kept); smallest id wins.

    Candidate pairs come from prefix filtering (two sets with Jaccard >= t share one of the
    first |x| - ceil(t |x|) + 1 shingles of each in a fixed global order), then every
    candidate pair is checked exactly.
    """
    ids = sorted(texts)
    shingles = {i: _shingles(texts[i]) for i in ids}
    frequency: dict[str, int] = {}
    for grams in shingles.values():
        for gram in grams:
            frequency[gram] = frequency.get(gram, 0) + 1
    parent = {i: i for i in ids}

    def root(doc_id: str) -> str:
        while parent[doc_id] != doc_id:
            parent[doc_id] = parent[parent[doc_id]]
            doc_id = parent[doc_id]
        return doc_id

    seen_with: dict[str, list[str]] = {}
    for doc_id in ids:
        grams = shingles[doc_id]
        ordered = sorted(grams, key=lambda g: (frequency[g], g))
        prefix = ordered[:len(grams) - math.ceil(NEAR_DUP * len(grams)) + 1]
        candidates = {other for gram in prefix for other in seen_with.get(gram, ())}
        for other in sorted(candidates):
            theirs = shingles[other]
            if len(grams & theirs) >= NEAR_DUP * len(grams | theirs):
                a, b = sorted((root(doc_id), root(other)))
                parent[b] = a
        for gram in prefix:
            seen_with.setdefault(gram, []).append(doc_id)
    return {i: root(i) for i in ids}


def document_text(doc: Doc, korean: bool) -> str:
    """Give back the document's text without its own queries (and, in Korean, English)."""
    own = {fold(text) for _, text in doc.queries}
    return "\n".join(b for b in doc.blocks if fold(b) not in own and (not korean or is_korean(b)))


def build_docs(builder: str, lang: str, trees: dict[str, Path]) -> list[Doc]:
    if builder == "gnome":
        return gnome_docs(trees, lang)
    return libreoffice_docs(trees[LIBREOFFICE_PACKAGES[lang]], lang)


def finalize(name: str, docs: list[Doc], korean: bool,
             keep: set[str] | None = None) -> tuple[list[dict], list[dict], dict]:
    texts: dict[str, str] = {}
    raw_queries: list[tuple[str, str, str, str]] = []  # (query id, kind, text, doc id)
    for doc in docs:
        text = document_text(doc, korean)
        if len(text) < MIN_DOC_CHARS or doc.id in texts or (keep is not None and doc.id not in keep):
            continue
        texts[doc.id] = text
        for kind, query in doc.queries:
            if korean and not is_korean(query):
                continue
            raw_queries.append((f"{doc.id}:{kind}", kind, query, doc.id))
    target = merge_near_duplicates(texts)
    corpus = {doc_id: texts[doc_id] for doc_id in sorted(texts) if target[doc_id] == doc_id}

    by_text: dict[str, list[tuple[str, str, str, str]]] = {}
    short = 0
    for qid, kind, query, doc_id in raw_queries:
        if len(query.split()) < 2 or len(re.sub(r"\s", "", query)) < 5:
            short += 1
            continue
        by_text.setdefault(fold(query), []).append((qid, kind, query, target[doc_id]))
    queries, ambiguous = [], 0
    for group in by_text.values():
        if len({doc_id for *_, doc_id in group}) > 1:
            ambiguous += len(group)
            continue
        qid, kind, query, doc_id = min(group)
        if fold(query) == fold(corpus[doc_id]):
            continue
        half = int(hashlib.sha256(f"{name}:{doc_id}".encode()).hexdigest()[:8], 16) % 2
        queries.append({"id": qid, "query": query, "relevant": [doc_id], "kind": kind,
                        "split": ("tune", "report")[half]})
    queries.sort(key=lambda q: q["id"])
    stats = {
        "documents": len(corpus), "queries": len(queries),
        "queries_by_split": {s: sum(q["split"] == s for q in queries) for s in ("tune", "report")},
        "queries_by_kind": {k: sum(q["kind"] == k for q in queries)
                            for k in sorted({q["kind"] for q in queries})},
        "documents_merged_as_near_duplicates": len(texts) - len(corpus),
        "queries_dropped_short": short, "queries_dropped_ambiguous": ambiguous,
        "queries_verbatim_in_document": sum(fold(q["query"]) in fold(corpus[q["relevant"][0]])
                                            for q in queries),
        "median_document_chars": sorted(len(t) for t in corpus.values())[len(corpus) // 2],
    }
    return [{"id": i, "text": t} for i, t in corpus.items()], queries, stats


def write_set(directory: Path, corpus: list[dict], queries: list[dict], sources: dict) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for filename, rows in (("corpus.jsonl", corpus), ("queries.jsonl", queries)):
        lines = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        (directory / filename).write_text(lines, encoding="utf-8")
    (directory / "sources.json").write_text(json.dumps(sources, indent=2, ensure_ascii=False) + "\n",
                                            encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=OUT, help="parent folder of the set folders "
                        "(default: benchmarks/data)")
    parser.add_argument("--cache", type=Path, default=None,
                        help="folder for the downloaded .deb files, reused when present "
                             "(default: a temporary folder)")
    parser.add_argument("--sets", nargs="+", choices=sorted(SETS), default=sorted(SETS))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gyeol-debian-") as tmp:
        cache = args.cache or Path(tmp) / "debs"
        needed = tuple(sorted({p for name in args.sets for p in SETS[name][0]}))
        trees = fetch(needed, cache, Path(tmp) / "unpacked")
        for name in args.sets:
            packages, builder, lang, parallel = SETS[name]
            keep = None
            if parallel is not None:
                keep = {doc.id for doc in build_docs(builder, parallel, trees)
                        if len(document_text(doc, korean=parallel == "ko")) >= MIN_DOC_CHARS}
            docs = build_docs(builder, lang, trees)
            corpus, queries, stats = finalize(name, docs, korean=lang == "ko", keep=keep)
            sources = {"set": name, "builder": f"benchmarks/make_debian_sets.py ({builder}, {lang})",
                       "licence": LICENCES[builder],
                       "packages": {p: {"version": PACKAGES[p][0], "sha256": PACKAGES[p][1]}
                                    for p in packages},
                       **stats}
            write_set(args.out / name, corpus, queries, sources)
            print(f"{name}: {stats['documents']} documents, {stats['queries']} queries "
                  f"{stats['queries_by_split']} -> {args.out / name}")


if __name__ == "__main__":
    main()
