"""Salesforce API simulator: a real HTTPS server on loopback for tests and the local demo.

simple-salesforce and the OAuth flows talk to it unchanged. Its behaviour follows Salesforce's
documentation: see docs/salesforce-simulator.md for what is modelled and what is not.
"""
