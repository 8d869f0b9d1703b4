/** Checks for generated profiles: the project's own validators, as `weft apply` runs them. */
import assert from 'node:assert/strict';
import { parse } from 'yaml';
import { serviceProfileSpec } from '../../src/catalog/profiles.js';
import { validateDocuments } from '../../src/catalog/validate.js';

export interface ProfileDoc {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string };
  spec: {
    routes: Array<{
      name: string;
      condition: { method: string; pathRegex: string };
      responseClasses?: Array<{ condition: { status: { min: number; max: number } }; isFailure?: boolean }>;
      isRetryable?: boolean;
      timeout?: string;
    }>;
    retryBudget?: { retryRatio: number; minRetriesPerSecond: number; ttl: string };
    dstOverrides?: Array<{ authority: string; weight: string | number }>;
  };
}

/** Parses one profile document and asserts both the spec schema and `weft apply`'s checks accept it. */
export function checkProfile(text: string): ProfileDoc {
  const doc = parse(text, { uniqueKeys: true }) as ProfileDoc;
  const spec = serviceProfileSpec.safeParse(doc.spec);
  assert.ok(spec.success, `spec not valid: ${spec.error?.message}`);
  const [valid] = validateDocuments([{ source: 'generated', value: doc }]);
  assert.equal(valid?.kind, 'ServiceProfile');
  return doc;
}

/** A path regex as the proxy compiles it. */
export function proxyRegex(pathRegex: string): RegExp {
  return new RegExp(`^(?:${pathRegex})$`, 'u');
}
