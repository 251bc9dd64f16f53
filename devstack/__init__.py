"""The development harness: local stack, look-alike CRMs, CRM sink, simulator, chaos tools.

Never shipped with the functions nor needed by the runtime package: ``sessionctl``
imports it only for ``local`` and ``demo``; the tests import it freely.
"""
