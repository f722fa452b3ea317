"""The compliance page: open findings of every visible cluster, filters, rule text and
evidence, and muting a finding (operators only, with a reason and an end)."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from clusters.compliance import CATALOGUE
from clusters.models import Mute, Role
from tests import records
from tests.factories import make_user

URL = reverse("compliance")


def shown_codes(page: str) -> list[str]:
    return re.findall(r'<tr id="finding-\d+".*?<td[^>]*><code>([A-Z_]+)</code>', page, re.S)


@pytest.fixture
def findings(cluster, other_cluster):
    return {
        "nv_cache": records.finding(
            cluster,
            "CRITICAL",
            code="SCST_NV_CACHE_ON",
            details=[
                {
                    "node": "store-a-n0",
                    "text": "nv_cache is 1",
                    "evidence": "/sys/kernel/scst_tgt/devices/lun0/nv_cache = '1'",
                }
            ],
        ),
        "fencing": records.finding(
            cluster, "WARNING", code="DRBD_FENCING", object_ref="drbd:r0", title="fencing"
        ),
        "other": records.finding(other_cluster, "CRITICAL", code="DRBD_PROTOCOL_NOT_C"),
    }


@pytest.fixture
def global_viewer(client, findings):
    client.force_login(make_user("g", Role.VIEWER, None))
    return client


def test_shows_open_findings_of_visible_clusters_only(client, cluster, findings):
    client.force_login(make_user("v", Role.VIEWER, cluster))
    page = client.get(URL).content.decode()
    assert sorted(shown_codes(page)) == ["DRBD_FENCING", "SCST_NV_CACHE_ON"]


def test_resolved_findings_are_not_shown(global_viewer, cluster):
    records.finding(cluster, "INFO", code="DATA_STALE", resolved=True)
    assert "DATA_STALE</code>" not in global_viewer.get(URL).content.decode()


def test_worst_findings_come_first(global_viewer):
    codes = shown_codes(global_viewer.get(URL).content.decode())
    assert codes[-1] == "DRBD_FENCING"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"severity": "CRITICAL"}, ["DRBD_PROTOCOL_NOT_C", "SCST_NV_CACHE_ON"]),
        ({"severity": "WARNING"}, ["DRBD_FENCING"]),
        ({"code": "DRBD_FENCING"}, ["DRBD_FENCING"]),
        ({"cluster": "store-b"}, ["DRBD_PROTOCOL_NOT_C"]),
        ({"cluster": "store-a", "severity": "CRITICAL"}, ["SCST_NV_CACHE_ON"]),
        ({"severity": "INFO"}, []),
    ],
)
def test_filters(global_viewer, params, expected):
    page = global_viewer.get(URL, params).content.decode()
    assert sorted(shown_codes(page)) == expected


def test_a_filter_value_outside_the_choices_filters_nothing(global_viewer):
    page = global_viewer.get(URL, {"cluster": "no-such-cluster"}).content.decode()
    assert len(shown_codes(page)) == 3


def test_cluster_filter_offers_only_visible_clusters(client, cluster, findings):
    client.force_login(make_user("v", Role.VIEWER, cluster))
    page = client.get(URL, {"cluster": "store-b"}).content.decode()
    assert '<option value="store-b"' not in page
    assert "DRBD_PROTOCOL_NOT_C</code>" not in page


def test_htmx_filter_returns_only_the_table(global_viewer):
    fragment = global_viewer.get(
        URL, {"severity": "WARNING"}, headers={"HX-Request": "true"}
    ).content.decode()
    assert fragment.lstrip().startswith('<div id="findings">')
    assert "<html" not in fragment
    assert shown_codes(fragment) == ["DRBD_FENCING"]


def test_a_finding_expands_to_why_remediation_and_evidence(global_viewer):
    page = global_viewer.get(URL, {"code": "SCST_NV_CACHE_ON"}).content.decode()
    rule = CATALOGUE["SCST_NV_CACHE_ON"]
    assert "<details" in page
    assert str(rule.remediation).split("`")[0] in page.replace("&#x27;", "'")
    assert "nv_cache is 1" in page
    assert "/sys/kernel/scst_tgt/devices/lun0/nv_cache = &#x27;1&#x27;" in page


def test_muted_findings_stay_visible_and_say_who_muted_them_and_why(
    global_viewer, cluster, findings
):
    records.mute(findings["fencing"], make_user("op", Role.OPERATOR, cluster), reason="no stonith")
    page = global_viewer.get(URL).content.decode()
    assert "DRBD_FENCING" in shown_codes(page)
    stamp = r"<time [^>]+>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC</time>"  # the one time format
    assert re.search(rf"muted until {stamp} by op: no stonith", page)


def test_viewers_get_no_mute_form_operators_do(client, cluster, findings):
    client.force_login(make_user("v", Role.VIEWER, cluster))
    assert "Mute this finding" not in client.get(URL).content.decode()
    client.force_login(make_user("op", Role.OPERATOR, cluster))
    page = client.get(URL).content.decode()
    assert reverse("finding-mute", args=[findings["nv_cache"].pk]) in page


# --- muting ---------------------------------------------------------------------------


def until(days: int = 7) -> str:
    return (timezone.now() + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M")


@pytest.fixture
def operator(client, cluster):
    client.force_login(make_user("op", Role.OPERATOR, cluster))
    return client


def mute_url(found) -> str:
    return reverse("finding-mute", args=[found.pk])


def test_operator_mutes_a_finding(operator, findings):
    response = operator.post(
        mute_url(findings["nv_cache"]), {"reason": "replacing BBU", "until": until()}, follow=True
    )
    mute = Mute.objects.get()
    assert (mute.code, mute.object_ref, mute.reason) == (
        "SCST_NV_CACHE_ON",
        "device:lun0",
        "replacing BBU",
    )
    assert mute.created_by.username == "op"
    assert "by op: replacing BBU" in response.content.decode()


def test_mute_without_reason_shows_the_error_and_saves_nothing(operator, findings):
    response = operator.post(mute_url(findings["nv_cache"]), {"reason": "  ", "until": until()})
    assert response.status_code == 200
    assert "Give a reason" in response.content.decode()
    assert not Mute.objects.exists()


def test_mute_ending_in_the_past_is_refused(operator, findings):
    response = operator.post(
        mute_url(findings["nv_cache"]), {"reason": "x", "until": until(days=-1)}
    )
    assert "must end in the future" in response.content.decode()
    assert not Mute.objects.exists()


def test_mute_without_end_is_refused(operator, findings):
    response = operator.post(mute_url(findings["nv_cache"]), {"reason": "x", "until": ""})
    assert "Give the date and time the mute ends" in response.content.decode()
    assert not Mute.objects.exists()


def test_htmx_mute_error_comes_back_in_the_open_row(operator, findings):
    found = findings["nv_cache"]
    response = operator.post(
        mute_url(found), {"reason": "", "until": until()}, headers={"HX-Request": "true"}
    )
    fragment = response.content.decode()
    assert fragment.lstrip().startswith(f'<tr id="finding-{found.pk}"')
    assert "<details open>" in fragment
    assert "Give a reason" in fragment
    assert not Mute.objects.exists()


def test_htmx_mute_returns_the_muted_row(operator, findings):
    found = findings["nv_cache"]
    response = operator.post(
        mute_url(found),
        {"reason": "replacing BBU", "until": until()},
        headers={"HX-Request": "true"},
    )
    fragment = response.content.decode()
    assert fragment.lstrip().startswith(f'<tr id="finding-{found.pk}"')
    assert "by op: replacing BBU" in fragment


def test_viewer_cannot_mute(client, cluster, findings):
    client.force_login(make_user("v", Role.VIEWER, cluster))
    response = client.post(mute_url(findings["nv_cache"]), {"reason": "x", "until": until()})
    assert response.status_code == 403
    assert not Mute.objects.exists()


def test_operator_of_another_cluster_does_not_see_the_finding(client, other_cluster, findings):
    client.force_login(make_user("op-b", Role.OPERATOR, other_cluster))
    response = client.post(mute_url(findings["nv_cache"]), {"reason": "x", "until": until()})
    assert response.status_code == 404
    assert not Mute.objects.exists()


def test_a_resolved_finding_cannot_be_muted(operator, cluster):
    gone = records.finding(cluster, "CRITICAL", code="DATA_STALE", resolved=True)
    response = operator.post(mute_url(gone), {"reason": "x", "until": until()})
    assert response.status_code == 404
    assert not Mute.objects.exists()
