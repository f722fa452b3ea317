"""The real scst.conf samples (scstadmin files) kept in tests/fixtures/scst."""

from tests.samples import FIXTURES

SCST_CONF_FILES = sorted((FIXTURES / "scst").glob("*.conf"))
