"""triage — suggestions for Chinese petitions and citizen messages.

The data flow is the architecture:

    letter → normalise → segment → embed → { dedup | classify, route | retrieve } → suggestion
           → a person's decision → training → a new model version

Each step is one module; :mod:`triage.pipeline` wires them together. Nothing here imports
FastAPI or touches a database: persistence lives behind :mod:`triage.store`.
"""

__version__ = "0.1.0"
