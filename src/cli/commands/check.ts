import type { X509Certificate } from 'node:crypto';
import { resolve } from 'node:path';
import { type Command, Option } from 'commander';
import { dnsNames } from '../../identity/x509.js';
import type { HostPort } from '../../util/addr.js';
import { address, CommandError, call } from './resources.js';
import { DEFAULT_CONTROL_PLANE_ADDR } from './up.js';

const TIMEOUT_MS = 5000;
const DAY = 86_400_000;
/** Certificates expiring sooner than this are a warning, as in `linkerd check`. */
const EXPIRY_WARNING_MS = 60 * DAY;

type Status = 'ok' | 'warn' | 'fail';

interface CheckResult {
  readonly description: string;
  readonly status: Status;
  /** One line under a warning or failure: what is wrong and what to do. */
  readonly hint?: string;
}

const MARK: Record<Status, string> = { ok: '√', warn: '‼', fail: '×' };

const ok = (description: string): CheckResult => ({ description, status: 'ok' });
const warn = (description: string, hint: string): CheckResult => ({ description, status: 'warn', hint });
const fail = (description: string, hint: string): CheckResult => ({ description, status: 'fail', hint });

interface CheckFlags {
  stateDir: string;
  controlPlane?: string;
}

export function checkCommand(program: Command): void {
  program
    .command('check')
    .description('check that the control plane answers and that its identity credentials are sound')
    .option('--state-dir <dir>', "weft up's state directory", '.weft')
    .addOption(
      new Option(
        '--control-plane <host:port>',
        `the control plane (default: the one holding --state-dir, else ${DEFAULT_CONTROL_PLANE_ADDR})`,
      ).env('WEFT_CONTROL_PLANE_ADDR'),
    )
    .action(async (flags: CheckFlags) => {
      const stateDir = resolve(flags.stateDir);
      const [certs, { readStateDirLock }, { identityStatePaths }, names, { formatHostPort, parseHostPort }] =
        await Promise.all([
          import('../certs.js'),
          import('../../catalog/local/lock.js'),
          import('../../identity/state-paths.js'),
          import('../../identity/names.js'),
          import('../../util/addr.js'),
        ]);
      const lock = readStateDirLock(stateDir);
      const running = lock?.alive ? lock : undefined;
      const cpAddr = address(flags.controlPlane ?? running?.address ?? DEFAULT_CONTROL_PLANE_ADDR);
      const paths = identityStatePaths(stateDir);
      const date = (d: Date): string => d.toISOString();
      const name = (c: X509Certificate): string => `"${certs.dn(c.subject)}"`;

      const controlPlane = async (): Promise<CheckResult[]> => {
        const what = `the control plane answers at ${formatHostPort(cpAddr)}`;
        try {
          await call(
            { addr: cpAddr, stateDir },
            'list',
            { kind: 'services', namespace: 'default' },
            TIMEOUT_MS,
          );
          return [ok(what)];
        } catch (err) {
          return [fail(what, (err as Error).message)];
        }
      };

      const identity = async (): Promise<CheckResult[]> => {
        const out: CheckResult[] = [];
        // Trust anchors: without them nothing else can be checked.
        let anchors: X509Certificate[];
        try {
          anchors = certs.readCertificates(paths.trustAnchors);
          out.push(ok('the trust anchors file holds PEM certificates'));
        } catch (err) {
          out.push(
            fail(
              'the trust anchors file holds PEM certificates',
              `${(err as Error).message} (has \`weft up --state-dir ${flags.stateDir}\` run?)`,
            ),
          );
          return out;
        }
        const now = Date.now();
        const anchorProblems = anchors
          .map((a) => [a, certs.caProblem(a, now)] as const)
          .filter((p): p is readonly [X509Certificate, string] => p[1] !== undefined);
        out.push(
          anchorProblems.length === 0
            ? ok('the trust anchors are CAs within their validity period')
            : fail(
                'the trust anchors are CAs within their validity period',
                `${anchorProblems.map(([a, p]) => `trust anchor ${name(a)} ${p}`).join('; ')}: replace it (a new anchor means new issuer and proxy certificates)`,
              ),
        );
        const expiring = (cs: X509Certificate[]): X509Certificate[] =>
          cs.filter((c) => {
            const left = certs.notAfter(c).getTime() - now;
            return left >= 0 && left < EXPIRY_WARNING_MS;
          });
        const soonAnchors = expiring(anchors);
        out.push(
          soonAnchors.length === 0
            ? ok('the trust anchors are valid for at least 60 days')
            : warn(
                'the trust anchors are valid for at least 60 days',
                `${soonAnchors.map((a) => `trust anchor ${name(a)} expires on ${date(certs.notAfter(a))}`).join('; ')}: add its successor to the bundle before then`,
              ),
        );

        // The issuer (with any intermediates above it).
        let issuerChain: X509Certificate[] | undefined;
        try {
          issuerChain = certs.readCertificates(paths.issuerCertificate);
          out.push(ok('the issuer certificate file holds PEM certificates'));
        } catch (err) {
          out.push(fail('the issuer certificate file holds PEM certificates', (err as Error).message));
        }
        const issuer = issuerChain?.[0];
        if (issuerChain && issuer) {
          const problem = certs.caProblem(issuer, now);
          out.push(
            problem === undefined
              ? ok('the issuer certificate is a CA within its validity period')
              : fail(
                  'the issuer certificate is a CA within its validity period',
                  `issuer ${name(issuer)} ${problem}: restart weft up with a new issuer (--identity-issuer-certificate-file and key)`,
                ),
          );
          out.push(
            certs.anchorOf(issuerChain, anchors)
              ? ok('the issuer certificate is signed by a trust anchor')
              : fail(
                  'the issuer certificate is signed by a trust anchor',
                  `issuer ${name(issuer)} in ${paths.issuerCertificate} is not signed by any trust anchor in ${paths.trustAnchors}: proxies would refuse its certificates`,
                ),
          );
          out.push(
            expiring([issuer]).length === 0
              ? ok('the issuer certificate is valid for at least 60 days')
              : warn(
                  'the issuer certificate is valid for at least 60 days',
                  `issuer ${name(issuer)} expires on ${date(certs.notAfter(issuer))} (${certs.fromNow(certs.notAfter(issuer), now)}): no proxy certificate outlives it; rotate it before then`,
                ),
          );
        }

        // The Identity API, where weft up says it is.
        const api = 'the Identity API answers TLS with a certificate that chains to the trust anchors';
        if (!running) {
          out.push(
            fail(api, `no weft up is running with state dir ${stateDir}, so its Identity API is unknown`),
          );
          return out;
        }
        if (!running.identityAddress) {
          out.push(
            warn(
              api,
              'the state dir lock does not record the Identity API address (restart weft up to record it)',
            ),
          );
          return out;
        }
        const serverName = names.identityServiceName({
          trustDomain: running.trustDomain ?? names.DEFAULT_TRUST_DOMAIN,
          controlPlaneNamespace: names.CONTROL_PLANE_NAMESPACE,
        });
        let target: HostPort;
        try {
          target = parseHostPort(running.identityAddress, 'identity address');
        } catch (err) {
          out.push(fail(api, (err as Error).message));
          return out;
        }
        try {
          const probe = await certs.probeTls(target, {
            servername: serverName,
            ca: anchors.map(certs.certPem).join(''),
            timeoutMs: TIMEOUT_MS,
          });
          const leaf = probe.chain[0] as X509Certificate;
          const dns = dnsNames(leaf.subjectAltName);
          if (!probe.verified) {
            out.push(
              fail(
                api,
                `the certificate at ${running.identityAddress} does not verify against ${paths.trustAnchors}: ${probe.verifyError}`,
              ),
            );
          } else if (dns.length !== 1 || dns[0] !== serverName) {
            out.push(
              fail(
                api,
                `the certificate at ${running.identityAddress} names ${dns.join(', ') || 'nothing'}, not ${serverName}`,
              ),
            );
          } else {
            out.push(ok(api));
          }
        } catch (err) {
          out.push(fail(api, `${running.identityAddress}: ${(err as Error).message}`));
        }
        return out;
      };

      const groups: Array<[string, CheckResult[]]> = [
        ['weft-control-plane', await controlPlane()],
        ['weft-identity', await identity()],
      ];
      const lines: string[] = [];
      for (const [title, results] of groups) {
        lines.push(title, '-'.repeat(title.length));
        for (const r of results) {
          lines.push(`${MARK[r.status]} ${r.description}`);
          if (r.hint) lines.push(`    ${r.hint}`);
        }
        lines.push('');
      }
      const all = groups.flatMap(([, rs]) => rs);
      const failed = all.filter((r) => r.status === 'fail').length;
      lines.push(`Status check results are ${failed > 0 ? MARK.fail : MARK.ok}`);
      process.stdout.write(`${lines.join('\n')}\n`);
      if (failed > 0) throw new CommandError(`${failed} check${failed === 1 ? '' : 's'} failed`);
    });
}
