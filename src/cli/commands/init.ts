import type { Command } from 'commander';
import { UsageError } from '../errors.js';

interface InitFlags {
  incomingProxyPort: string;
  outgoingProxyPort: string;
  proxyUid: string;
  proxyGid?: string;
  portsToRedirect: string;
  inboundPortsToIgnore: string;
  outboundPortsToIgnore: string;
  subnetsToIgnore: string;
  iptablesMode: string;
  netns?: string;
  simulate?: boolean;
  remove?: boolean;
}

export function initCommand(program: Command): void {
  program
    .command('init')
    .description("proxy-init: the NAT rules that send a pod's TCP through its proxy (root, or NET_ADMIN)")
    .option('--incoming-proxy-port <port>', "the proxy's inbound port", '4143')
    .option('--outgoing-proxy-port <port>', "the proxy's outbound port", '4140')
    .option('--proxy-uid <uid>', "the proxy's user: its own connections are not redirected", '2102')
    .option('--proxy-gid <gid>', "the proxy's group: its connections are not redirected either")
    .option('--ports-to-redirect <ports>', 'inbound ports to send to the proxy (default: all)', '')
    .option('--inbound-ports-to-ignore <ports>', 'inbound ports that bypass the proxy', '4190,4191,4567,4568')
    .option('--outbound-ports-to-ignore <ports>', 'outbound ports that bypass the proxy', '4567,4568')
    .option('--subnets-to-ignore <cidrs>', 'sources whose inbound connections bypass the proxy', '')
    .option('--iptables-mode <mode>', 'legacy or nft', 'legacy')
    .option('--netns <path>', 'the network namespace to change (e.g. /run/netns/NAME)')
    .option('--simulate', 'print the iptables commands and change nothing')
    .option('--remove', 'take the rules away')
    .action(async (flags: InitFlags) => {
      // Loaded here: the proxy shares this CLI and should not carry proxy-init's modules.
      const cfg = await import('../../proxy-init/config.js');
      const { buildRules, renderCommands } = await import('../../proxy-init/rules.js');
      const ipt = await import('../../proxy-init/iptables.js');
      let config: import('../../proxy-init/config.js').InitConfig;
      try {
        config = {
          incomingProxyPort: cfg.parsePort(flags.incomingProxyPort, '--incoming-proxy-port'),
          outgoingProxyPort: cfg.parsePort(flags.outgoingProxyPort, '--outgoing-proxy-port'),
          proxyUid: cfg.parseId(flags.proxyUid, '--proxy-uid'),
          proxyGid: flags.proxyGid === undefined ? undefined : cfg.parseId(flags.proxyGid, '--proxy-gid'),
          portsToRedirect: cfg.parsePortList(flags.portsToRedirect, '--ports-to-redirect'),
          inboundPortsToIgnore: cfg.parsePortList(flags.inboundPortsToIgnore, '--inbound-ports-to-ignore'),
          outboundPortsToIgnore: cfg.parsePortList(flags.outboundPortsToIgnore, '--outbound-ports-to-ignore'),
          subnetsToIgnore: cfg.parseSubnetList(flags.subnetsToIgnore, '--subnets-to-ignore'),
          mode: cfg.parseMode(flags.iptablesMode),
          netns: flags.netns,
        };
        if (flags.simulate && flags.remove)
          throw new cfg.InitConfigError('--simulate and --remove: choose one');
      } catch (err) {
        if (err instanceof cfg.InitConfigError) throw new UsageError(err.message);
        throw err;
      }
      const where = config.netns === undefined ? '' : ` in ${config.netns}`;
      if (flags.simulate) {
        process.stdout.write(`${renderCommands(config, `iptables-${config.mode}`).join('\n')}\n`);
        process.stderr.write(`weft init: --simulate: nothing was changed${where}\n`);
        return;
      }
      let table: import('../../proxy-init/iptables.js').Iptables;
      try {
        table = ipt.iptables(config.mode, config.netns);
      } catch (err) {
        if (err instanceof ipt.IptablesError) throw new UsageError(err.message);
        throw err;
      }
      const before = await table.save();
      const state = ipt.parseNat(before);
      const input = flags.remove ? ipt.removeInput(state) : ipt.applyInput(state, buildRules(config));
      if (input !== undefined) await table.restore(input);
      const after = input === undefined ? before : await table.save();
      const changed = ipt.changed(before, after);
      if (flags.remove) {
        process.stderr.write(
          changed
            ? `weft init: proxy-init rules removed${where}\n`
            : `weft init: no proxy-init rules to remove${where}\n`,
        );
        return;
      }
      process.stdout.write(`${ipt.parseNat(after).ours.join('\n')}\n`);
      process.stderr.write(
        changed
          ? `weft init: ${table.bin} nat rules in place${where}: inbound TCP to ${config.incomingProxyPort}, outbound TCP to ${config.outgoingProxyPort}, except the proxy's own (uid ${config.proxyUid})\n`
          : `weft init: the rules were already in place${where}; nothing changed\n`,
      );
    });
}
