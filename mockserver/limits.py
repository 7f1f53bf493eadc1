"""Every resource budget the mock enforces, in one place.

Hostile input is expected: nothing a request carries (a schema, a template,
a header, a Prefer value) may make the server do unbounded work, hold a
connection forever or grow its memory without limit. Each number here is
documented in ``docs/security.md`` and answered, when a request exceeds it,
with a 4xx whose message names the limit (and, for a schema, the path inside
it). Change a number here and the docs with it.
"""

from __future__ import annotations

# --- request bodies ---------------------------------------------------------------------
# JSON nesting of a request body. orjson (the journal's and renderer's encoder)
# refuses to write past 254 levels, so a body that deep could be accepted and
# then fail on the way out; no real API request nests anywhere near this.
MAX_JSON_DEPTH = 128

# --- schemas sent in a request (tools[].function.parameters, response_format) ------------
# Nesting of a request-supplied JSON Schema (objects and arrays both count).
MAX_SCHEMA_DEPTH = 64
# Size of a request-supplied schema, in JSON bytes as received.
MAX_SCHEMA_BYTES = 256 * 1024
# Size of one instance generated from a request-supplied schema (a tool call's
# arguments, a structured-output document): what the schema asks for at least
# is estimated before generating, and refused above this.
MAX_GENERATED_BYTES = 1024 * 1024
# Wall-clock budget of one generation from a request-supplied schema.
MAX_GENERATION_SECONDS = 2.0

# --- pacing (Prefer ttft/tps, fixture stream pacing, --ttft/--tps) ------------------------
# A stream's planned length, from its first byte to its last.
MAX_STREAM_SECONDS = 600.0
# Time to first token, in milliseconds.
MAX_TTFT_MS = 600_000.0
# Slowest accepted token rate (tokens per second); 0 means "no pacing".
MIN_TPS = 0.01

# --- fixtures -------------------------------------------------------------------------------
# One rendered template value ({{ faker.* }}, {{ request.* }}) in a fixture.
MAX_TEMPLATE_OUTPUT_BYTES = 64 * 1024
# A fixture file on disk or a runtime fixture body.
MAX_FIXTURE_FILE_BYTES = 8 * 1024 * 1024
# YAML alias expansions in one fixture/cassette file ("billion laughs").
MAX_YAML_ALIASES = 1_000
# Nodes that alias expansion adds to one such file: a few aliases of one large
# anchored list would otherwise multiply the file's size within MAX_YAML_ALIASES.
MAX_YAML_ALIAS_NODES = 100_000

# --- the request journal ------------------------------------------------------------------
# What one journal entry keeps of the answer sent: a response body's text, or
# a stream's events. Past it the text is cut, marked (``truncated``) and its
# full size kept. A full journal (--journal-size entries) holds at most that
# many times this of answers, beside the requests themselves.
MAX_JOURNAL_BODY_BYTES = 64 * 1024

# --- logging ----------------------------------------------------------------------------
# Any text from a request or a user file quoted in a log line is cut to this.
MAX_LOG_TEXT = 2_000

# --- connections ------------------------------------------------------------------------
# A connection that has not sent its complete request head within this time
# is closed (slowloris).
HEADER_TIMEOUT_SECONDS = 5.0
