"""Properties: render → parse_dump is the identity (also through the real drbdadm), and
random or mutated node output raises only DrbdConfigError."""

import contextlib
import ipaddress

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clusters.drbd import (
    DrbdConfigError,
    dual_primary_resource,
    parse_dump,
    parse_events2,
    parse_proc_drbd,
    parse_show,
    parse_status_json,
    parse_status_text,
    render_resource,
)
from clusters.drbd.validate import MINOR_MAX, NET_RANGES
from tests.drbd.support import FIXTURES, drbdadm_dump, needs_drbdadm

names = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True)
labels = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
host_names = st.lists(labels, min_size=1, max_size=3).map(".".join)
disks = st.from_regex(r"/dev(/[a-z0-9_+:=@-][a-z0-9_.+:=@-]{0,12}){1,3}", fullmatch=True)


@st.composite
def resources(draw):
    version = draw(st.sampled_from(["9", "8.4"]))
    v6 = draw(st.booleans())
    ips = st.ip_addresses(v=6 if v6 else 4).map(lambda ip: ipaddress.ip_address(ip).compressed)
    hosts = draw(st.lists(host_names, min_size=2, max_size=2, unique=True))
    addresses = draw(st.lists(ips, min_size=2, max_size=2, unique=True))
    minors = draw(st.lists(st.integers(0, MINOR_MAX), min_size=1, max_size=2, unique=True))
    volumes = [(minor, draw(disks)) for minor in minors]
    res = dual_primary_resource(
        draw(names),
        draw(st.integers(1, 65535)),
        list(zip(hosts, addresses, strict=True)),
        volumes,
        version,
    )
    extra = draw(st.dictionaries(st.sampled_from(sorted(NET_RANGES)), st.just(0), max_size=3))
    for option in extra:
        low, high = NET_RANGES[option]
        res.net[option] = str(draw(st.integers(low, high)))
    return res, version


@given(resources())
def test_render_then_parse_dump_is_the_identity(case):
    res, version = case
    assert parse_dump(render_resource(res, version)) == [res]


@needs_drbdadm
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(resources())
def test_real_drbdadm_accepts_generated_resources(tmp_path, case):
    res, version = case
    result = drbdadm_dump(render_resource(res, version), tmp_path, version)
    assert result.returncode == 0, result.stderr
    assert parse_dump(result.stdout) == [res]


PARSERS = [
    parse_dump,
    parse_show,
    parse_status_json,
    parse_status_text,
    parse_events2,
    parse_proc_drbd,
]
SAMPLES = [path.read_text() for path in sorted(FIXTURES.iterdir())]


def _only_drbd_config_error(parse, text):
    with contextlib.suppress(DrbdConfigError):
        parse(text)


@given(st.sampled_from(PARSERS), st.text(max_size=300))
def test_random_text_raises_only_drbd_config_error(parse, text):
    _only_drbd_config_error(parse, text)


@st.composite
def mutated_samples(draw):
    text = draw(st.sampled_from(SAMPLES))
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(["insert", "delete", "replace"]))
        junk = draw(st.text(alphabet='{};"#:[]/ \n\t0123456789abcxyz-_.\\', max_size=6))
        if action == "insert":
            text = text[:pos] + junk + text[pos:]
        elif action == "delete":
            text = text[:pos] + text[pos + len(junk) :]
        else:
            text = text[:pos] + junk + text[pos + len(junk) :]
    return text


@settings(max_examples=300)
@given(st.sampled_from(PARSERS), mutated_samples())
def test_mutated_fixtures_raise_only_drbd_config_error(parse, text):
    _only_drbd_config_error(parse, text)
