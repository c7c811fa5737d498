"""Pure: secrets taken out of diagnostics before they reach a dump, a CI log or a bug report.

What goes: PEM private keys (the whole block, a cut-off block to its last base64 line),
kubeconfig and kubeadm secret fields (`client-key-data`, `token`, `certificateKey` …, YAML or
JSON), the values of `--token` and `--certificate-key`, the secret half of bootstrap tokens
(`abcdef.<16 chars>`; the ID before the dot is public, it names the token's Secret, and helps
debugging), bearer tokens, service-account JWTs and the password in a URL (`http://user:pw@proxy`,
as in DIND_HTTP_PROXY), and the files a node's container carries in its environment (a base64 tar,
in the node's inspect data: a secret in it can't be found). What stays: everything around them, and
`--discovery-token-ca-cert-hash` (a hash of the public CA certificate, not a secret).
"""
from __future__ import annotations

import re

from dind_cluster.images import NODE_FILES_ENV

REDACTED = b"[REDACTED]"

_PEM_KEY = re.compile(
    rb"(-----BEGIN (?P<kind>[A-Z0-9 ]*PRIVATE KEY)-----)"
    # a cut-off block (no END line): the base64 lines that follow
    rb"(?:.*?-----END (?P=kind)-----|(?:\r?\n[A-Za-z0-9+/=]+(?=\r?\n|\Z))*)",
    re.DOTALL)
_KEYS = (rb"client-key-data|token|id-token|refresh-token|access-token|certificateKey"
         rb"|certificate-key|password|tls\.key")
# `key: value` or `"key": "value"`; a key only when not the tail of a longer name.
_FIELD = re.compile(rb'(?P<lead>(?<![\w.-])"?(?:' + _KEYS + rb')"?[ \t]*:[ \t]*"?)[^\s"\',}]+')
_FLAG = re.compile(rb"(?P<lead>--(?:token|certificate-key)(?:=|[ \t]+))(?!-)[^\s\"',]+")
_BOOTSTRAP = re.compile(rb"(?<![A-Za-z0-9])(?P<lead>[a-z0-9]{6}\.)[a-z0-9]{16}(?![A-Za-z0-9])")
_BEARER = re.compile(rb"(?P<lead>\b[Bb]earer[ \t]+)(?!\[)[^\s\"',]+")
_URL_PASSWORD = re.compile(rb"(?P<lead>\b[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s\"']*:)(?!\[REDACTED\])[^@\s/\"']+(?=@)")
_NODE_FILES = re.compile(rb"(?P<lead>\b" + NODE_FILES_ENV.encode() + rb"=)(?!\[REDACTED\])[^\s\"',]+")
_JWT = re.compile(rb"\beyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]+")


def _keep_lead(match: re.Match) -> bytes:
    return match.group("lead") + REDACTED


def _pem(match: re.Match) -> bytes:
    kind = match.group("kind")
    return b"-----BEGIN %s-----\n%s\n-----END %s-----" % (kind, REDACTED, kind)


def redact(data: bytes) -> bytes:
    """`data` with every secret listed in the module docstring replaced by [REDACTED]."""
    data = _PEM_KEY.sub(_pem, data)
    data = _JWT.sub(REDACTED, data)
    for pattern in (_NODE_FILES, _URL_PASSWORD, _FIELD, _FLAG, _BEARER, _BOOTSTRAP):
        data = pattern.sub(_keep_lead, data)
    return data


def redact_text(text: str) -> str:
    """`redact` for str (undecodable bytes survive as they were)."""
    return redact(text.encode("utf-8", "surrogateescape")).decode("utf-8", "surrogateescape")
