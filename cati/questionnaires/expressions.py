"""Safe expression language of ``cati/1`` (questionnaire-format §5). CONTRACT STUB: being implemented.

Public API (stable; other modules code against it):

* ``parse(source, *, allow_random=False) -> Expr``: parse once, check against the whitelist,
  raise :class:`ExpressionError` (``message``, ``offset`` = 0-based character offset) otherwise.
* ``Expr``: ``source``, ``names`` (frozenset of variable/sample names referenced, excluding
  literals, ``DK``/``REF``/``NA`` and ``$code``/``$label``), ``functions`` (frozenset of function
  names called), ``uses_loop`` (``$code``/``$label`` used), ``is_random`` (random_* used),
  ``label_args`` (names passed to ``label()``), ``evaluate(env)``.
* ``Env``: what an evaluation may see (values, labels, quota state, loop item, today, rng).
* ``DK``, ``REF``, ``NA``: the special states (instances of :class:`Special`); ``SPECIALS`` maps
  names to them.
* ``truthy(value)``: boolean context (null is false).
"""
