"""Look-alike CRM servers, one module per CRM, each as strict as the vendor's documented API.

Every behaviour cites the vendor's documentation page it copies.
"""
