"""Real-tool samples kept in the repository (tests/fixtures/README.md names each source)."""

from pathlib import Path

FIXTURES = Path(__file__).resolve().parent / "fixtures"
