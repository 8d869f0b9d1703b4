// Hostile manifests against a real `weft up`: 10 MB of YAML, a billion-laughs YAML, a
// deeply nested document, and names that break Kubernetes' rules. Each must be refused
// with a clear error, nothing half-written (the state directory byte for byte as it was),
// and the control plane up and answering.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { callAs, ownerArgs, serviceYaml, weft } from '../../test/helpers/controlplane.js';
import type { Scenario, ScenarioResult } from '../scenario.js';
import { answers, outcomeOf, type Plane, stateDigest, withPlane } from './control-plane-shared.js';

interface Attempt {
  readonly name: string;
  /** The error must match this (a clear one, naming what is wrong). */
  readonly want: RegExp;
  run(): Promise<{ refused: boolean; message: string }>;
}

/** `weft apply -f <file>` as the owner: refused when it exits non-zero, with its stderr. */
function applyFile(
  p: Plane,
  dir: string,
  name: string,
  text: string,
): () => Promise<{ refused: boolean; message: string }> {
  return async () => {
    const file = join(dir, `${name}.yaml`);
    writeFileSync(file, text);
    const r = await weft(['apply', '-f', file, ...ownerArgs(p.cp)], { timeoutMs: 60_000 });
    return { refused: r.code !== 0, message: r.stderr.trim() };
  };
}

/** Resources.Apply over gRPC, past the CLI's own checks. */
function applyRaw(p: Plane, json: string): () => Promise<{ refused: boolean; message: string }> {
  return async () => {
    const o = await outcomeOf(
      callAs(
        p.cp,
        'resources',
        'apply',
        { documents: [{ source: 'raw.json', json }], dryRun: false },
        p.owner,
        30_000,
      ),
    );
    return { refused: o.code !== 'OK', message: `${o.code}: ${o.details}` };
  };
}

/** Runs each attempt, checking after each that nothing was written and weft up still answers. */
async function judge(p: Plane, attempts: Attempt[]) {
  const digest = stateDigest(p);
  const lines: string[] = [];
  let pass = true;
  let maxMs = 0;
  const messages: Record<string, string> = {};
  for (const a of attempts) {
    const t0 = Date.now();
    const r = await a.run();
    maxMs = Math.max(maxMs, Date.now() - t0);
    const clear = r.refused && a.want.test(r.message);
    const untouched = stateDigest(p) === digest;
    const up = await answers(p);
    pass &&= clear && untouched && up;
    messages[a.name] = r.message.slice(0, 300);
    lines.push(
      `${a.name}: ${r.refused ? 'refused' : 'ACCEPTED'}${clear ? '' : ` (unclear: ${r.message.slice(0, 200)})`}${untouched ? '' : ', STATE CHANGED'}${up ? '' : ', DOWN'}`,
    );
  }
  return { pass, lines, maxMs, messages };
}

