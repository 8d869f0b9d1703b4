import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { UsageError } from '../errors.js';

// The YAML reader and the injector load only when these commands run: every weft command,
// the proxy included, shares this CLI module.

export const DEFAULT_PROXY_IMAGE = 'ghcr.io/weft-mesh/weft';

const PATHS_HELP =
  'files, directories (their .yaml, .yml and .json files, recursively) or - for stdin (the default)';

interface InjectFlags {
  proxyImage: string;
  proxyVersion?: string;
  nativeSidecar?: boolean;
}

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

function checkImage(image: string): void {
  const last = image.slice(image.lastIndexOf('/') + 1);
  if (image === '' || /\s/.test(image))
    throw new UsageError(`--proxy-image: "${image}" is not an image name`);
  if (last.includes(':') || last.includes('@')) {
    throw new UsageError(
      `--proxy-image: "${image}" has a tag or digest; give the name alone and the tag with --proxy-version`,
    );
  }
}

function checkVersion(version: string): void {
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(version)) {
    throw new UsageError(`--proxy-version: "${version}" is not an image tag`);
  }
}

/** Reads every input, transforms it, and only then writes: a bad input leaves stdout empty. */
async function run(
  paths: string[],
  transform: (text: string, name: string) => { output: string; reports: string[] },
) {
  const { joinStreams, readInputs } = await import('../../inject/io.js');
  const results = readInputs(paths).map((input) => transform(input.text, input.name));
  const output = joinStreams(results.map((r) => r.output));
  await new Promise<void>((resolve, reject) => {
    process.stdout.write(output, (err) => (err ? reject(err) : resolve()));
  });
  const reports = results.flatMap((r) => r.reports);
  if (reports.length > 0) process.stderr.write(`${reports.join('\n')}\n`);
}

export function injectCommand(program: Command): void {
  program
    .command('inject')
    .description('add the Weft proxy to the workloads of Kubernetes YAML and print the result')
    .argument('[paths...]', PATHS_HELP)
    .option('--proxy-image <image>', 'the proxy image, without a tag', DEFAULT_PROXY_IMAGE)
    .option('--proxy-version <tag>', "the proxy image's tag (default: this weft's version)")
    .option(
      '--native-sidecar',
      'run the proxy as a native sidecar: an init container with restartPolicy: Always (Kubernetes 1.29+; the way for Jobs)',
    )
    .addHelpText(
      'after',
      '\nExamples:\n  weft inject deploy.yaml | kubectl apply -f -\n  kubectl get deploy -n emojivoto -o yaml | weft inject - | kubectl apply -f -',
    )
    .action(async (paths: string[], flags: InjectFlags) => {
      checkImage(flags.proxyImage);
      const cliVersion = packageVersion();
      const proxyVersion = flags.proxyVersion ?? cliVersion;
      checkVersion(proxyVersion);
      const { injectText } = await import('../../inject/inject.js');
      const opts = {
        proxyImage: flags.proxyImage,
        proxyVersion,
        cliVersion,
        nativeSidecar: flags.nativeSidecar ?? false,
      };
      await run(paths, (text, name) => injectText(text, name, opts));
    });
}

export function uninjectCommand(program: Command): void {
  program
    .command('uninject')
    .description('remove what weft inject added from Kubernetes YAML and print the result')
    .argument('[paths...]', PATHS_HELP)
    .addHelpText(
      'after',
      '\nExample:\n  kubectl get deploy -n emojivoto -o yaml | weft uninject - | kubectl apply -f -',
    )
    .action(async (paths: string[]) => {
      const { uninjectText } = await import('../../inject/uninject.js');
      await run(paths, uninjectText);
    });
}
