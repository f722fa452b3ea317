"""Emulated SCST + DRBD nodes reachable over real SSH (see docs/lab.md)."""
