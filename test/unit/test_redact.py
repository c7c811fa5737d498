"""Secrets never leave the cluster in a dump; the text around them does."""
import base64
import json

import pytest

from dind_cluster.redact import REDACTED, redact, redact_text

TOKEN = "abcdef.0123456789abcdef"
SECRET_HALF = "0123456789abcdef"
KEY_BODY = base64.b64encode(bytes(range(256)) * 3).decode()
PEM_LINES = [KEY_BODY[i:i + 64] for i in range(0, len(KEY_BODY), 64)]
PEM = "\n".join(["-----BEGIN RSA PRIVATE KEY-----", *PEM_LINES, "-----END RSA PRIVATE KEY-----"])
KEY_DATA = base64.b64encode(PEM.encode()).decode()


def test_bootstrap_token_secret_goes_and_its_public_id_stays():
    out = redact_text(f"Jan 01 kubelet[12]: using bootstrap token {TOKEN} for node x\n")
    assert SECRET_HALF not in out
    assert out == "Jan 01 kubelet[12]: using bootstrap token abcdef.[REDACTED] for node x\n"


@pytest.mark.parametrize("kind", ["RSA PRIVATE KEY", "EC PRIVATE KEY", "PRIVATE KEY",
                                  "ENCRYPTED PRIVATE KEY"])
def test_pem_private_key_block_goes_whole(kind):
    pem = PEM.replace("RSA PRIVATE KEY", kind)
    out = redact_text(f"before the key\n{pem}\nafter the key\n")
    assert out == (f"before the key\n-----BEGIN {kind}-----\n[REDACTED]\n-----END {kind}-----\n"
                   "after the key\n")


def test_cut_off_pem_key_loses_its_base64_lines_but_not_the_next_sentence():
    cut = "\n".join(["-----BEGIN PRIVATE KEY-----", *PEM_LINES[:3]])
    out = redact_text(f"{cut}\nthe log goes on here\n")
    assert not any(line in out for line in PEM_LINES[:3])
    assert out.endswith("the log goes on here\n")


def test_certificate_stays_readable():
    cert = PEM.replace("RSA PRIVATE KEY", "CERTIFICATE")
    assert redact_text(cert) == cert


def test_kubeconfig_secret_fields_go_public_fields_stay():
    kubeconfig = ("users:\n- name: kubernetes-admin\n  user:\n"
                  "    client-certificate-data: Q0VSVA==\n"
                  f"    client-key-data: {KEY_DATA}\n"
                  f"    token: {TOKEN}\n"
                  "    client-key: /etc/kubernetes/pki/admin.key\n")
    out = redact_text(kubeconfig)
    assert KEY_DATA not in out and SECRET_HALF not in out
    assert "client-key-data: [REDACTED]\n" in out
    assert "    token: [REDACTED]\n" in out
    assert "client-certificate-data: Q0VSVA==\n" in out
    assert "client-key: /etc/kubernetes/pki/admin.key\n" in out


def test_secret_fields_in_json_go():
    doc = json.dumps({"user": {"client-key-data": KEY_DATA, "token": "s3cr3t-value"},
                      "certificateKey": "e6a2eb8581237ab72a4f494f30285ec12a9694d750b97857",
                      "name": "kept"})
    out = redact_text(doc)
    assert KEY_DATA not in out and "s3cr3t-value" not in out and "e6a2eb85" not in out
    assert json.loads(out) == {"user": {"client-key-data": "[REDACTED]", "token": "[REDACTED]"},
                               "certificateKey": "[REDACTED]", "name": "kept"}


@pytest.mark.parametrize("line, expected", [
    (f"kubeadm join 10.192.0.2:6443 --token {TOKEN} --discovery-token-ca-cert-hash sha256:ab12",
     "kubeadm join 10.192.0.2:6443 --token [REDACTED] --discovery-token-ca-cert-hash sha256:ab12"),
    ("kubeadm join x --token=notbootstrapshaped --control-plane --certificate-key 0f0f0f",
     "kubeadm join x --token=[REDACTED] --control-plane --certificate-key [REDACTED]"),
    ("kubeadm token create --token-ttl 0 --print-join-command",
     "kubeadm token create --token-ttl 0 --print-join-command"),
    ("Authorization: Bearer abc.def-ghi", "Authorization: Bearer [REDACTED]"),
])
def test_command_line_secrets_go_flags_and_hash_stay(line, expected):
    assert redact_text(line) == expected


def test_a_nodes_files_carried_in_its_environment_go_from_its_inspect_data():
    # base64 of a proxy drop-in, say: a password in it can't be found, so the whole value goes.
    files = "DIND_NODE_FILES=0123456789abcdef:" + base64.b64encode(b"HTTP_PROXY=http://u:pw@proxy").decode()
    doc = json.dumps({"Config": {"Env": [files, "container=docker"]}}, indent=2)
    assert json.loads(redact_text(doc)) == {"Config": {"Env": ["DIND_NODE_FILES=[REDACTED]", "container=docker"]}}


def test_service_account_jwt_goes():
    jwt = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJrdWJlcm5ldGVzIn0.c2lnbmF0dXJlLWJ5dGVz"
    assert redact_text(f"sa={jwt} end") == "sa=[REDACTED] end"


@pytest.mark.parametrize("text", [
    "bootstrapToken:\n  groups: []\n", "tokenFile: /var/run/secrets/x\n",
    "image registry.k8s.io/pause:3.10 sha256:0123456789abcdef0123456789abcdef\n",
    "kube-node-1.cluster-10.local resolved\n",
])
def test_ordinary_text_is_untouched(text):
    assert redact_text(text) == text


def test_redaction_is_idempotent_and_keeps_undecodable_bytes():
    data = b"\xff\xfe binary " + f"--token {TOKEN}\n{PEM}\n".encode()
    once = redact(data)
    assert once.startswith(b"\xff\xfe binary --token " + REDACTED)
    assert redact(once) == once
