"""What each command-line verb does with its parsed arguments: call the package, print the result
(text, or ``--json``). The parsers are in :mod:`analysis.cli`; nothing here builds one.

- :mod:`.common`: the trusted model or scenario (``--trust-size``), estimate options from the
  flags, the one JSON writer.
- :mod:`.checks`: every numeric option checked once; argparse errors in one line; JSON with NaN
  and infinity refused.
- :mod:`.model`: ``anatomy``, ``evaluate``, ``check``.
- :mod:`.plan`: ``plan``; :mod:`.plan_serving`: ``plan --serving`` and ``--hardware A,B``.
- :mod:`.serve`: ``serve``, ``simulate``.
- :mod:`.studies`: ``sensitivity``, ``audit``, ``validate``.
"""
