import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { checkCommand } from './commands/check.js';
import { demoCommand } from './commands/demo.js';
import { identityCommand } from './commands/identity.js';
import { initCommand } from './commands/init.js';
import { injectCommand, uninjectCommand } from './commands/inject.js';
import { logsCommand, runCommand } from './commands/pods.js';
import { profileCommand } from './commands/profile.js';
import { proxyCommand } from './commands/proxy.js';
import { applyCommand, deleteCommand, getCommand } from './commands/resources.js';
import { upCommand } from './commands/up.js';
import { vizCommand } from './commands/viz.js';
import { UsageError } from './errors.js';

const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

export function buildProgram(): Command {
  const program = new Command('weft')
    .description('Weft: a light, secure-by-default service mesh')
    .version(pkg.version, '-V, --version', 'print the version')
    .showHelpAfterError()
    .exitOverride();
  program
    .command('version')
    .description('print the version of the weft CLI')
    .action(() => {
      process.stdout.write(`weft ${pkg.version} (node ${process.version})\n`);
    });
  proxyCommand(program);
  initCommand(program);
  upCommand(program);
  applyCommand(program);
  deleteCommand(program);
  getCommand(program);
  runCommand(program);
  logsCommand(program);
  injectCommand(program);
  uninjectCommand(program);
  profileCommand(program);
  identityCommand(program);
  checkCommand(program);
  demoCommand(program);
  vizCommand(program);
  return program;
}

async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    if (err instanceof UsageError) {
      process.stderr.write(`weft: ${err.message}\n`);
      return 2;
    }
    process.stderr.write(`weft: ${(err as Error).message ?? String(err)}\n`);
    return 1;
  }
}

// Exit explicitly: runtime metrics keep timers alive after a command has finished.
main(process.argv).then((code) => process.exit(code));
