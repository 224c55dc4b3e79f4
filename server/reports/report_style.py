"""The report's inline stylesheet and Content-Security-Policy (kept apart from the markup that uses them).

System fonts only (nothing to fetch). Print: the page size is left to the printer so A4 and Letter
both work; 14 mm side margins fit either; a question never splits across pages unless it is longer
than one; table headers repeat on every printed page.
"""

from __future__ import annotations

# No fetch of any kind; only the inline <style> and data: images (a question's inlined pictures).
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

STYLE = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; color: #111; background: #fff;
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "DejaVu Sans", Arial, sans-serif; }
header.top, main { max-width: 62rem; margin: 0 auto; padding: 0 1rem; }
header.top { padding-top: 1rem; }
h1 { font-size: 1.6rem; margin: 0 0 .5rem; }
h2 { font-size: 1.35rem; margin: 2rem 0 .5rem; border-bottom: 2px solid #111; padding-bottom: .2rem; }
h3 { font-size: 1.15rem; margin: 1.5rem 0 .5rem; }
h4 { font-size: 1rem; margin: .2rem 0 .4rem; }
a { color: #0b4f8a; }
.muted { color: #555; font-weight: normal; }
.instructor { border: 2px solid #111; padding: .4rem .6rem; margin: .5rem 0; background: #f3f4f6; }
.badge { font-size: .75rem; font-weight: bold; text-transform: uppercase; letter-spacing: .04em;
  border: 1.5px solid #111; padding: 0 .35rem; vertical-align: middle; }
nav ol { margin: .3rem 0 1rem; padding-left: 1.3rem; columns: 2; font-size: .9rem; }
dl.cards { display: flex; flex-wrap: wrap; gap: .5rem; margin: .5rem 0; }
.card { border: 1px solid #999; padding: .3rem .6rem; min-width: 7rem; }
.card dt { font-size: .8rem; color: #444; }
.card dd { margin: 0; font-size: 1.2rem; font-weight: bold; }
article.question { border-top: 1px solid #999; padding: .6rem 0 .4rem; break-inside: avoid; page-break-inside: avoid; }
.qtext { margin: .2rem 0 .4rem; }
.qtext pre { white-space: pre-wrap; background: #f3f4f6; border: 1px solid #ccc; padding: .4rem; font-size: .85rem; }
.qtext code { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; }
.qtext img { max-width: 100%; height: auto; }
ul.options { display: flex; flex-wrap: wrap; gap: .1rem 1.4rem; list-style: none; margin: 0 0 .4rem; padding: 0;
  font-size: .92rem; }
.flag { margin: .3rem 0; padding: .25rem .5rem; border: 2px solid #111; border-left-width: 6px; background: #fff7e0; }
dl.figures { display: grid; grid-template-columns: repeat(auto-fill, minmax(9.5rem, 1fr)); gap: .3rem .8rem;
  margin: .4rem 0; }
.fig dt { font-size: .78rem; color: #444; }
.fig dd { margin: 0; font-weight: bold; }
.fig small { display: block; font-weight: normal; color: #555; font-size: .72rem; line-height: 1.2; }
figure.chart { margin: .5rem 0; }
figure.chart svg { display: block; width: 100%; max-width: 640px; height: auto; }
figure.chart.side {
  display: grid; grid-template-columns: minmax(18rem, 440px) auto; gap: .2rem 1rem; align-items: start;
}
figure.chart.side svg { max-width: 440px; }
figcaption.alt { font-size: .8rem; color: #222; }
figcaption.alt p { margin: .2rem 0; }
table { border-collapse: collapse; font-size: .85rem; }
th, td { border: 1px solid #bbb; padding: .15rem .4rem; text-align: left; vertical-align: top; }
thead th { background: #eceef1; }
table.alt-table { margin-top: .2rem; font-size: .78rem; }
table.alt-table td { overflow-wrap: anywhere; }
.table-wrap { overflow-x: auto; }
table.student-table, table.course-table, table.attendance { width: 100%; }
table.student-table { font-size: .8rem; }
table.student-table td:nth-child(n+3):nth-child(-n+8) { white-space: nowrap; }
tr.help th { font-weight: bold; border-left: 5px solid #111; }
td.absent { color: #555; font-style: italic; }
table.attendance thead th { white-space: nowrap; }
.needs-help { border: 1px solid #111; padding: .2rem .8rem; margin: .5rem 0; }
@media screen and (max-width: 44rem) {
  figure.chart.side { grid-template-columns: minmax(0, 1fr); }
  nav ol { columns: 1; }
}
@page { margin: 14mm 14mm 16mm; }
@media print {
  body { font-size: 10pt; }
  .card dd { font-size: 1.05rem; }
  table.student-table { font-size: 8.5pt; }
  th, td { padding: .1rem .25rem; }
  header.top, main { max-width: none; padding: 0; }
  nav { display: none; }
  a { color: inherit; text-decoration: none; }
  h2, h3, h4 { break-after: avoid; page-break-after: avoid; }
  section.session + section.session, section.course + section.session { break-before: page; }
  thead { display: table-header-group; }
  tr, figure.chart, .flag, dl.figures { break-inside: avoid; page-break-inside: avoid; }
  .table-wrap { overflow: visible; }
  .instructor, .flag, thead th { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"""
