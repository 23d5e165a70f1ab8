import type { Command } from 'commander';
import { stringify } from 'yaml';
import { publicUrl, resolveDataDir } from '../../config/load.js';
import { redactConfig } from '../../config/redact.js';
import { addConfigFlags, configFromCommand } from '../options.js';

/** `mycel config`: the effective configuration (all layers merged), secrets redacted. */
export function registerConfigCommand(program: Command): void {
  const command = program
    .command('config')
    .description('print the effective configuration (defaults < YAML file < MYCEL_* env < flags), secrets redacted')
    .option('--json', 'print JSON instead of YAML');
  addConfigFlags(command);
  command.addHelpText('after', '\nThe YAML output is a valid config file; secrets are shown as [redacted], which is refused as a value:\nput the real ones back (or set their MYCEL_* variables) before using it. See docs/config.md for every key.');
  command.action((options: { json?: boolean }, cmd: Command) => {
    const config = configFromCommand(cmd);
    const shown = redactConfig(config);
    if (options.json) {
      process.stdout.write(`${JSON.stringify(shown, null, 2)}\n`);
      return;
    }
    const header = [
      '# mycel effective configuration; secrets are [redacted]',
      `# public URL: ${publicUrl(config)}`,
      `# data dir: ${resolveDataDir(config)}`,
    ];
    process.stdout.write(`${header.join('\n')}\n${stringify(shown)}`);
  });
}
