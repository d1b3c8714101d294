"""The HTTP service: FastAPI over the triage engine, for intake, reception, handlers and admins.

Nothing is built at import time: :func:`api.main.create_app` builds the app, its lifespan loads the
models, runs the store's migrations, opens the indexes and warms up; :func:`api.main.serve` runs it
under uvicorn (``triage serve``).
"""
