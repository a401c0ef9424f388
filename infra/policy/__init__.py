"""The sovereignty policy pack."""
