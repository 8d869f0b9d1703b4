// After `weft up` and a meshed workload run at debug log level: every file of the state directory is
// 0600 and every directory 0700 (exceptions listed with their reason), and no private key or token
// appears in any log the control plane or a proxy wrote (stdout and stderr, every level).
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { Load } from '../../test/helpers/controlplane.js';
import { sampleProcess } from '../context.js';
import { AUTHORITY, startMesh } from '../mesh.js';
import type { Scenario } from '../scenario.js';

/** Files of the state directory that may be readable by others, and why. */
export const PUBLIC_FILES: ReadonlyMap<string, string> = new Map([
  ['identity/issuer.crt', 'the issuer certificate: public, handed to every proxy in its chain'],
  [
    'identity/trust-anchors.pem',
    "the trust anchors: public, what every proxy verifies peers against (Linkerd's are a ConfigMap)",
  ],
]);

interface Entry {
  path: string;
  mode: number;
  dir: boolean;
}

function walk(root: string, dir = root, out: Entry[] = []): Entry[] {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const st = lstatSync(path);
    out.push({ path: relative(root, path), mode: st.mode & 0o777, dir: st.isDirectory() });
    if (st.isDirectory()) walk(root, path, out);
  }
  return out;
}

/** Secrets read from the state directory: each private key's body lines and every token-like file. */
export function secretsOf(root: string, entries: readonly Entry[]): Map<string, string> {
  const secrets = new Map<string, string>();
  for (const e of entries) {
    if (e.dir) continue;
    const text = readFileSync(join(root, e.path), 'utf8');
    const key = /-----BEGIN [A-Z ]*PRIVATE KEY-----\n([\s\S]*?)-----END/.exec(text);
    if (key?.[1]) {
      // Any 32 base64 characters of the key's body: a log holding any part of the key is caught.
      const body = key[1].replace(/\s/g, '');
      for (let i = 0; i + 32 <= body.length; i += 32)
        secrets.set(body.slice(i, i + 32), `${e.path} (key bytes)`);
    }
    if (/token|secret/i.test(e.path)) {
      for (const t of text.match(/[A-Za-z0-9_\-.+/=]{20,}/g) ?? []) secrets.set(t, `${e.path} (token)`);
    }
  }
  return secrets;
}

export const filesSecrets: Scenario = {
  name: 'files-secrets',
  group: 'files',
  goal: 'state files 0600 in 0700 directories; no private key or token in any log',
  inShortForm: true,
  async run(ctx) {
    const mesh = await startMesh({ dir: ctx.dir, replicas: 2, logLevel: 'debug' });
    const stateDir = mesh.cp.stateDir;
    let logs: Array<[string, string[]]> = [];
    const before = sampleProcess(mesh.cp.process.pid as number);
    let after = before;
    try {
      const load = new Load(mesh.client.outbound, { authority: AUTHORITY, total: ctx.short ? 200 : 5000 });
      await load.done;
      after = sampleProcess(mesh.cp.process.pid as number);
    } finally {
      logs = [
        ['control plane', [...mesh.cp.stdoutLines, ...mesh.cp.stderrLines]],
        ['client proxy', [...mesh.client.stdoutLines, ...mesh.client.stderrLines]],
        ...mesh.replicas.map((r): [string, string[]] => [
          `${r.name} proxy`,
          [...r.proxy.stdoutLines, ...r.proxy.stderrLines],
        ]),
      ];
      await mesh.cleanup.run();
    }
    // The processes have exited, so their last lines (shutdown at debug level) are in too.
    const root = lstatSync(stateDir).mode & 0o777;
    const entries = [{ path: '.', mode: root, dir: true }, ...walk(stateDir)];
    const loose = entries.filter(
      (e) => (e.dir ? e.mode !== 0o700 : (e.mode & 0o077) !== 0) && !PUBLIC_FILES.has(e.path),
    );
    const secrets = secretsOf(stateDir, entries.slice(1));
    const leaks: string[] = [];
    let lines = 0;
    let debugLines = 0;
    for (const [who, text] of logs) {
      lines += text.length;
      debugLines += text.filter((l) => l.includes('"level":20')).length;
      for (const line of text) {
        if (/PRIVATE KEY/.test(line)) leaks.push(`${who}: a PEM private key marker`);
        for (const [s, what] of secrets) if (line.includes(s)) leaks.push(`${who}: ${what}`);
      }
    }
    const distinctLeaks = [...new Set(leaks)];
    const modes = entries.map((e) => `${e.path}${e.dir ? '/' : ''} ${e.mode.toString(8)}`).join(', ');
    ctx.log(`state: ${modes}`);
    return {
      did: `weft up and 2 replicas and a client at debug level, then a load; walked ${entries.length} state entries, grepped ${lines} log lines (${debugLines} at debug) for ${secrets.size} secret fragments and PEM key markers`,
      outcome: `${loose.length} loose permission(s)${loose.length ? ` (${loose.map((e) => `${e.path} ${e.mode.toString(8)}`).join(', ')})` : ''}; ${distinctLeaks.length} leak(s)${distinctLeaks.length ? ` (${distinctLeaks.join('; ')})` : ''}`,
      before,
      after,
      pass: loose.length === 0 && distinctLeaks.length === 0 && secrets.size > 0 && debugLines > 0,
      figures: {
        stateEntries: entries.length,
        loose: loose.length,
        secretFragments: secrets.size,
        logLines: lines,
        debugLines,
        exceptions: [...PUBLIC_FILES].map(([p, why]) => `${p}: ${why}`).join('; '),
        leaks: distinctLeaks.length,
        modes,
      },
    };
  },
};
