#!/bin/bash
# Stands in for keepalived where the kernel has no IPVS: keeps a copy of the config it was
# started with and of the config at every SIGHUP, and notes SIGTERM, in $FAKE_KEEPALIVED_OUT.
out=${FAKE_KEEPALIVED_OUT:?}
conf=""
while [[ $# -gt 0 ]]; do [[ $1 == -f ]] && conf=$2; shift; done
# Copy, then rename: the test polls for these files and must never read a half-written one.
keep() { cp "$conf" "$out/.partial" && mv "$out/.partial" "$out/$(printf %04d "$1").conf"; }
n=0
keep 0  # numbered: the last file is the latest config
trap 'n=$((n+1)); keep $n' HUP
trap 'touch "$out/terminated"; exit 0' TERM
for ((i = 0; i < 12000; i++)); do sleep 0.05; done  # bounded: 10 minutes at most
