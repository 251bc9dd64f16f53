"""CRM records: the rules of seed 004 (pure), their settings and the errors clients raise."""

from shared.crm.errors import CrmError, CrmRejected, CrmThrottled, CrmUnavailable
from shared.crm.settings import CrmSettings

__all__ = ["CrmError", "CrmRejected", "CrmSettings", "CrmThrottled", "CrmUnavailable"]
