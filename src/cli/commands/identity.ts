import { resolve } from 'node:path';
import { type Command, Option } from 'commander';
import type { Workload } from '../../catalog/catalog.js';
import { dnsNames } from '../../identity/x509.js';
import { formatHostPort } from '../../util/addr.js';
import { address, CommandError, call, controlPlaneOption } from './resources.js';

const TLS_TIMEOUT_MS = 5000;
/** The proxy's default inbound port: where a pod that registered no port is reached. */
const DEFAULT_INBOUND_PORT = 4143;

interface IdentityFlags {
  namespace: string;
  controlPlane: string;
  stateDir: string;
  identityTrustDomain: string;
  output: string;
}

/** One pod's answer, as `-o json` prints it. */
interface PodReport {
  namespace: string;
  pod: string;
  workload: string;
  address: string;
  ready: boolean;
  /** The identity the pod should have. */
  identity: string;
  /** Present when the pod answered TLS. */
  certificate?: {
    /** The leaf's DNS names (exactly `identity` when all is well). */
    dnsNames: string[];
    issuer: string;
    notBefore: string;
    notAfter: string;
    serial: string;
    /** The leaf, then the intermediates, PEM. */
    chain: string[];
  };
  /** Whether the chain verified against the trust anchors. */
  verified: boolean;
  /** "verified against the trust anchors", or why not. */
  verification?: string;
  /** What went wrong with this pod (unreachable, wrong identity, chain not verified). */
  error?: string;
}

export function identityCommand(program: Command): void {
  program
    .command('identity')
    .description("show each pod of a workload: its proxy's certificate chain, identity and expiry")
    .argument('<workload>', 'the workload (the proxies registered with --workload)')
    .option('-n, --namespace <ns>', 'the namespace', 'default')
    .option(
      '--state-dir <dir>',
      "weft up's state directory (its trust anchors and owner credential)",
      '.weft',
    )
    .option(
      '--identity-trust-domain <domain>',
      'the trust domain, when the control plane does not give identity names',
      'cluster.local',
    )
    .addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text'))
    .addOption(controlPlaneOption())
    .action(async (workload: string, flags: IdentityFlags) => {
      const addr = address(flags.controlPlane);
      const [certs, { identityName, CONTROL_PLANE_NAMESPACE }, { identityStatePaths }, { parseHostPort }] =
        await Promise.all([
          import('../certs.js'),
          import('../../identity/names.js'),
          import('../../identity/state-paths.js'),
          import('../../util/addr.js'),
        ]);
      const res = await call<{ objects: string[] }>({ addr, stateDir: flags.stateDir }, 'list', {
        kind: 'workloads',
        namespace: flags.namespace,
        allNamespaces: false,
        name: '',
      });
      const pods = res.objects
        .map((o) => JSON.parse(o) as Workload & { identity?: string })
        .filter((w) => w.workload === workload)
        .sort((a, b) => a.pod.localeCompare(b.pod));
      if (pods.length === 0) {
        throw new CommandError(`workload "${workload}" not found in namespace ${flags.namespace}`);
      }
      const anchorsFile = identityStatePaths(resolve(flags.stateDir)).trustAnchors;
      let anchorsPem: string | undefined;
      let anchorsProblem: string | undefined;
      try {
        anchorsPem = certs.readCertificates(anchorsFile).map(certs.certPem).join('');
      } catch (err) {
        anchorsProblem = (err as Error).message;
      }
      const domain = {
        trustDomain: flags.identityTrustDomain,
        controlPlaneNamespace: CONTROL_PLANE_NAMESPACE,
      };

      const report = async (w: Workload & { identity?: string }): Promise<PodReport> => {
        const port = w.port === 0 ? DEFAULT_INBOUND_PORT : w.port;
        const target = parseHostPort(
          `${w.address.includes(':') ? `[${w.address}]` : w.address}:${port}`,
          'address',
        );
        const base: PodReport = {
          namespace: w.namespace,
          pod: w.pod,
          workload: w.workload,
          address: formatHostPort(target),
          ready: w.ready !== false,
          identity: w.identity ?? identityName(w.serviceAccount, w.namespace, domain),
          verified: false,
        };
        if (!base.ready) return base;
        let probe: Awaited<ReturnType<typeof certs.probeTls>>;
        try {
          probe = await certs.probeTls(target, {
            servername: base.identity,
            ...(anchorsPem ? { ca: anchorsPem } : {}),
            timeoutMs: TLS_TIMEOUT_MS,
          });
        } catch (err) {
          return { ...base, error: `cannot reach its proxy at ${base.address}: ${(err as Error).message}` };
        }
        const leaf = probe.chain[0];
        if (!leaf) return { ...base, error: 'its proxy sent no certificate' };
        const names = dnsNames(leaf.subjectAltName);
        const problems: string[] = [];
        if (names.length !== 1 || names[0] !== base.identity) {
          problems.push(
            `its certificate names ${names.length > 0 ? names.join(', ') : 'no DNS name'}, not ${base.identity}`,
          );
        }
        const verification = anchorsPem
          ? probe.verified
            ? 'verified against the trust anchors'
            : `not verified against the trust anchors: ${probe.verifyError}`
          : `not verified: ${anchorsProblem}`;
        if (anchorsPem && !probe.verified) problems.push(verification);
        return {
          ...base,
          certificate: {
            dnsNames: names,
            issuer: certs.dn(leaf.issuer),
            notBefore: certs.notBefore(leaf).toISOString(),
            notAfter: certs.notAfter(leaf).toISOString(),
            serial: leaf.serialNumber,
            chain: probe.chain.map(certs.certPem),
          },
          verified: probe.verified,
          verification,
          ...(problems.length > 0 ? { error: problems.join('; ') } : {}),
        };
      };
      const reports = await Promise.all(pods.map(report));

      if (flags.output === 'json') {
        process.stdout.write(`${JSON.stringify(reports, null, 2)}\n`);
      } else {
        const out: string[] = [];
        reports.forEach((r, i) => {
          if (i > 0) out.push('');
          out.push(
            `POD ${r.pod} (${i + 1} of ${reports.length}, namespace ${r.namespace}, workload ${r.workload}, ${r.address})`,
            '',
          );
          if (!r.ready) {
            out.push('not ready: its proxy has no certificate yet');
            return;
          }
          const c = r.certificate;
          if (!c) {
            out.push(`error: ${r.error}`);
            return;
          }
          const expiry = new Date(c.notAfter);
          out.push(
            `Identity:    ${c.dnsNames.join(', ') || '<none>'}`,
            `Trust:       ${r.verification}`,
            `Issuer:      ${c.issuer}`,
            `Not before:  ${c.notBefore}`,
            `Expires:     ${c.notAfter} (${certs.fromNow(expiry)})`,
            `Serial:      ${c.serial}`,
          );
          if (r.error) out.push(`error: ${r.error}`);
          out.push('', ...c.chain.map((p) => p.trimEnd()));
        });
        process.stdout.write(`${out.join('\n')}\n`);
      }
      const failed = reports.filter((r) => r.error !== undefined);
      if (failed.length > 0) {
        throw new CommandError(
          `${failed.length} of ${reports.length} pods failed: ${failed.map((r) => r.pod).join(', ')}`,
        );
      }
    });
}
