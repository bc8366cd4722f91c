"""A small, deterministic PDF writer for tests and for gyeol's bundled sample PDF (no PDF library needed).

Pages carry a real text layer: a Type0 font on Adobe's Korean CID collection (HYSMyeongJo-Medium,
encoding UniKS-UCS2-H: each character is its UTF-16 code unit, so viewers with the Asian font
pack draw it) and a ToUnicode map, so any text extractor (pypdf, pdftotext) reads the text back.
The same input always gives the same bytes (no dates, no random ids).

    python tests/helpers/minipdf.py     # rewrites src/gyeol/data/gnome_help/docs/pdf/bluetooth.pdf
"""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_PDF = ROOT / "src" / "gyeol" / "data" / "gnome_help" / "docs" / "pdf" / "bluetooth.pdf"
# The sample PDF's pages: three Korean GNOME help pages (title from the set's :title query).
SAMPLE_PAGES = ("gnome-help/bluetooth-turn-on-off", "gnome-help/bluetooth-send-file", "gnome-help/bluetooth-visibility")
SAMPLE_TITLE = "그놈 도움말: 블루투스"

PAGE_W, PAGE_H, MARGIN = 595, 842, 56  # A4 in points
BODY_PT, BODY_LEADING, HEADING_PT = 11, 16, 16


def _width_em(text: str) -> float:
    # ASCII is half width in the Korean CID font (the W array below), everything else full width
    return sum(0.5 if ord(ch) < 128 else 1.0 for ch in text)


def wrap(text: str, max_em: float) -> list[str]:
    """Lines of at most max_em ems, broken at spaces (a longer word is broken where it must)."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split(" "):
            candidate = f"{line} {word}" if line else word
            if _width_em(candidate) <= max_em:
                line = candidate
                continue
            if line:
                lines.append(line)
            line = word
            while _width_em(line) > max_em:  # a word wider than a line
                cut = 1
                while _width_em(line[: cut + 1]) <= max_em:
                    cut += 1
                lines.append(line[:cut])
                line = line[cut:]
        lines.append(line)
    return lines


def _hex(text: str) -> str:
    if any(ord(ch) > 0xFFFF for ch in text):
        raise ValueError("only characters of the Basic Multilingual Plane fit UCS-2")
    return "<" + text.encode("utf-16-be").hex().upper() + ">"


def _page_stream(title: str | None, body: str) -> bytes:
    max_em = (PAGE_W - 2 * MARGIN) / BODY_PT
    ops = ["BT", f"{BODY_LEADING} TL", f"{MARGIN} {PAGE_H - MARGIN} Td"]
    if title:
        ops += [f"/F1 {HEADING_PT} Tf", f"{_hex(title)} Tj", "0 -28 Td"]
    ops.append(f"/F1 {BODY_PT} Tf")
    for line in wrap(body, max_em):
        ops.append(f"{_hex(line)} Tj T*" if line else "T*")
    ops.append("ET")
    return "\n".join(ops).encode("ascii")


def _graphics_stream() -> bytes:
    # a page with a drawing and no text: what a scanned page looks like to a text extractor
    return b"0.5 g 56 400 483 300 re f"


def _to_unicode(texts: list[str]) -> bytes:
    highs = sorted({ord(ch) >> 8 for t in texts for ch in t})
    ranges = [f"<{h:02X}00> <{h:02X}FF> <{h:02X}00>" for h in highs]
    blocks = []
    for i in range(0, len(ranges), 100):  # at most 100 entries a block
        part = ranges[i : i + 100]
        blocks.append(f"{len(part)} beginbfrange\n" + "\n".join(part) + "\nendbfrange")
    return (
        "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"
        "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n"
        "/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n"
        "1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n"
        + "\n".join(blocks)
        + "\nendcmap\nCMapName currentdict /CMap defineresource pop\nend\nend"
    ).encode("ascii")


def _stream(data: bytes) -> bytes:
    return b"<< /Length %d >>\nstream\n" % len(data) + data + b"\nendstream"


def build_pdf(pages: list[tuple[str | None, str] | None], *, title: str | None = None) -> bytes:
    """The bytes of a PDF with one page per item: (heading or None, body text), or None for a page
    with no text layer (a drawing only)."""
    texts = [t for page in pages if page for t in page if t]
    # objects 1..5: catalog, page tree, Type0 font, CID font, font descriptor; 6: ToUnicode; then per page 2
    n_fixed = 6
    page_ids = [n_fixed + 1 + 2 * i for i in range(len(pages))]
    objects: dict[int, bytes] = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: b"<< /Type /Pages /Kids [" + b" ".join(b"%d 0 R" % p for p in page_ids) + b"] /Count %d >>" % len(pages),
        3: (b"<< /Type /Font /Subtype /Type0 /BaseFont /HYSMyeongJo-Medium-UniKS-UCS2-H /Encoding /UniKS-UCS2-H"
            b" /DescendantFonts [4 0 R] /ToUnicode 6 0 R >>"),
        4: (b"<< /Type /Font /Subtype /CIDFontType0 /BaseFont /HYSMyeongJo-Medium"
            b" /CIDSystemInfo << /Registry (Adobe) /Ordering (Korea1) /Supplement 1 >>"
            b" /FontDescriptor 5 0 R /DW 1000 /W [1 95 500] >>"),
        5: (b"<< /Type /FontDescriptor /FontName /HYSMyeongJo-Medium /Flags 6 /FontBBox [0 -148 1001 880]"
            b" /ItalicAngle 0 /Ascent 880 /Descent -120 /CapHeight 880 /StemV 93 >>"),
        6: _stream(_to_unicode(texts)),
    }
    for page_id, page in zip(page_ids, pages):
        content = _page_stream(*page) if page else _graphics_stream()
        objects[page_id] = (b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d]" % (PAGE_W, PAGE_H)
                            + b" /Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % (page_id + 1))
        objects[page_id + 1] = _stream(content)
    info_id = max(objects) + 1
    info = b"<< /Producer (gyeol tests/helpers/minipdf.py)"
    if title:
        info += b" /Title <FEFF" + title.encode("utf-16-be").hex().upper().encode("ascii") + b">"
    objects[info_id] = info + b" >>"

    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = {}
    for number in sorted(objects):
        offsets[number] = len(out)
        out += b"%d 0 obj\n" % number + objects[number] + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (info_id + 1)
    for number in range(1, info_id + 1):
        out += b"%010d 00000 n \n" % offsets[number]
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (info_id + 1, info_id, xref)
    return bytes(out)


def write_pdf(path: Path, pages: list[tuple[str | None, str] | None], *, title: str | None = None) -> Path:
    path.write_bytes(build_pdf(pages, title=title))
    return path


def sample_pages() -> list[tuple[str | None, str] | None]:
    """The bundled sample's pages, read from benchmarks/data/gnome_help_ko (text and :title query)."""
    data = ROOT / "benchmarks" / "data" / "gnome_help_ko"
    corpus = {}
    with (data / "corpus.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            corpus[row["id"]] = row["text"]
    titles = {}
    with (data / "queries.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            if row["id"].endswith(":title"):
                titles[row["id"][: -len(":title")]] = row["query"]
    return [(titles[page], corpus[page]) for page in SAMPLE_PAGES]


def sample_pdf() -> bytes:
    return build_pdf(sample_pages(), title=SAMPLE_TITLE)


if __name__ == "__main__":
    SAMPLE_PDF.parent.mkdir(parents=True, exist_ok=True)
    SAMPLE_PDF.write_bytes(sample_pdf())
    print(f"wrote {SAMPLE_PDF} ({SAMPLE_PDF.stat().st_size} bytes)")
