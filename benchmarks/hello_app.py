"""The baseline for ``bench_console.py``: the smallest Pyramid app, one view returning "hello",
served by waitress exactly like the console (same threads, same host).

    python benchmarks/hello_app.py --port 6601 --threads 8
"""

from __future__ import annotations

import argparse

from pyramid.config import Configurator
from pyramid.response import Response


def hello(request: object) -> Response:
    return Response("hello", content_type="text/plain")


def make_app() -> object:
    with Configurator() as config:
        config.add_route("hello", "/hello")
        config.add_view(hello, route_name="hello")
    return config.make_wsgi_app()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args(argv)
    from bench_console import listening_socket
    from waitress import serve

    serve(make_app(), sockets=[listening_socket(args.port)], threads=args.threads, connection_limit=1000, _quiet=True)


if __name__ == "__main__":
    main()
