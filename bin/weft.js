#!/usr/bin/env -S node --max-semi-space-size=2
// The young generation is capped at 2 MB: it keeps the proxy's resident memory under load
// about 20 MB lower at no measured throughput cost (bench/README.md).
import '../dist/src/cli/main.js';