export const hugeAndExplodingYaml: Scenario = {
  name: 'control-plane-yaml-bombs',
  group: 'control-plane',
  goal: '10 MB YAML, a billion-laughs YAML and a deeply nested document are refused clearly, state unchanged, weft up answers',
  inShortForm: true,
  run: (ctx) =>
    withPlane(ctx, async (p): Promise<ScenarioResult> => {
      const before = p.sample();
      // 10 MB: one Service whose annotation is 10 MB of text.
      const big = `${serviceYaml('big').replace('metadata:\n', `metadata:\n  annotations:\n    blob: "${'x'.repeat(10 * 1024 * 1024)}"\n`)}`;
      // Billion laughs: 9 levels of 9 aliases each, 9^9 strings if expanded.
      const laughs = ['apiVersion: v1', 'kind: Service', 'metadata:', '  name: lol', '  annotations:'];
      laughs.push('    l0: &l0 "lol"');
      for (let i = 1; i <= 9; i++)
        laughs.push(
          `    l${i}: &l${i} [${Array(9)
            .fill(`*l${i - 1}`)
            .join(', ')}]`,
        );
      laughs.push('spec:', '  ports: [{ port: 80 }]', '');
      const depth = 100_000;
      const nested = `{"apiVersion":"v1","kind":"Service","metadata":{"name":"deep","annotations":{"a":${'['.repeat(depth)}${']'.repeat(depth)}}},"spec":{"ports":[{"port":80}]}}`;
      const attempts: Attempt[] = [
        {
          name: '10 MB YAML via weft apply',
          want: /larger than the control plane takes in one call \(8 MiB\): split the manifests/,
          run: applyFile(p, ctx.dir, 'big', big),
        },
        {
          name: '10 MB document via gRPC',
          want: /^RESOURCE_EXHAUSTED: Received message larger than max/,
          run: applyRaw(
            p,
            JSON.stringify({
              apiVersion: 'v1',
              kind: 'Service',
              metadata: { name: 'big', annotations: { blob: 'x'.repeat(10 << 20) } },
              spec: { ports: [{ port: 80 }] },
            }),
          ),
        },
        {
          name: 'billion laughs via weft apply',
          want: /laughs\.yaml: more than 100 aliases \(a YAML bomb\?\)/,
          run: applyFile(p, ctx.dir, 'laughs', laughs.join('\n')),
        },
        {
          name: `${depth}-deep nesting via gRPC`,
          want: /^INVALID_ARGUMENT: raw\.json \(Service deep\): metadata\.annotations\.a: /,
          run: applyRaw(p, nested),
        },
      ];
      const j = await judge(p, attempts);
      return {
        did: `${attempts.length} hostile manifests: 10 MB by CLI and by gRPC, billion laughs (9^9), ${depth}-deep nesting`,
        outcome: `${j.lines.join('; ')}; slowest refusal ${j.maxMs} ms`,
        before,
        after: p.sample(),
        pass: j.pass,
        figures: { attempts: attempts.length, slowestRefusalMs: j.maxMs, ...j.messages },
      };
    }),
};

export const badNames: Scenario = {
  name: 'control-plane-bad-names',
  group: 'control-plane',
  goal: 'names that break Kubernetes rules are refused naming the field, a batch with one is refused whole, state unchanged',
  inShortForm: true,
  run: (ctx) =>
    withPlane(ctx, async (p): Promise<ScenarioResult> => {
      const before = p.sample();
      const svc = (name: string, extra = ''): string =>
        `apiVersion: v1\nkind: Service\nmetadata:\n  name: ${JSON.stringify(name)}\n${extra}spec:\n  ports: [{ port: 80 }]\n`;
      const cases: Array<[string, string, RegExp]> = [
        ['uppercase', svc('Web'), /Service Web\): metadata\.name: must consist/],
        ['64 characters', svc('a'.repeat(64)), /metadata\.name.*(63|at most)/],
        ['dot in a Service name', svc('web.evil'), /metadata\.name/],
        ['path traversal', svc('../../etc/passwd'), /metadata\.name/],
        ['empty', svc(''), /metadata\.name/],
        ['unicode', svc('wéb'), /metadata\.name/],
        ['NUL', svc('web\u0000x'), /metadata\.name|control|NUL|invalid/i],
        ['bad namespace', svc('web', '  namespace: "Prod_1"\n'), /metadata\.namespace/],
        ['bad label key', svc('web', '  labels: { "-bad/key": "v" }\n'), /label/],
        ['bad label value', svc('web', `  labels: { app: "${'v'.repeat(64)}" }\n`), /label/],
        [
          'bad port name',
          svc('web').replace('ports: [{ port: 80 }]', 'ports: [{ port: 80, name: "HTTP_1" }]'),
          /name/,
        ],
        [
          'a good Service, then a bad one',
          `${svc('fine')}---\n${svc('Bad')}`,
          /document 2 \(Service Bad\): metadata\.name/,
        ],
      ];
      const attempts: Attempt[] = cases.map(([name, text, want], i) => ({
        name,
        want,
        run: applyFile(p, ctx.dir, `names-${i}`, text),
      }));
      const j = await judge(p, attempts);
      const services = await callAs<{ objects: string[] }>(
        p.cp,
        'resources',
        'list',
        { kind: 'services', allNamespaces: true },
        p.owner,
      );
      return {
        did: `${attempts.length} applies of Services with names, namespaces, labels and port names that break Kubernetes' rules`,
        outcome: `${j.lines.filter((l) => !/: refused$/.test(l)).join('; ') || `all ${attempts.length} refused clearly, state unchanged, weft up answers`}; ${services.objects.length} Services stored`,
        before,
        after: p.sample(),
        pass: j.pass && services.objects.length === 0,
        figures: { attempts: attempts.length, servicesStored: services.objects.length },
      };
    }),
};
