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

    settings = parse_settings(settings)
    with Configurator(settings=settings) as config:
        config.include("pyramid_jinja2")
        config.include(".db")
        config.include(".web")
        # Here, not in an include: an action of the root configuration overrides pyramid_jinja2's.
        config.add_renderer(".jinja2", "cati.web.rendering.search_path_templates")
    app = config.make_wsgi_app()
    if settings["cati.gc_freeze"]:
        _freeze_startup_objects()
    return app


def _freeze_startup_objects() -> None:
    """Exempt everything alive after start-up (modules, the app, its routes, views, templates, ORM
    mappings) from cyclic garbage collection. They live as long as the process, yet every full
    collection walked them all: with some 200,000 objects one took 120 ms, long enough to be the
    slowest answer submission of a busy minute. Requests' own garbage is collected as before."""
    import gc

    gc.collect()
    gc.freeze()
