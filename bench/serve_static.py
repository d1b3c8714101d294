"""``triage serve`` for the fast tier's model bundle (embedder ``static:<folder>``, which ``triage.embed.get_embedder``
now accepts itself; ``install_static_name`` predates that and is kept for older checkouts served in A/B runs),
optionally with :class:`bench.fastpath.FastMatcher` (``--fast``) in place of ``Triage.match``.
Settings come from ``TRIAGE_*`` variables as for ``triage serve``.

    TRIAGE_STORE=sqlite:///data/bench/N10000/store.db TRIAGE_MODELS_DIR=data/bench/models-static-… \\
        python bench/serve_static.py --port 8765 [--fast] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))


def install_static_name() -> None:
    """Make ``get_embedder`` accept ``static:<folder>`` (what the proposed patch to embed.py does)."""
    import triage.embed as embed
    import triage.pipeline as pipeline

    original = embed.get_embedder

    def get_embedder(config=None):
        name = config if isinstance(config, str) else getattr(config, "name", "") or ""
        if name.startswith("static:"):
            from triage.static_embed import StaticEmbedder
            return StaticEmbedder.load(name[len("static:"):])
        return original(config)

    embed.get_embedder = get_embedder
    pipeline.get_embedder = get_embedder


def install_fast_matcher() -> None:
    from triage.pipeline import Triage

    from bench.fastpath import FastMatcher

    original = Triage.load

    def load(self, embedder=None):
        out = original(self, embedder)
        self.match = FastMatcher(self).match
        return out

    Triage.load = load


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python bench/serve_static.py")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--fast", action="store_true", help="use bench.fastpath.FastMatcher for matching")
    p.add_argument("--workers", type=int, default=1, help="serving processes (triage serve --workers)")
    args = p.parse_args(argv)
    if args.fast:
        os.environ["BENCH_FAST_MATCHER"] = "1"
    from api.main import serve

    # the worker processes import app_factory, which installs the same changes in each of them
    return serve(host=args.host, port=args.port, workers=args.workers, factory="bench.serve_static:app_factory") or 0


def app_factory():
    """The app of one serving process, with the static embedder name (and the fast matcher) installed."""
    install_static_name()
    if os.environ.get("BENCH_FAST_MATCHER") == "1":
        install_fast_matcher()
    from api.main import app_from_env

    return app_from_env()


if __name__ == "__main__":
    sys.exit(main())
