"""Secrets Manager rotation of the Salesforce connected-app credentials."""
