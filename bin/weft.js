#!/usr/bin/env -S node --max-semi-space-size=2 --heap-growing-percent=100
// The young generation is capped at 2 MB, and the old generation may grow to twice what the
// last full collection kept (V8 otherwise lets a busy process grow it up to four times):
// together they keep a proxy's resident memory under load tens of MB lower (bench/README.md).
import '../dist/src/cli/main.js';
