"""Writes one file of each office, e-book, mail, notebook and table format docent reads, each made
by the library people make it with (python-docx, python-pptx, openpyxl, odfpy, ebooklib, nbformat,
the standard library's email and csv), with a distinctive sentence under a heading, for
tests/formats.rs to ingest, search and cite. Also a zip bomb posing as a Word document.
usage: make_documents.py OUT_DIR"""
import csv
import sys
import zipfile
from email.message import EmailMessage
from pathlib import Path

import docx
import nbformat
import openpyxl
from ebooklib import epub
from odf.opendocument import OpenDocumentText
from odf.text import H, P
from pptx import Presentation

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)

document = docx.Document()
document.add_heading("Kettle Manual", level=0)
document.add_heading("Descaling", level=1)
document.add_paragraph("Descale the kettle every month with white vinegar and rinse it twice.")
table = document.add_table(rows=2, cols=2)
table.cell(0, 0).text = "Model"
table.cell(0, 1).text = "Capacity"
table.cell(1, 0).text = "KT-200"
table.cell(1, 1).text = "1.7 litres"
document.save(out / "manual.docx")

chinese = docx.Document()
chinese.add_heading("水壶说明书", level=0)
chinese.add_heading("除垢", level=1)
chinese.add_paragraph("每个月用白醋给水壶除垢一次，然后用清水冲洗两遍。")
chinese.save(out / "说明书.docx")

deck = Presentation()
for title, body in [
    ("Quarterly results", "Revenue grew by eleven percent in the third quarter."),
    ("Hiring plan", "The team will hire four lighthouse keepers next spring."),
]:
    slide = deck.slides.add_slide(deck.slide_layouts[1])
    slide.shapes.title.text = title
    slide.placeholders[1].text = body
deck.save(out / "deck.pptx")

book = openpyxl.Workbook()
sheet = book.active
sheet.title = "Inventory"
sheet.append(["Item", "Warehouse", "Count"])
sheet.append(["copper kettle", "Rotterdam", 42])
sheet.append(["tea strainer", "Hamburg", 7])
prices = book.create_sheet("Prices")
prices.append(["Item", "Price"])
prices.append(["copper kettle", "39 euros"])
book.save(out / "stock.xlsx")

odt = OpenDocumentText()
odt.text.addElement(H(outlinelevel=1, text="Garden Notes"))
odt.text.addElement(H(outlinelevel=2, text="Tomatoes"))
odt.text.addElement(P(text="Water the tomatoes at dawn so the leaves dry before noon."))
odt.save(str(out / "garden.odt"))

ebook = epub.EpubBook()
ebook.set_identifier("docent-test-book")
ebook.set_title("The Lighthouse")
ebook.set_language("en")
chapters = []
for i, (title, text) in enumerate(
    [
        ("The Keeper", "The keeper climbs one hundred and twelve steps to light the lamp."),
        ("The Storm", "In the storm the foghorn sounded every thirty seconds until dawn."),
    ],
    start=1,
):
    chapter = epub.EpubHtml(title=title, file_name=f"chapter{i}.xhtml", lang="en")
    chapter.content = f"<h1>{title}</h1><p>{text}</p>"
    ebook.add_item(chapter)
    chapters.append(chapter)
ebook.toc = chapters
ebook.spine = chapters
ebook.add_item(epub.EpubNcx())
ebook.add_item(epub.EpubNav())
epub.write_epub(str(out / "lighthouse.epub"), ebook)

mail = EmailMessage()
mail["Subject"] = "Boiler inspection on Friday"
mail["From"] = "Facilities <facilities@example.org>"
mail["To"] = "everyone@example.org"
mail["Date"] = "Mon, 30 Nov 2026 09:15:00 +0000"
mail.set_content("The boiler inspector arrives on Friday at ten; the basement will be closed until noon.")
(out / "inspection.eml").write_bytes(bytes(mail))

notebook = nbformat.v4.new_notebook()
notebook.metadata["language_info"] = {"name": "python"}
notebook.cells = [
    nbformat.v4.new_markdown_cell("# Forecast\n\nWe fit the forecast on the sensor readings of the greenhouse."),
    nbformat.v4.new_code_cell("readings = load_greenhouse_sensors()\nmodel.fit(readings)"),
]
nbformat.write(notebook, str(out / "forecast.ipynb"))

with open(out / "ports.csv", "w", newline="") as f:
    writer = csv.writer(f)
    writer.writerow(["Port", "Service", "Notes"])
    writer.writerow(["22", "ssh", "remote shell, keys only"])
    writer.writerow(["5432", "postgres", "the billing database"])

# 300 MiB of zeros as word/document.xml: under a megabyte on disk.
with zipfile.ZipFile(out / "bomb.docx", "w", zipfile.ZIP_DEFLATED) as bomb:
    with bomb.open("word/document.xml", "w") as part:
        zeros = bytes(1 << 20)
        for _ in range(300):
            part.write(zeros)
