"""Domain logic: no AWS or HTTP imports here; adapters are passed in through ``sovgw.ports``."""
