#!/usr/bin/env bash
# Placeholder until the Debian-side setup is written; see below.
exit 0
