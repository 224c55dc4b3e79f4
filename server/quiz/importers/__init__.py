"""Question-bank importers: GIFT, Aiken, Moodle XML and CSV banks become quizctl pools.

The public face of the package; the parts live beside it:

- bank.py: `import_bank` / `import_data` (format detection, the pool dict, the check by
  the pool loader with every problem at its bank line), `ImportResult`;
- gift.py, aiken.py, moodle_xml.py, spreadsheet.py: one parser per format, each
  returning a `ParsedBank`; gift_syntax.py, html_markdown.py, xml_document.py,
  assets.py and text.py are theirs;
- gift_export.py: `export_gift`, a pool as a GIFT bank Moodle imports, whose quizctl
  comments (gift_meta.py) give the same pool back;
- problems.py: `ImportProblem` (prints as ``FILE:LINE[:COL]: message (fix: ...)``),
  `BankError` (every problem of a bank at once) and the parsers' collector.

Nothing here writes files: the caller writes `ImportResult.pool` and its `assets`.
"""

from __future__ import annotations

from .bank import EXTENSIONS, FORMATS, ImportResult, bank_format, import_bank, import_data, parse_bank
from .gift_export import export_gift, pool_json
from .problems import BankError, ImportProblem, ParsedBank

__all__ = [
    "EXTENSIONS",
    "FORMATS",
    "BankError",
    "ImportProblem",
    "ImportResult",
    "ParsedBank",
    "bank_format",
    "export_gift",
    "import_bank",
    "import_data",
    "parse_bank",
    "pool_json",
]
