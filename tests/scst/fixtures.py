"""The shared scst.conf samples (real scstadmin files), found relative to the repository."""

from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures"
SCST_CONF_FILES = sorted((FIXTURES / "scst").glob("*.conf"))
