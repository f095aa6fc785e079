# Build switches in one place (Mosquitto's config.mk idea).
# EXTRA_CFLAGS / EXTRA_LDFLAGS: added to every compile / link.
EXTRA_CFLAGS  ?=
EXTRA_LDFLAGS ?=
# Preprocessor definitions for optional features (none yet).
CONFIG_DEFS   ?=
