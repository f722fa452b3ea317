"""Property tests: every model survives a render/parse round trip; no input crashes the parser."""

import string

from hypothesis import given, settings
from hypothesis import strategies as st

from clusters.scst import (
    Attributes,
    Device,
    DeviceGroup,
    Handler,
    Initiator,
    InitiatorGroup,
    Lun,
    ScstConfig,
    ScstConfigError,
    Target,
    TargetDriver,
    TargetGroup,
    TargetGroupMember,
    escape_value,
    parse_config,
    render_config,
)
from clusters.scst.parser import KEYWORDS
from tests.scst.fixtures import SCST_CONF_FILES
from tests.scst.scstadmin_oracle import scstadmin_tree

names = st.text(string.ascii_letters + string.digits + "._:-", min_size=1, max_size=10).filter(
    lambda n: n not in KEYWORDS
)


def _writable(value: str) -> bool:
    try:
        escape_value(value)
    except ValueError:
        return False
    return True


values = st.text(string.ascii_letters + string.digits + ' \t#\\"./,=*?!', max_size=12).filter(
    _writable
)


@st.composite
def attributes(draw) -> Attributes:
    attrs = Attributes()
    for name, value, key in draw(st.lists(st.tuples(names, values, st.booleans()), max_size=4)):
        attrs.add(name, value, key)
    return attrs


def named(strategy, key=lambda child: child.name, max_size=3):
    return st.lists(strategy, max_size=max_size, unique_by=key).map(
        lambda children: {key(c): c for c in children}
    )


luns = st.builds(Lun, st.integers(0, 300), names, attributes())
lun_maps = named(luns, key=lambda lun: lun.number)
initiator_names = values.filter(bool)
groups = st.builds(
    InitiatorGroup,
    names,
    attributes(),
    lun_maps,
    named(st.builds(Initiator, initiator_names, attributes())),
)
targets = st.builds(Target, names, attributes(), lun_maps, named(groups, max_size=2), st.booleans())
configs = st.builds(
    ScstConfig,
    attributes(),
    named(st.builds(Handler, names, attributes(), named(st.builds(Device, names, attributes())))),
    named(st.builds(TargetDriver, names, attributes(), named(targets, max_size=2))),
    attributes(),
    named(
        st.builds(
            DeviceGroup,
            names,
            attributes(),
            st.sets(names, max_size=3),
            named(
                st.builds(
                    TargetGroup,
                    names,
                    attributes(),
                    named(st.builds(TargetGroupMember, names, attributes())),
                )
            ),
        )
    ),
)


@settings(max_examples=300)
@given(configs)
def test_parse_of_render_gives_back_every_model(config):
    assert parse_config(render_config(config)) == config


@settings(max_examples=100)
@given(configs)
def test_render_is_a_fixed_point_for_scstadmin(config):
    text = render_config(config)
    assert scstadmin_tree(render_config(parse_config(text))) == scstadmin_tree(text)


structural = st.sampled_from(
    ["{", "}", '"', "#", "\\", " ", "\t", "\n", "LUN ", "DEVICE ", "TARGET ", "GROUP ", "x", "7"]
)


@settings(max_examples=500)
@given(st.text(max_size=200))
def test_random_text_parses_or_raises_config_error(text):
    try:
        parse_config(text)
    except ScstConfigError as error:
        assert error.line >= 1


@settings(max_examples=500)
@given(st.sampled_from(SCST_CONF_FILES), st.data())
def test_mutated_fixture_parses_or_raises_config_error(path, data):
    text = path.read_text()
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(text)))
        cut = data.draw(st.integers(0, 3))
        text = text[:at] + "".join(data.draw(st.lists(structural, max_size=3))) + text[at + cut :]
    try:
        config = parse_config(text)
    except ScstConfigError as error:
        assert 1 <= error.line <= text.count("\n") + 1
    else:
        assert isinstance(config, ScstConfig)
