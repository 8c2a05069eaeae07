"""Pages as PDF documents, through WeasyPrint: tagged (PDF/UA-1), so a screen reader reads the
headings, tables and their captions in order, as it reads the page. WeasyPrint loads only the report's
own stylesheet, read from the static files on disk: a PDF never fetches anything over the network."""

from __future__ import annotations

from django.contrib.staticfiles import finders

# The stylesheet both the page (under @media print) and the PDF use.
REPORT_CSS = "frontend/report.css"


def pdf_from_html(*, html: str) -> bytes:
    """A tagged PDF of a whole HTML document (it must carry a lang and a title, as PDF/UA asks).
    WeasyPrint is imported here, not with the module: it loads Pango from the system when imported, so
    a machine without it still serves every page but the PDFs (infra/scripts/system-deps.sh installs it)."""
    from weasyprint import CSS, HTML

    found = finders.find(REPORT_CSS)
    stylesheets = [CSS(filename=str(found))] if isinstance(found, str) else []
    pdf = HTML(string=html).write_pdf(stylesheets=stylesheets, pdf_variant="pdf/ua-1")
    if pdf is None:  # only when writing to a target; kept out of the type
        raise RuntimeError("WeasyPrint wrote no PDF")
    return pdf
