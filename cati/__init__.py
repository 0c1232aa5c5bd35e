"""cati: a CATI server for market and social research."""

from __future__ import annotations

import warnings
from typing import Any

# Pyramid 2.1 still imports pkg_resources, which setuptools deprecates loudly; the warning is not
# ours to fix and would otherwise be printed by every `cati` command that reads an INI file.
warnings.filterwarnings("ignore", message="pkg_resources is deprecated as an API", category=UserWarning)



def main(global_config: dict[str, Any], **settings: Any) -> Any:
    """PasteDeploy app factory (``use = egg:cati``).

    Pyramid is imported here, not at module level, so that ``cati check`` and the other
    commands that import ``cati.*`` start without loading the web framework.
    """
    from pyramid.config import Configurator

    from .settings import parse_settings

    with Configurator(settings=parse_settings(settings)) as config:
        config.include("pyramid_jinja2")
        config.include(".db")
        config.include(".web")
    return config.make_wsgi_app()
