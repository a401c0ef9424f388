"""The composition root: the one place that builds adapters and services from settings.

Lambda handlers (``functions/``), the CLI, the local stack and the benchmarks all get their
dependencies here, so each concept is wired once: ``bootstrap`` (settings → adapters),
``invocation`` (retry or dead-letter), ``break_glass`` and ``rotation`` (services over those
adapters), ``proxy`` (the OpenAI-compatible proxy's upstreams).
"""
