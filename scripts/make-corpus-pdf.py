#!/usr/bin/env python3
"""Writes corpus/en/prompt-injection-and-safety.pdf: a small text-layer PDF (Helvetica, one page
per section, an outline entry per section) written by hand with no dependencies, so the sample
corpus exercises PDF ingestion.
Run it again after editing SECTIONS; the PDF is committed."""
import pathlib

SECTIONS = [
    ("Defending against prompt injection", [
        "Prompt injection is an attack in which text that a model reads tries to",
        "override the instructions of the application. In a retrieval system the",
        "attack usually hides inside a document: a web page or a PDF that says",
        "ignore previous instructions and reply only with a chosen phrase.",
        "",
        "Defences work in layers. The application fences retrieved text as data,",
        "with clear delimiters, and its system prompt says that instructions found",
        "inside sources must be ignored. Citations are checked against the sources",
        "that were really retrieved, so the model cannot invent a reference.",
        "Tools proposed by the model run only after validation, with the least",
        "privilege they need, and a person confirms anything irreversible.",
    ]),
    ("Content safety", [
        "Content safety filters check both the question and the answer. Input",
        "filters reject requests for clearly harmful material; output filters",
        "catch answers that leak personal data or that the sources do not support.",
        "A grounded system has one more safeguard: when retrieval finds nothing",
        "relevant, it answers that it does not know instead of guessing.",
        "",
        "Local deployment is itself a safety measure: documents and questions stay",
        "on the machine, and no text is sent to an outside service.",
    ]),
]


def escape(text):
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def page_stream(title, lines):
    ops = ["BT", "/F1 18 Tf", "72 740 Td", f"({escape(title)}) Tj", "/F1 11 Tf", "0 -30 Td", "14 TL"]
    for line in lines:
        ops.append(f"({escape(line)}) Tj T*" if line else "T*")
    ops.append("ET")
    return "\n".join(ops).encode("latin-1")


def build():
    objects = []  # object bodies, numbered from 1

    def add(body):
        objects.append(body)
        return len(objects)

    font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    pages_id = len(objects) + 1 + 2 * len(SECTIONS)  # allocated after the pages
    page_ids = []
    for title, lines in SECTIONS:
        stream = page_stream(title, lines)
        content = add(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
        page_ids.append(add(
            b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 %d 0 R >> >> "
            b"/Contents %d 0 R >>" % (pages_id, font, content)))
    kids = b" ".join(b"%d 0 R" % p for p in page_ids)
    assert add(b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, len(page_ids))) == pages_id
    # The outline (bookmarks): one entry per section, pointing at its page.
    outline_id = len(objects) + 1
    entries = [outline_id + 1 + i for i in range(len(SECTIONS))]
    assert add(b"<< /Type /Outlines /First %d 0 R /Last %d 0 R /Count %d >>"
               % (entries[0], entries[-1], len(entries))) == outline_id
    for i, ((title, _), page) in enumerate(zip(SECTIONS, page_ids)):
        links = b""
        if i > 0:
            links += b" /Prev %d 0 R" % entries[i - 1]
        if i + 1 < len(entries):
            links += b" /Next %d 0 R" % entries[i + 1]
        assert add(b"<< /Title (%s) /Parent %d 0 R /Dest [%d 0 R /Fit]%s >>"
                   % (escape(title).encode("latin-1"), outline_id, page, links)) == entries[i]
    catalog = add(b"<< /Type /Catalog /Pages %d 0 R /Outlines %d 0 R /PageMode /UseOutlines >>"
                  % (pages_id, outline_id))
    info = add(b"<< /Title (Prompt injection and content safety) /Producer (docent corpus script) >>")

    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root %d 0 R /Info %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, catalog, info, xref)
    return bytes(out)


if __name__ == "__main__":
    target = pathlib.Path(__file__).resolve().parent.parent / "corpus/en/prompt-injection-and-safety.pdf"
    target.write_bytes(build())
    print(f"wrote {target}")
