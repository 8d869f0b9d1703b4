import type { Command } from 'commander';
import { dns1123LabelError, dns1123SubdomainError } from '../../catalog/names.js';
import { UsageError } from '../errors.js';

// The generators load only when this command runs (protobufjs is not small).

interface ProfileFlags {
  template?: boolean;
  openApi?: string;
  proto?: string;
  namespace: string;
  clusterDomain: string;
}

function check(what: string, value: string, problem: string | undefined): void {
  if (problem) throw new UsageError(`${what}: "${value}" ${problem}`);
}

/**
 * A profile's Service name (the argument `what` names), --namespace and --cluster-domain,
 * and the profile's name they make, `<name>.<namespace>.svc.<domain>` (at most 253
 * characters); a usage error (exit 2) names the one that is wrong. `weft profile` and
 * `weft viz profile` both check their arguments with it.
 */
export function checkProfileTarget(
  what: string,
  t: { name: string; namespace: string; clusterDomain: string },
): void {
  check(what, t.name, dns1123LabelError(t.name));
  check('--namespace', t.namespace, dns1123LabelError(t.namespace));
  check('--cluster-domain', t.clusterDomain, dns1123SubdomainError(t.clusterDomain));
  const fqdn = `${t.name}.${t.namespace}.svc.${t.clusterDomain}`;
  check('the profile name', fqdn, dns1123SubdomainError(fqdn));
}

/** The profile's YAML, from whichever one source the flags name. */
async function generate(name: string, flags: ProfileFlags): Promise<string> {
  const target = { name, namespace: flags.namespace, clusterDomain: flags.clusterDomain };
  if (flags.template) {
    const { renderTemplate } = await import('../../profiles/template.js');
    return renderTemplate(target);
  }
  const [{ readSpecSource }, { renderProfile }] = await Promise.all([
    import('../../profiles/input.js'),
    import('../../profiles/document.js'),
  ]);
  if (flags.openApi !== undefined) {
    const { openApiRoutes } = await import('../../profiles/openapi.js');
    const source = readSpecSource(flags.openApi);
    return renderProfile(target, openApiRoutes(source.text, source.name), source.name);
  }
  const { protoRoutes } = await import('../../profiles/proto.js');
  const source = readSpecSource(flags.proto as string);
  return renderProfile(target, protoRoutes(source.text, source.name), source.name);
}

export function profileCommand(program: Command): void {
  program
    .command('profile')
    .description(
      'print a ServiceProfile for a Service: a commented template, or routes from an OpenAPI or .proto file',
    )
    .argument('<name>', 'the Service the profile is for')
    .option('--template', 'a commented starting point to edit')
    .option(
      '--open-api <file>',
      'one route per operation of this OpenAPI 3 or Swagger 2 file (YAML or JSON; - for stdin)',
    )
    .option('--proto <file>', 'one route per rpc of the services in this .proto file (- for stdin)')
    .option('-n, --namespace <ns>', "the Service's namespace", 'default')
    .option('--cluster-domain <domain>', "the cluster's DNS domain", 'cluster.local')
    .addHelpText(
      'after',
      '\nExamples:\n  weft profile --template web-svc -n emojivoto\n  weft profile --open-api web.swagger web-svc -n emojivoto | weft apply -f -\n  weft profile --proto Voting.proto voting-svc -n emojivoto',
    )
    .action(async (name: string, flags: ProfileFlags) => {
      const given = Object.entries({
        '--template': flags.template === true,
        '--open-api': flags.openApi !== undefined,
        '--proto': flags.proto !== undefined,
      }).flatMap(([flag, set]) => (set ? [flag] : []));
      if (given.length !== 1) {
        throw new UsageError(
          given.length === 0
            ? 'profile: give one of --template, --open-api <file> or --proto <file>'
            : `profile: give only one of ${given.join(', ')}`,
        );
      }
      checkProfileTarget('name', { name, namespace: flags.namespace, clusterDomain: flags.clusterDomain });
      const yaml = await generate(name, flags);
      await new Promise<void>((resolve, reject) => {
        process.stdout.write(yaml, (err) => (err ? reject(err) : resolve()));
      });
    });
}
