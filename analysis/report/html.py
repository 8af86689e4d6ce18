"""The strategy report as one self-contained HTML file, to send to a colleague.

``report_html(markdown, out_dir, summary)`` turns the report's markdown (our own, known subset:
``#``/``##`` headings, pipe tables, ``-`` lists, ``>`` quotes, images, ``**bold**``, ``*em*``,
`` `code` ``) into HTML with every figure embedded as a base64 PNG and every table sortable by a
click on its header (a few lines of inline JavaScript, no network). The page opens with a
one-page summary (the verdict and the key numbers), then the validation checklist, then the
report's sections in their usual order. Deterministic: the same inputs give the same bytes.
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

__all__ = ["report_html"]

CSS = """
body { font: 15px/1.45 system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em;
       color: #1b1b1b; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; margin-top: 2em; }
table { border-collapse: collapse; margin: .8em 0; font-size: .92em; }
th, td { border: 1px solid #d0d0d0; padding: .25em .6em; vertical-align: top; }
th { background: #f2f2f2; cursor: pointer; user-select: none; }
th[aria-sort=ascending]::after { content: " \\25B2"; }
th[aria-sort=descending]::after { content: " \\25BC"; }
td.r { text-align: right; font-variant-numeric: tabular-nums; }
code { background: #f4f4f4; padding: 0 .2em; }
blockquote { border-left: 4px solid #e0a000; margin: 1em 0; padding: .2em 1em;
             background: #fff8e6; }
#verdict { font-size: 1.15em; padding: .8em 1em; border: 2px solid #2a7; background: #effaf3; }
#verdict.fail { border-color: #c33; background: #fdf0f0; }
#summary { page-break-after: always; }
figure { margin: 1em 0; } figure img { max-width: 100%; } figcaption { color: #555; }
"""

# Click a header to sort its table; numbers are read with their unit (ns ... s, B ... TB), so
# "340 ms" sorts below "1.2 s". Sets data-ready on <body> when done: the browser test reads it.
JS = """
(function () {
  var scale = {ns: 1e-9, "\\u00b5s": 1e-6, us: 1e-6, ms: 1e-3, s: 1, min: 60, h: 3600,
               B: 1, KB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12};
  function key(text) {
    var m = /^[^0-9\\-]*(-?[0-9][0-9,]*\\.?[0-9]*(?:e[-+]?[0-9]+)?)\\s*([A-Za-z\\u00b5]*)/
        .exec(text.trim());
    if (!m) { return null; }
    var v = parseFloat(m[1].replace(/,/g, ""));
    return isNaN(v) ? null : v * (scale[m[2]] || 1);
  }
  function sortBy(table, col, th) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var asc = th.getAttribute("aria-sort") !== "ascending";
    rows.sort(function (a, b) {
      var x = a.cells[col].textContent, y = b.cells[col].textContent;
      var kx = key(x), ky = key(y), d;
      if (kx !== null && ky !== null) { d = kx - ky; } else { d = x.localeCompare(y); }
      return asc ? d : -d;
    });
    rows.forEach(function (r) { body.appendChild(r); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (c) {
      c.removeAttribute("aria-sort");
    });
    th.setAttribute("aria-sort", asc ? "ascending" : "descending");
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
      th.addEventListener("click", function () { sortBy(table, col, th); });
    });
  });
  document.body.setAttribute("data-ready", "1");
})();
"""

_IMAGE = re.compile(r"^!\[(?P<alt>[^\]]*)\]\((?P<src>[^)]+)\)$")


def _inline(text: str) -> str:
    """Escape, then `code`, **bold** and *em*; code spans are set aside first, so their stars
    stay literal and bold may contain code."""
    codes: list[str] = []

    def keep(m: re.Match) -> str:
        codes.append(f"<code>{html.escape(m.group(1))}</code>")
        return f"\x00{len(codes) - 1}\x00"

    e = html.escape(re.sub(r"`([^`]*)`", keep, text), quote=False)
    e = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", e)
    e = re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])", r"<em>\1</em>", e)
    return re.sub("\x00(\\d+)\x00", lambda m: codes[int(m.group(1))], e)


def _cells(line: str) -> list[str]:
    """A table row's cells, split at unescaped pipes (``\\|`` is a pipe inside a cell)."""
    return [c.strip().replace("\\|", "|")
            for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]


def _table(lines: list[str]) -> str:
    """A pipe table: header, alignment row, body; right-aligned columns get class ``r``."""
    head, align, body = _cells(lines[0]), _cells(lines[1]), [_cells(x) for x in lines[2:]]
    right = [a.endswith(":") and not a.startswith(":") for a in align]
    th = "".join(f"<th>{_inline(c)}</th>" for c in head)
    cls = [' class="r"' if r else "" for r in right]
    rows = "".join("<tr>" + "".join(f"<td{cls[i]}>{_inline(c)}</td>" for i, c in enumerate(r))
                   + "</tr>\n" for r in body)
    return (f'<table class="sortable">\n<thead><tr>{th}</tr></thead>\n<tbody>\n{rows}</tbody>'
            "\n</table>")


def _image(alt: str, src: str, base: Path) -> str:
    """An embedded PNG figure; a missing file becomes a visible note, never a broken link."""
    path = base / src
    if not path.is_file():
        return f"<p><em>figure missing: {html.escape(src)}</em></p>"
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(alt)}</figcaption></figure>")


def markdown_to_html(markdown: str, base: Path) -> str:
    """Our report markdown to HTML blocks (see the module docstring for the subset)."""
    out: list[str] = []
    lines = markdown.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        if line.startswith("|"):
            j = i
            while j < len(lines) and lines[j].startswith("|"):
                j += 1
            out.append(_table(lines[i:j]))
            i = j
            continue
        if line.startswith(("- ", "> ")):
            mark = line[:2]
            j = i
            while j < len(lines) and lines[j].startswith(mark):
                j += 1
            items = [_inline(x[2:]) for x in lines[i:j]]
            out.append("<ul>\n" + "".join(f"<li>{x}</li>\n" for x in items) + "</ul>"
                       if mark == "- " else "<blockquote>" + " ".join(items) + "</blockquote>")
            i = j
            continue
        m = re.match(r"^(#{1,3}) (.*)$", line)
        img = _IMAGE.match(line.strip())
        if m:
            level, text = len(m.group(1)), m.group(2)
            ident = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
            out.append(f'<h{level} id="{ident}">{_inline(text)}</h{level}>')
        elif img:
            out.append(_image(img.group("alt"), img.group("src"), base))
        else:
            out.append(f"<p>{_inline(line)}</p>")
        i += 1
    return "\n".join(out)


def _sections(markdown: str) -> tuple[str, list[str]]:
    """(the text before the first ``## ``, each ``## `` section with its body)."""
    chunks = re.split(r"\n(?=## )", markdown)
    return chunks[0], chunks[1:]


def report_html(markdown: str, base: Path, title: str, verdict: str, passed: bool,
                key_numbers: list[tuple[str, str]], stamp: str = "") -> str:
    """The whole page: summary (verdict, key numbers, checklist) first, then the report.

    ``key_numbers`` are (label, value) rows, labels saying which reading they are ("at the
    longest prompt"); ``passed`` colours the verdict box; ``stamp`` (version, git commit,
    mode) goes under the title: the commit is shown here, not in report.md, which is committed
    and compared byte for byte.
    """
    head, sections = _sections(markdown)
    checklist = [s for s in sections if s.startswith("## Validation checklist")]
    rest = [s for s in sections if not s.startswith("## Validation checklist")]
    rows = "".join(f"<tr><td>{_inline(k)}</td><td class=\"r\">{_inline(v)}</td></tr>\n"
                   for k, v in key_numbers)
    summary = (f'<section id="summary">\n<h1>{_inline(title)}</h1>\n'
               + (f'<p id="stamp">{html.escape(stamp)}</p>\n' if stamp else "") +
               f'<p id="verdict" class="{"pass" if passed else "fail"}">{_inline(verdict)}</p>\n'
               f'<table class="sortable">\n<thead><tr><th>key number</th><th>value</th></tr>'
               f"</thead>\n<tbody>\n{rows}</tbody>\n</table>\n"
               + "\n".join(markdown_to_html(s, base) for s in checklist) + "\n</section>")
    head_html = markdown_to_html(re.sub(r"^# .*\n", "", head), base)
    body = "\n".join(markdown_to_html(s, base) for s in rest)
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{html.escape(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
            f"{summary}\n<section id=\"report\">\n<h2 id=\"about\">About this report</h2>\n"
            f"{head_html}\n{body}\n</section>\n<script>{JS}</script>\n</body>\n</html>\n")
