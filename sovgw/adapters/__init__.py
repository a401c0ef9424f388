"""Adapters: the only modules that talk to AWS and Salesforce; each implements a port."""
