"""The shapes of dataset and build ids, with no imports: the event contracts check them on
every cold start, the domain makes and validates them."""

DATASET_ID = r"^[a-z][a-z0-9-]{1,40}$"
# A dataset id, a build's start time (UTC, to the second) and a random tail: what
# sovgw.domain.export.new_build_id makes.
BUILD_ID_PATTERN = DATASET_ID[:-1] + r"-\d{8}T\d{6}Z-[0-9a-f]{6}$"
