"""DLP benchmark: labelled corpus, precision/recall/F1 per entity type, throughput."""
