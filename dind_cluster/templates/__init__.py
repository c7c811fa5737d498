"""The jinja2 templates of files rendered on the host and put into nodes.

`render(name, **context)` renders one template file of this directory. The environment is strict
(a missing variable is an error, not an empty string) and keeps the final newline, so a rendered
file is exactly what the template shows.
"""
from __future__ import annotations

import json
from functools import lru_cache


def quote(value: object) -> str:
    """A double-quoted scalar: JSON string syntax is valid YAML and JSON, and never ambiguous
    (no `yes`/`no`/`1.30` surprises)."""
    return json.dumps(str(value))


@lru_cache(maxsize=1)
def environment():
    import jinja2  # here: `config` checks versions through kubeadm.py without rendering anything

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("dind_cluster", "templates"),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["q"] = quote
    return env


def render(name: str, **context: object) -> str:
    return environment().get_template(name).render(**context)
