"""Salesforce adapters, one module per concern: OAuth logins (``oauth``), an org's credential
pool (``credentials``), records through the API budget (``records``), credential rotation
(``rotation``) and break-glass access (``break_glass``).

Field and object names come only from code allow-lists (``sovgw.salesforce_schema``); values
are bound with ``format_soql``. Error codes are mapped to retryable or not in one place
(``SalesforceRecords.call``).
"""
