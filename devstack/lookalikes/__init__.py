"""Look-alike CRM servers, one module per CRM, as strict as the vendors' APIs.

Every behaviour a client may depend on cites the vendor's documentation page next to it.
``start`` serves all four (and an SMTP sink) from one port; ``python -m
devstack.lookalikes.server`` runs them as a process.
"""

from devstack.lookalikes.common import Limits
from devstack.lookalikes.salesforce import sf_time
from devstack.lookalikes.server import FakeCrms, Running, start

__all__ = ["FakeCrms", "Limits", "Running", "sf_time", "start"]
