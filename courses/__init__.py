"""The catalog: students, offerings and rounds in PostgreSQL, under the catalog's rules, with
their CSV import, their audit trail and the demo data set. No HTTP here.

The admission gate keeps a copy of what it decides with; the catalog tells it of every change
through ``courses.ports.GateSync``, implemented above it.
"""
