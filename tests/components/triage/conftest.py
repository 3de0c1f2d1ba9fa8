import json
import re
from pathlib import Path

CORPUS = Path(__file__).parent / "corpus"
SPEC = json.loads((CORPUS / "cases.json").read_text(encoding="utf-8"))
NOW = SPEC["now"]
CASES = SPEC["cases"]

# Anything shaped like a live secret that redaction must have masked.
SECRET_RE = re.compile(r"sk-[A-Za-z0-9]{6}|xox[abposr]-[0-9A-Za-z]{6}|Bearer [A-Za-z0-9._\-]{6}")
