"""The rule catalogue: stable codes, severities, titles, sources and remediations."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

CRITICAL, WARNING, INFO = "CRITICAL", "WARNING", "INFO"
README_DRBD = "SCST scst/README.drbd (dual-primary DRBD)"
README_DLM = "SCST scst/README.dlm (cluster_mode, PR synchronisation)"
UG_DUAL = "DRBD User's Guide, 'Enabling dual-primary mode'"


@dataclass(frozen=True)
class Detail:
    """One line of a finding, with the node output it was read from."""

    text: str
    evidence: str = ""
    node: str | None = None

    def as_json(self) -> dict:
        return {"node": self.node, "text": self.text, "evidence": self.evidence}


@dataclass
class FindingData:
    """A violation of one rule on one object (pure; services store it as a Finding)."""

    code: str
    severity: str
    object_ref: str
    title: str
    details: list[Detail] = field(default_factory=list)

    def details_json(self) -> list[dict]:
        return [d.as_json() for d in self.details]


@dataclass(frozen=True)
class Rule:
    code: str
    severity: str
    title: str
    why: str
    remediation: str
    check: Callable[..., Iterable[FindingData]]

    def finding(
        self, object_ref: str, *details: Detail, severity: str | None = None
    ) -> FindingData:
        return FindingData(
            self.code, severity or self.severity, object_ref, self.title, list(details)
        )


CATALOGUE: dict[str, Rule] = {}


class Check(Protocol):
    """A registered check function: it carries its catalogue entry to build findings."""

    rule: Rule

    def __call__(self, *args: Any, **kwargs: Any) -> Iterable[FindingData]: ...


def rule(
    code: str, severity: str, title: str, why: str, remediation: str
) -> Callable[[Callable[..., Iterable[FindingData]]], Check]:
    """Register a check function under a catalogue entry."""

    def register(check: Callable[..., Iterable[FindingData]]) -> Check:
        CATALOGUE[code] = Rule(code, severity, title, why, remediation, check)
        registered = cast(Check, check)
        registered.rule = CATALOGUE[code]  # lets the check build its findings
        return registered

    return register
