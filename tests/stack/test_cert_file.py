"""The functions' trust store is one CA bundle: the template names provided.al2023's for
every function, and the local stack and the bench give the functions this machine's bundle
where that path does not exist here; and the bench's measure of the time an init waited
for AWS counts overlapping calls once."""

from __future__ import annotations

from pathlib import Path

import pytest

import stack
from bench import union_ms
from template import Template

ROOT = Path(__file__).resolve().parents[2]
AL2023_BUNDLE = "/etc/pki/tls/certs/ca-bundle.crt"


def test_every_function_reads_the_runtime_s_one_bundle():
    template = Template(ROOT / "infra" / "template.yaml")
    variables = template.doc["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["SSL_CERT_FILE"] == AL2023_BUNDLE
    for logical_id, res in template.functions().items():
        own = res["Properties"].get("Environment", {}).get("Variables", {})
        assert "SSL_CERT_FILE" not in own, f"{logical_id} overrides the trust store"


def test_a_bundle_that_exists_here_is_kept(tmp_path):
    bundle = tmp_path / "bundle.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    env = {"SSL_CERT_FILE": str(bundle), "OTHER": "x"}
    assert stack.host_cert_file(env) == env


def test_a_bundle_missing_here_becomes_this_machine_s_bundle(tmp_path):
    env = {"SSL_CERT_FILE": str(tmp_path / "absent.crt"), "OTHER": "x"}
    mapped = stack.host_cert_file(env)
    assert mapped["OTHER"] == "x"
    assert mapped["SSL_CERT_FILE"] != env["SSL_CERT_FILE"]
    assert Path(mapped["SSL_CERT_FILE"]).is_file()
    assert "BEGIN CERTIFICATE" in Path(mapped["SSL_CERT_FILE"]).read_text()


def test_no_variable_no_change():
    assert stack.host_cert_file({"OTHER": "x"}) == {"OTHER": "x"}


@pytest.mark.parametrize("intervals, expected_ms", [
    ([], 0.0),
    ([(1.0, 1.002)], 2.0),
    ([(1.0, 1.004), (1.001, 1.003)], 4.0),  # one inside another
    ([(1.0, 1.002), (1.001, 1.005)], 5.0),  # overlapping
    ([(1.010, 1.011), (1.0, 1.002)], 3.0),  # apart, out of order
])
def test_waiting_counts_overlapping_calls_once(intervals, expected_ms):
    assert union_ms(intervals) == pytest.approx(expected_ms)
